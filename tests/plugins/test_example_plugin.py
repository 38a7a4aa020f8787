"""The example plugin under examples/, installed into a venv of its own and used from a pipeline.

The venv is made offline: ``python -m venv --system-site-packages`` plus a ``.pth`` file that adds
this interpreter's site-packages (where Interlock's dependencies and setuptools are). The example
is installed with ``pip install --no-deps --no-build-isolation --no-index`` when this environment's
setuptools can build a wheel; the one ``make install`` gives (Python 3.11's bundled setuptools 65,
no ``wheel`` package) cannot, and then setuptools' own ``install`` command puts the same package and
entry points in place. The CLI runs in that venv with this worktree's Interlock first on
``PYTHONPATH``, so the plugin is found through its entry points exactly as an installed package's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import setuptools
from packaging.version import Version

from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "interlock-example-plugin"
DAYS = "[mon, tue, wed, thu, fri, sat, sun]"
# setuptools builds wheels by itself from 70.1; before, only with the `wheel` package installed.
CAN_BUILD_WHEELS = Version(setuptools.__version__) >= Version("70.1") or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the example plugin installed (built from a copy of examples/, without the network)."""
    work = tmp_path_factory.mktemp("plugin-venv")
    root = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
                   check=True, timeout=300)
    python = root / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    Path(target, "interlock-host.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    source = shutil.copytree(EXAMPLE, work / "src")  # a build writes into its source folder
    if CAN_BUILD_WHEELS:
        command = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                   "--disable-pip-version-check", str(source)]
    else:
        command = [str(python), "-c", "from setuptools import setup; setup()", "--quiet", "install",
                   "--single-version-externally-managed", "--record", str(work / "installed.txt")]
    build = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=source, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    return root


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    root = tmp_path / "project"
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True)
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '127.0.0.1:6379', keyPrefix: '{prefix}'}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    (root / "archetypes" / "calendar.yaml").write_text(
        "name: calendar\nrequiredTraits: [{type: business-day}]\nreadinessRule: {type: all-required-pass}\n")
    yield root
    RedisStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True), prefix).purge()


def pipeline(root: Path, days: str, plugin_evaluator: str = "weekday") -> None:
    (root / "pipelines" / "sales.yaml").write_text(
        "name: sales\narchetype: calendar\n"
        f"traits:\n  business-day:\n    evaluator: plugin:{plugin_evaluator}\n    config: {{days: {days}}}\n"
        "trigger:\n  type: plugin\n  plugin: {name: touch-file, config: {path: started.txt}}\n")


def interlock(venv: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "PYTHON"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([str(venv / "bin" / "python"), "-m", "interlock.cli", "--config",
                           str(root / "interlock.yaml"), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_a_pipeline_validates_evaluates_and_triggers_with_the_installed_plugin(venv: Path, project: Path) -> None:
    pipeline(project, DAYS)
    validated = interlock(venv, project, "validate")
    assert validated.returncode == 0, validated.stderr
    evaluated = interlock(venv, project, "evaluate", "sales", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    trait = json.loads(evaluated.stdout)["traits"][0]
    today = datetime.now(UTC).strftime("%a").lower()
    assert (trait["status"], trait["value"]) == ("PASS", {"weekday": today})
    ran = interlock(venv, project, "run", "sales", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = json.loads(ran.stdout)["runId"]
    assert (project / "started.txt").read_text() == f"{run_id}\n"


def test_the_plugin_decides_fail_on_other_days(venv: Path, project: Path) -> None:
    today = datetime.now(UTC).strftime("%a").lower()
    pipeline(project, f"[{'mon' if today != 'mon' else 'tue'}]")
    evaluated = interlock(venv, project, "evaluate", "sales", "--json")
    assert evaluated.returncode == 1
    assert json.loads(evaluated.stdout)["traits"][0]["status"] == "FAIL"


def test_an_unknown_plugin_type_names_the_installed_plugins(venv: Path, project: Path) -> None:
    pipeline(project, DAYS, plugin_evaluator="weekdays")
    validated = interlock(venv, project, "validate")
    assert validated.returncode == 2
    assert ("traits.business-day.evaluator: unknown plugin evaluator 'weekdays'; installed evaluator plugins "
            "(entry point group interlock.evaluators): weekday") in validated.stderr


def test_the_plugins_own_config_check_runs_at_validation(venv: Path, project: Path) -> None:
    pipeline(project, "[someday]")
    validated = interlock(venv, project, "validate")
    assert validated.returncode == 2
    assert "traits.business-day.config: days must be a non-empty list of mon, tue" in validated.stderr


def test_without_the_plugin_installed_the_same_pipeline_is_refused(project: Path) -> None:
    pipeline(project, DAYS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env["PYTHONPATH"] = str(REPO)
    validated = subprocess.run([sys.executable, "-m", "interlock.cli", "--config", str(project / "interlock.yaml"),
                                "validate"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert validated.returncode == 2
    assert "unknown plugin evaluator 'weekday'" in validated.stderr
    assert "unknown plugin trigger 'touch-file'" in validated.stderr
