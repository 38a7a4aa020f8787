"""Against a real Prefect 3 server (``prefect server start`` on loopback, SQLite in a tmp PREFECT_HOME,
basic auth on) with two deployments served by ``serve()`` in a process of the server's venv: create a
flow run through Interlock's steps, poll it to COMPLETED, and see a second start and ``find`` return
the first run. Run by `make test-prefect`, which installs Prefect in a venv of its own and points
INTERLOCK_PREFECT_BIN at it; deselected from `make test`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from interlock.model import FailureCategory, RunState, RunStatus, TriggerConfig
from interlock.steps.deps import Deps
from interlock.steps.runs import check_run, trigger
from interlock.triggers import JobState, TriggerContext, TriggerError
from interlock.triggers.prefect import PrefectTrigger
from tests.servers import free_port, processes, wait_until
from tests.steps.conftest import Harness

pytestmark = pytest.mark.prefect
T = TypeVar("T")

FLOWS = '''
from prefect import flow, serve


@flow(name="interlock-smoke", log_prints=True)
def smoke(date: str = "none") -> str:
    print(f"hello from interlock for {date}")
    return date


@flow(name="interlock-fails")
def fails() -> None:
    raise RuntimeError("boom")


if __name__ == "__main__":
    serve(smoke.to_deployment(name="smoke"), fails.to_deployment(name="fails"), limit=4)
'''
AUTH = "interlock:s3cret"  # the server's PREFECT_SERVER_API_AUTH_STRING


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bin_dir = os.environ.get("INTERLOCK_PREFECT_BIN")
    assert bin_dir, "run through `make test-prefect`, which installs Prefect and sets INTERLOCK_PREFECT_BIN"
    root = tmp_path_factory.mktemp("prefect")
    (root / "flows.py").write_text(FLOWS)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_HOME": str(root / "home"), "PREFECT_API_URL": api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_API_AUTH_STRING": AUTH, "PREFECT_API_AUTH_STRING": AUTH,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    server, runner = root / "server.log", root / "serve.log"
    auth = httpx.BasicAuth(*AUTH.split(":"))
    with processes([([f"{bin_dir}/prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                     server)], env, root):
        wait_until(lambda: httpx.get(f"{api}/health", auth=auth, timeout=10).status_code == 200, 180,
                   "prefect server", [server])
        with processes([([f"{bin_dir}/python", "flows.py"], runner)], env, root):
            wait_until(lambda: httpx.get(f"{api}/deployments/name/interlock-fails/fails", auth=auth,
                                         timeout=10).status_code == 200, 120, "the served deployments",
                       [server, runner])
            yield api


def config(api: str, deployment: str = "interlock-smoke/smoke", **extra: Any) -> TriggerConfig:
    block = {"api_url": api, "deployment": deployment, "auth_string": "${INTERLOCK_PREFECT_AUTH}", **extra}
    return TriggerConfig.model_validate({"type": "prefect", "prefect": block})


def direct_ctx() -> TriggerContext:
    return TriggerContext(f"direct-{uuid.uuid4().hex[:12]}", "direct", "daily", "2026-03-02", Path("."))


@pytest.fixture(autouse=True)
def _auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_PREFECT_AUTH", AUTH)


def retried(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` (a PrefectTrigger method), tried again on a TRANSIENT failure as the engine would.

    A Prefect server on SQLite answers 503 when its database is locked (seen on a loaded CI machine);
    every call here is safe to repeat (a create carries its idempotency key), which is why the engine
    retries them.
    """
    for attempt in range(5):
        try:
            return call(*args)
        except TriggerError as exc:
            if exc.category is not FailureCategory.TRANSIENT or attempt == 4:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def start(cfg: TriggerConfig, ctx: TriggerContext) -> Any:
    return retried(PrefectTrigger().start, cfg, ctx)


