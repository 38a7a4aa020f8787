"""`interlock demo --once` runs the whole local deployment to its end, as the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_to_the_end_with_every_pipeline_where_it_should_be(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    result = subprocess.run([sys.executable, "-m", "interlock.cli", "demo", "--dir", str(tmp_path / "demo"),
                             "--once", "--duration", "120"], env=env, capture_output=True, text=True, timeout=240,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "every pipeline settled as expected" in result.stdout
    assert "data/finance-extract.csv has not arrived" in result.stdout  # the blocked one says why
    assert (tmp_path / "demo" / "out" / "gold").exists() is False  # gold is an Airflow DAG run, not a command
    assert (tmp_path / "demo" / "out" / "silver").read_text().count("\n") == 1
    # Every process it started is gone (they all carry the demo's config in their environment).
    assert processes_using(str(tmp_path / "demo" / "interlock.yaml")) == []


def processes_using(config: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"INTERLOCK_CONFIG={config}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found
