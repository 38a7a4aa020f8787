"""A worker killed right after claiming a period, before it armed the watchdog, must not lose the run.

The trigger step claims (pipeline, schedule, period, attempt), writes the run log, then sets the
run's ``stuck:`` due entry just before it starts the job. A SIGKILL (or a lost Redis connection)
between the claim and that entry left a TRIGGERING run nothing watched: never started, never
reported. The steps that look at the period again (the advance sweep, a redelivered trigger)
now arm the watchdog for such a run, so it is reported stuck once the threshold has passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlock.clock import FrozenClock
from interlock.model import RunLogEntry, RunState, RunStatus
from interlock.steps.advance import advance
from interlock.steps.keys import stuck_key
from interlock.steps.runs import run_id_for, trigger
from interlock.steps.watchdog import check_stuck
from interlock.store.redis import RedisStore
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

PERIOD = "2026-03-02"
RUN_ID = run_id_for("orders", "daily", PERIOD, 1)


@pytest.fixture
def claimed(tmp_path: Path, store: RedisStore) -> tuple[Harness, FrozenClock]:
    """`orders` is READY and a trigger worker died just after claiming its period."""
    harness = Harness(tmp_path / "project", store)
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {"ready-marker": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    clock = FrozenClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    run = RunState(run_id=RUN_ID, pipeline_id="orders", status=RunStatus.TRIGGERING, version=1,
                   created_at=clock.now(), updated_at=clock.now(),
                   metadata={"scheduleId": "daily", "period": PERIOD, "attempt": 1})
    assert store.claim(f"orders:daily:{PERIOD}:1", run)[1]
    return harness, clock


def reported_stuck(harness: Harness, clock: FrozenClock) -> bool:
    deps = harness.deps(clock)
    due = harness.store.due_at(stuck_key(RUN_ID))
    if due is None:
        return False
    clock.set(due + timedelta(seconds=1))
    alert = check_stuck(deps, RUN_ID)
    return alert is not None and alert.alert_type == "stuck_run"


def test_killed_after_writing_the_run_log_the_advance_sweep_arms_the_watchdog(
        claimed: tuple[Harness, FrozenClock]) -> None:
    harness, clock = claimed
    harness.store.put_run_log(RunLogEntry(pipeline_id="orders", date=PERIOD, schedule_id="daily",
                                          status=RunStatus.TRIGGERING, attempt_number=1, run_id=RUN_ID,
                                          started_at=clock.now(), updated_at=clock.now()))
    clock.advance(timedelta(minutes=1))
    advance(harness.deps(clock), "orders", "daily")  # sees the period TRIGGERING: active, nothing to send
    assert reported_stuck(harness, clock)


def test_killed_before_writing_the_run_log_the_next_trigger_arms_the_watchdog(
        claimed: tuple[Harness, FrozenClock]) -> None:
    harness, clock = claimed
    clock.advance(timedelta(minutes=1))
    deps = harness.deps(clock)
    advance(deps, "orders", "daily")  # no run log: READY, asks for the trigger again
    assert [step for step, _ in deps.dispatch.sent] == ["trigger"]  # type: ignore[attr-defined]
    run = trigger(deps, "orders", "daily", PERIOD, 1)
    assert run.status is RunStatus.TRIGGERING  # the claim holds: the job is not started a second time
    assert reported_stuck(harness, clock)
