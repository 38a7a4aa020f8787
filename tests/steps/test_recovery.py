"""Recovering uncertain starts: a run left TRIGGERING (its worker died after the claim, or the
target's reply was lost) is settled by asking a target that can be asked, against a fake Airflow on
127.0.0.1; a target that cannot be asked keeps the stuck-run report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from interlock.clock import FrozenClock
from interlock.demo.fake_airflow import FakeAirflow
from interlock.model import EventKind, RunLogEntry, RunState, RunStatus
from interlock.periods import RunKey
from interlock.steps.deps import Deps
from interlock.steps.watchdog import check_stuck
from tests.steps.conftest import Harness

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEY = RunKey("orders", "daily", "2026-03-02", 1)


@pytest.fixture
def airflow() -> Iterator[FakeAirflow]:
    fake = FakeAirflow(polls_until_success=1).start()
    yield fake
    fake.stop()


def pipeline(harness: Harness, trigger: str) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=trigger)
    harness.extra = "watchdog: {recoverAfter: 2m, stuckRunThreshold: 30m}\n"


def airflow_trigger(url: str) -> str:
    return f"trigger:\n  type: airflow\n  airflow: {{url: '{url}', dag_id: nightly, apiVersion: 1}}\n"


def claimed_and_abandoned(deps: Deps) -> RunState:
    """What a worker that died between the claim and the job's start leaves behind."""
    now = deps.clock.now()
    fresh = RunState(run_id=KEY.run_id, pipeline_id="orders", status=RunStatus.TRIGGERING, version=1, created_at=now,
                     updated_at=now, metadata=KEY.metadata(), schedule_id="daily", period="2026-03-02", attempt=1)
    run, won = deps.store.claim(KEY.claim_key, fresh)
    assert won
    deps.store.put_run_log(RunLogEntry(pipeline_id="orders", date="2026-03-02", status=RunStatus.TRIGGERING,
                                       attempt_number=1, run_id=run.run_id, started_at=now, updated_at=now))
    return run


def recovered_events(deps: Deps) -> list[dict[str, object]]:
    return [r.event.details or {} for r in deps.store.list_events("orders", 50)
            if r.event.kind is EventKind.TRIGGER_RECOVERED]