def trigger_retried(deps: Deps, pipeline: str) -> RunState:
    """The trigger step for attempt 1, 2, ... as the engine's retries call it, until one is not a TRANSIENT
    failure (the 503 of a busy SQLite, above); the pipeline's retry.maxAttempts allows five."""
    for attempt in range(1, 6):
        run = trigger(deps, pipeline, "daily", "2026-03-02", attempt)
        if run.status is not RunStatus.FAILED or run.metadata.get("failureCategory") != "TRANSIENT":
            break
        time.sleep(2)
    return run


def keyed_runs(api: str, key: str) -> list[str]:
    found = httpx.post(f"{api}/flow_runs/filter", auth=httpx.BasicAuth(*AUTH.split(":")), timeout=30,
                       json={"flow_runs": {"idempotency_key": {"any_": [key]}}}).json()
    return [run["id"] for run in found]


def test_interlock_runs_a_real_prefect_deployment_and_sees_it_complete(prefect: str, harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("smoke", "a", {"t1": "pass"}, extra=(
        "trigger:\n  type: prefect\n  pollInterval: 1s\n  prefect:\n"
        f"    api_url: {prefect}\n    deployment: interlock-smoke/smoke\n"
        "    auth_string: '${INTERLOCK_PREFECT_AUTH}'\n    parameters: {date: '${date}'}\n"
        "retry: {maxAttempts: 5, backoffSeconds: 0}\n"))
    deps = harness.deps()
    run = trigger_retried(deps, "smoke")
    assert run.status is RunStatus.RUNNING, deps.store.list_events("smoke")
    flow_run = run.metadata["prefect_flow_run_id"]
    deadline = time.monotonic() + 90
    while run.status is RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(1)
        run = check_run(deps, run.run_id) or run
    assert run.status is RunStatus.COMPLETED, deps.store.list_events("smoke")
    answer = httpx.get(f"{prefect}/flow_runs/{flow_run}", auth=httpx.BasicAuth(*AUTH.split(":"))).json()
    assert answer["parameters"] == {"date": "2026-03-02"}
    again = trigger(deps, "smoke", "daily", "2026-03-02", run.attempt)  # a redelivered task: no second flow run
    assert again.run_id == run.run_id
    cfg = deps.pipeline("smoke").trigger
    assert cfg is not None
    ctx = TriggerContext(run.run_id, "smoke", "daily", "2026-03-02", harness.root)
    assert start(cfg, ctx).metadata == {"prefect_api_url": prefect, "prefect_flow_run_id": flow_run}
    assert keyed_runs(prefect, run.run_id) == [flow_run]


def test_find_is_none_before_a_start_and_the_run_after_it(prefect: str) -> None:
    trigger_, cfg, ctx = PrefectTrigger(), config(prefect), direct_ctx()
    assert retried(trigger_.find, cfg, ctx) is None
    started = start(cfg, ctx)
    assert retried(trigger_.find, cfg, ctx) == started
    assert start(cfg, ctx) == started
    assert keyed_runs(prefect, ctx.run_id) == [started.metadata["prefect_flow_run_id"]]


def test_a_failing_flow_is_failed(prefect: str) -> None:
    trigger_, cfg = PrefectTrigger(), config(prefect, "interlock-fails/fails")
    metadata = start(cfg, direct_ctx()).metadata
    deadline = time.monotonic() + 90
    status = retried(trigger_.status, cfg, metadata)
    while status.state is JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(1)
        status = retried(trigger_.status, cfg, metadata)
    assert status.state is JobState.FAILED
    assert status.category is None  # retried as any failure; only CANCELLED is PERMANENT


def test_wrong_credentials_and_a_missing_deployment_are_permanent(prefect: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TriggerError, match="status 404") as missing:
        PrefectTrigger().start(config(prefect, "interlock-smoke/no-such-deployment"), direct_ctx())
    monkeypatch.setenv("INTERLOCK_PREFECT_AUTH", "interlock:wrong")
    with pytest.raises(TriggerError, match="status 401") as denied:
        PrefectTrigger().start(config(prefect), direct_ctx())
    assert missing.value.category is denied.value.category is FailureCategory.PERMANENT
