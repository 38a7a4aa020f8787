"""The Celery side is derived from the step registry: one task per step, routed to its queue, as deployed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from interlock.config import load_project
from interlock.scaffold import init_project
from interlock.steps.registry import STEPS
from workers.config import celery_config

ROOT = Path(__file__).resolve().parent.parent.parent


def test_celery_dash_a_workers_app_registers_interlock_dot_step_for_every_step(tmp_path: Path) -> None:
    init_project(tmp_path / "etl")
    code = textwrap.dedent("""
        from celery.app.utils import find_app

        app = find_app("workers.app")  # what `celery -A workers.app worker` does, then it imports `include`
        app.loader.import_default_modules()
        print(",".join(sorted(name for name in app.tasks if name.startswith("interlock."))))
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "INTERLOCK_CONFIG": str(tmp_path / "etl" / "interlock.yaml")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(",") == sorted(f"interlock.{name}" for name in STEPS)


def test_routes_and_beat_entries_follow_the_registry(tmp_path: Path) -> None:
    init_project(tmp_path / "etl")
    config = tmp_path / "etl" / "interlock.yaml"
    config.write_text(config.read_text() + "archiver: {enabled: true, dsn: 'postgresql://x@127.0.0.1/x'}\n")
    settings = celery_config(load_project(config, env={}))
    assert settings["task_routes"] == {f"interlock.{name}": {"queue": step.queue} for name, step in STEPS.items()}
    beat = settings["beat_schedule"]
    assert {name: (entry["task"], entry["options"]["queue"], entry["options"]["priority"])
            for name, entry in beat.items()} == {"reconcile": ("interlock.reconcile", "schedule", 0),
                                                 "archive": ("interlock.archive", "archival", 9)}