def test_a_start_that_never_reached_airflow_is_made_with_the_same_run_id(harness: Harness,
                                                                         airflow: FakeAirflow) -> None:
    pipeline(harness, airflow_trigger(airflow.url))
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    run = claimed_and_abandoned(deps)
    clock.set(datetime(2026, 3, 2, 8, 1, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    assert airflow.requests == []  # not before recoverAfter: the worker may still be starting it
    clock.set(datetime(2026, 3, 2, 8, 2, 30, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None  # settled, so no stuck alert
    after = deps.store.get_run(run.run_id)
    assert after.status is RunStatus.RUNNING and after.metadata["airflow_dag_run_id"] == run.run_id
    assert [p["body"]["dag_run_id"] for p in airflow.posts("/dagRuns")] == [run.run_id]
    assert [e["recovered"] for e in recovered_events(deps)] == ["restarted"]
    assert deps.store.get_run_log("orders", "2026-03-02", "daily").status is RunStatus.RUNNING  # type: ignore[union-attr]
    assert harness.alerts_out.getvalue() == ""


def test_a_start_that_reached_airflow_is_found_and_never_made_twice(harness: Harness, airflow: FakeAirflow) -> None:
    pipeline(harness, airflow_trigger(airflow.url))
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    run = claimed_and_abandoned(deps)
    # The job was created, then the worker died before recording it.
    httpx.post(f"{airflow.url}/api/v1/dags/nightly/dagRuns", json={"dag_run_id": run.run_id})
    clock.set(datetime(2026, 3, 2, 8, 3, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    assert deps.store.get_run(run.run_id).status is RunStatus.RUNNING
    assert len(airflow.posts("/dagRuns")) == 1
    assert [e["recovered"] for e in recovered_events(deps)] == ["found"]


def test_a_target_that_does_not_answer_is_asked_again_later_then_reported_stuck(harness: Harness,
                                                                                airflow: FakeAirflow) -> None:
    pipeline(harness, airflow_trigger("http://127.0.0.1:9"))  # nothing listens there
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    run = claimed_and_abandoned(deps)
    clock.set(datetime(2026, 3, 2, 8, 3, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    assert deps.store.get_run(run.run_id).status is RunStatus.TRIGGERING
    assert harness.store.due_at("stuck:" + run.run_id) == datetime(2026, 3, 2, 8, 5, tzinfo=UTC)
    clock.set(datetime(2026, 3, 2, 8, 31, tzinfo=UTC))
    alert = check_stuck(deps, run.run_id)
    assert alert is not None and alert.alert_type == "stuck_run"
    assert recovered_events(deps) == []


def test_a_command_cannot_be_asked_so_it_is_never_started_again_only_reported(harness: Harness,
                                                                               tmp_path_factory: pytest.TempPathFactory
                                                                               ) -> None:
    marker = tmp_path_factory.mktemp("cmd") / "ran"
    pipeline(harness, f"trigger:\n  type: command\n  command: {{command: 'touch {marker}'}}\n")
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    run = claimed_and_abandoned(deps)
    clock.set(datetime(2026, 3, 2, 8, 10, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    assert not marker.exists() and deps.store.get_run(run.run_id).status is RunStatus.TRIGGERING
    clock.set(datetime(2026, 3, 2, 8, 31, tzinfo=UTC))
    alert = check_stuck(deps, run.run_id)
    assert alert is not None and "stuck in TRIGGERING" in alert.message
    assert not marker.exists()


@pytest.mark.parametrize(("trigger", "first_look"), [
    (airflow_trigger("http://127.0.0.1:9"), datetime(2026, 3, 2, 8, 2, tzinfo=UTC)),  # recoverAfter
    ("trigger:\n  type: command\n  command: {command: 'false'}\n", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
])
def test_a_start_is_first_looked_at_after_recover_after_when_its_target_can_be_asked(
        harness: Harness, trigger: str, first_look: datetime) -> None:
    from interlock.steps.runs import start_job

    pipeline(harness, trigger)
    deps = harness.deps(FrozenClock(START))
    run = claimed_and_abandoned(deps)
    assert start_job(deps, deps.pipeline("orders"), run).status is RunStatus.FAILED  # nothing there / exit 1
    assert harness.store.due_at("stuck:" + run.run_id) == first_look


@pytest.mark.parametrize(("final", "metadata", "logged", "event"), [
    (RunStatus.COMPLETED, {}, RunStatus.COMPLETED, EventKind.PIPELINE_COMPLETED),
    (RunStatus.FAILED, {"failure": "command exited with status 1", "failureCategory": "PERMANENT"},
     RunStatus.FAILED, EventKind.PIPELINE_FAILED),
])
def test_a_run_finished_by_a_worker_that_died_before_its_run_log_is_finished_by_the_watchdog(
        harness: Harness, final: RunStatus, metadata: dict[str, str], logged: RunStatus, event: EventKind) -> None:
    from interlock import lifecycle

    pipeline(harness, "trigger:\n  type: command\n  command: {command: 'true'}\n")
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    run = claimed_and_abandoned(deps)
    # The worker moved the run to its final state, then died before writing the run log.
    assert lifecycle.move(deps.store, run, final, START, **metadata) is not None
    clock.set(datetime(2026, 3, 2, 8, 31, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    entry = deps.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.status is logged
    kinds = [r.event.kind for r in deps.store.list_events("orders", 50)]
    assert event in kinds
    if final is RunStatus.FAILED:
        assert entry.failure_category == "PERMANENT" and entry.failure_message == "command exited with status 1"
    assert check_stuck(deps, run.run_id) is None  # nothing left to finish: no second event
    assert [r.event.kind for r in deps.store.list_events("orders", 50)].count(event) == 1


def test_a_run_claimed_by_a_worker_that_died_before_its_run_log_gets_one_when_recovered(
        harness: Harness, airflow: FakeAirflow) -> None:
    pipeline(harness, airflow_trigger(airflow.url))
    clock = FrozenClock(START)
    deps = harness.deps(clock)
    fresh = RunState(run_id=KEY.run_id, pipeline_id="orders", status=RunStatus.TRIGGERING, version=1, created_at=START,
                     updated_at=START, metadata=KEY.metadata(), schedule_id="daily", period="2026-03-02", attempt=1)
    run, won = deps.store.claim(KEY.claim_key, fresh)
    assert won and deps.store.get_run_log("orders", "2026-03-02", "daily") is None
    clock.set(datetime(2026, 3, 2, 8, 3, tzinfo=UTC))
    assert check_stuck(deps, run.run_id) is None
    entry = deps.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.run_id == run.run_id and entry.status is RunStatus.RUNNING
    assert [e["recovered"] for e in recovered_events(deps)] == ["restarted"]
