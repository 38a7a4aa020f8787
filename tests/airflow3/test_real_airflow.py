"""Against a real Airflow 3 (`airflow standalone` on loopback): trigger a one-task DAG, poll it to
success, and see the run COMPLETED in Interlock. Run by `make test-airflow3` (which installs Airflow
in its own venv and points INTERLOCK_AIRFLOW_BIN at it); deselected from `make test`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlock.model import RunStatus
from interlock.steps.runs import check_run, trigger
from tests.steps.conftest import Harness

pytestmark = pytest.mark.airflow3

DAG = '''
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("interlock_smoke", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="hello", bash_command="echo hello from interlock")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bin_dir = os.environ.get("INTERLOCK_AIRFLOW_BIN")
    assert bin_dir, "run through `make test-airflow3`, which installs Airflow and sets INTERLOCK_AIRFLOW_BIN"
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    (home / "dags" / "interlock_smoke.py").write_text(DAG)
    (home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    log = (home / "standalone.log").open("wb")
    proc = subprocess.Popen([f"{bin_dir}/airflow", "standalone"], env=env, cwd=home, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": "admin"}).json()
                dags = httpx.get(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {token['access_token']}"})
                if "interlock_smoke" in dags.text:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(1)
        else:
            raise AssertionError(f"Airflow did not come up; see {home / 'standalone.log'}")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_interlock_triggers_a_real_airflow_3_dag_and_sees_it_complete(
    airflow: str, harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTERLOCK_AIRFLOW_PASSWORD", "admin")
    harness.archetype("a", ["t1"])
    harness.pipeline("smoke", "a", {"t1": "pass"}, extra=(
        "trigger:\n  type: airflow\n  pollInterval: 1s\n  airflow:\n"
        f"    url: {airflow}\n    dag_id: interlock_smoke\n    username: admin\n"
        "    password: ${INTERLOCK_AIRFLOW_PASSWORD}\n"))
    deps = harness.deps()
    run = trigger(deps, "smoke", "daily", "2026-03-02", 1)
    assert run.status is RunStatus.RUNNING, deps.store.list_events("smoke")
    assert run.metadata["airflow_dag_run_id"] == run.run_id
    deadline = time.monotonic() + 180
    while run.status is RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(2)
        run = check_run(deps, run.run_id) or run
    assert run.status is RunStatus.COMPLETED
    again = trigger(deps, "smoke", "daily", "2026-03-02", 1)  # a redelivered task: no second DAG run
    assert again.run_id == run.run_id


def test_a_static_bearer_token_triggers_a_real_airflow_3_dag_without_the_token_endpoint(
    airflow: str, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands for a deployment's API token: obtained out of band, handed to Interlock as a header.
    token = httpx.post(f"{airflow}/auth/token", json={"username": "admin", "password": "admin"}).json()
    monkeypatch.setenv("INTERLOCK_AIRFLOW_TOKEN", token["access_token"])
    harness.archetype("a", ["t1"])
    harness.pipeline("static", "a", {"t1": "pass"}, extra=(
        "trigger:\n  type: airflow\n  pollInterval: 1s\n  airflow:\n"
        f"    url: {airflow}\n    dag_id: interlock_smoke\n"
        "    headers: {Authorization: 'Bearer ${INTERLOCK_AIRFLOW_TOKEN}'}\n"))
    deps = harness.deps()
    run = trigger(deps, "static", "daily", "2026-03-03", 1)
    assert run.status is RunStatus.RUNNING, deps.store.list_events("static")
    listed = httpx.get(f"{airflow}/api/v2/dags/interlock_smoke/dagRuns/{run.run_id}",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listed.status_code == 200 and listed.json()["dag_run_id"] == run.run_id
