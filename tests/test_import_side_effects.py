"""Importing the Celery app module or the config package changes nothing in the process.

Each check runs in a fresh interpreter, so what other tests imported or patched cannot hide a
side effect (or fake one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from interlock.scaffold import init_project

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_importing_workers_app_neither_loads_a_project_nor_patches_kombu(tmp_path: Path) -> None:
    result = _python("""
        from kombu.transport import redis as kombu_redis
        original = kombu_redis.Channel.QoS
        import workers.app
        import interlock.config
        assert kombu_redis.Channel.QoS is original, "kombu patched at import"
        assert workers.app._app is None, "an app was made at import"
        print("ok")
    """, INTERLOCK_CONFIG=str(tmp_path / "missing.yaml"))  # a project load at import would fail on this
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_app_is_made_once_on_first_use_as_celery_dash_a_finds_it(tmp_path: Path) -> None:
    init_project(tmp_path / "etl")
    result = _python("""
        from celery.app.utils import find_app
        from kombu.transport import redis as kombu_redis
        from workers import app as module, redis_transport

        app = find_app("workers.app")  # what `celery -A workers.app` does
        assert app is module.app is module.get_app(), "not one app per process"
        assert app.conf.interlock_project.settings.config_path.name == "interlock.yaml"
        assert kombu_redis.Channel.QoS is redis_transport.QoS, "the transport fix is not installed"
        print("ok")
    """, INTERLOCK_CONFIG=str(tmp_path / "etl" / "interlock.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_loading_a_project_leaves_the_outbound_guard_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "etl"
    init_project(root)
    config = root / "interlock.yaml"
    config.write_text(config.read_text() + "security:\n  outbound: {blockPrivate: true}\n")
    result = _python(f"""
        from interlock.config import load_project
        from interlock.netguard import check_url

        project = load_project({str(config)!r})
        assert project.config.outbound_policy().block_private
        check_url("http://10.0.0.1/")  # the process's default is untouched: the policy travels with the project
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
