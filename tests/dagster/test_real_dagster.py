"""Against a real Dagster 1.x (``dagster-webserver`` + ``dagster-daemon`` on loopback, DAGSTER_HOME in
tmp): launch a one-op job through Interlock's steps, poll it to SUCCESS, and see a second start and
``find`` return the first run. Run by `make test-dagster`, which installs Dagster in a venv of its own
and points INTERLOCK_DAGSTER_BIN at it; deselected from `make test`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interlock.model import FailureCategory, RunStatus, TriggerConfig
from interlock.steps.runs import check_run, trigger
from interlock.triggers import JobState, TriggerContext, TriggerError
from interlock.triggers.dagster import FIND, RUN_ID_TAG, DagsterTrigger
from tests.servers import free_port, processes, wait_until
from tests.steps.conftest import Harness

pytestmark = pytest.mark.dagster

DEFS = '''
import dagster as dg


@dg.op(config_schema={"date": dg.Field(str, default_value="none")})
def hello(context) -> None:
    context.log.info(f"hello from interlock for {context.op_config['date']}")


@dg.job
def interlock_smoke():
    hello()


@dg.op
def boom() -> None:
    raise RuntimeError("boom")


@dg.job
def interlock_fails():
    boom()


defs = dg.Definitions(jobs=[interlock_smoke, interlock_fails])
'''
WORKSPACE = "load_from:\n  - python_file: {relative_path: defs.py, location_name: interlock_loc}\n"
LOCATION = "interlock_loc"


@pytest.fixture(scope="module")
def dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bin_dir = os.environ.get("INTERLOCK_DAGSTER_BIN")
    assert bin_dir, "run through `make test-dagster`, which installs Dagster and sets INTERLOCK_DAGSTER_BIN"
    root = tmp_path_factory.mktemp("dagster")
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    (root / "defs.py").write_text(DEFS)
    (root / "workspace.yaml").write_text(WORKSPACE)
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "DAGSTER_HOME": str(root / "home")}
    web, daemon = root / "webserver.log", root / "daemon.log"
    with processes([([f"{bin_dir}/dagster-webserver", "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1],
                      "-w", "workspace.yaml"], web),
                    ([f"{bin_dir}/dagster-daemon", "run", "-w", "workspace.yaml"], daemon)], env, root):
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
        wait_until(lambda: '"LOADED"' in httpx.post(f"{url}/graphql", json={"query": query}, timeout=10).text,
                   240, "dagster-webserver with its code location", [web, daemon])
        yield url


def config(url: str, job: str = "interlock_smoke", **extra: object) -> TriggerConfig:
    return TriggerConfig.model_validate({"type": "dagster", "dagster": {
        "url": url, "location_name": LOCATION, "job_name": job, **extra}})


def direct_ctx() -> TriggerContext:
    return TriggerContext(f"direct-{uuid.uuid4().hex[:12]}", "direct", "daily", "2026-03-02", Path("."))


def poll(trigger_: DagsterTrigger, cfg: TriggerConfig, metadata: dict[str, object]) -> JobState:
    deadline = time.monotonic() + 90
    state = JobState.RUNNING
    while state is JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(1)
        state = trigger_.status(cfg, metadata).state
    return state


def tagged_runs(url: str, run_id: str) -> list[str]:
    answer = httpx.post(f"{url}/graphql", timeout=30, json={
        "query": FIND, "variables": {"filter": {"tags": [{"key": RUN_ID_TAG, "value": run_id}]}}}).json()
    return [run["runId"] for run in answer["data"]["runsOrError"]["results"]]


def test_interlock_launches_a_real_dagster_job_and_sees_it_complete(
    dagster: str, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLOCK_DAGSTER_TOKEN", "ignored-by-oss")  # Dagster+ reads it; OSS ignores it
    harness.archetype("a", ["t1"])
    harness.pipeline("smoke", "a", {"t1": "pass"}, extra=(
        "trigger:\n  type: dagster\n  pollInterval: 1s\n  dagster:\n"
        f"    url: {dagster}\n    location_name: {LOCATION}\n    job_name: interlock_smoke\n"
        "    headers: {Dagster-Cloud-Api-Token: '${INTERLOCK_DAGSTER_TOKEN}'}\n"
        "    run_config: {ops: {hello: {config: {date: '${date}'}}}}\n"))
    deps = harness.deps()
    run = trigger(deps, "smoke", "daily", "2026-03-02", 1)
    assert run.status is RunStatus.RUNNING, deps.store.list_events("smoke")
    dagster_run = run.metadata["dagster_run_id"]
    deadline = time.monotonic() + 90
    while run.status is RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(1)
        run = check_run(deps, run.run_id) or run
    assert run.status is RunStatus.COMPLETED, deps.store.list_events("smoke")
    again = trigger(deps, "smoke", "daily", "2026-03-02", 1)  # a redelivered task: no second Dagster run
    assert again.run_id == run.run_id
    # The trigger itself, asked again for this run id (Interlock's own record aside), finds the first run.
    cfg = deps.pipeline("smoke").trigger
    assert cfg is not None
    ctx = TriggerContext(run.run_id, "smoke", "daily", "2026-03-02", harness.root)
    assert DagsterTrigger().start(cfg, ctx).metadata == {"dagster_url": dagster, "dagster_run_id": dagster_run}
    assert tagged_runs(dagster, run.run_id) == [dagster_run]


def test_find_is_none_before_a_start_and_the_run_after_it(dagster: str) -> None:
    trigger_, cfg, ctx = DagsterTrigger(), config(dagster), direct_ctx()
    assert trigger_.find(cfg, ctx) is None
    started = trigger_.start(cfg, ctx)
    assert trigger_.find(cfg, ctx) == started
    assert trigger_.start(cfg, ctx) == started
    assert tagged_runs(dagster, ctx.run_id) == [started.metadata["dagster_run_id"]]


def test_a_failing_job_is_failed(dagster: str) -> None:
    trigger_, cfg = DagsterTrigger(), config(dagster, "interlock_fails")
    assert poll(trigger_, cfg, trigger_.start(cfg, direct_ctx()).metadata) is JobState.FAILED


@pytest.mark.parametrize(("cfg", "kind"), [
    ({"job": "no_such_job"}, "PipelineNotFoundError"),
    ({"run_config": '{"ops": {"hello": {"config": {"date": 3}}}}'}, "RunConfigValidationInvalid"),
])
def test_a_missing_job_or_bad_run_config_is_permanent(dagster: str, cfg: dict[str, str], kind: str) -> None:
    job = cfg.pop("job", "interlock_smoke")
    with pytest.raises(TriggerError, match=kind) as exc:
        DagsterTrigger().start(config(dagster, job, **cfg), direct_ctx())
    assert exc.value.category is FailureCategory.PERMANENT
