"""triggerAnyway: a NOT_READY pipeline starts at its instant, once, on the record; not when it already ran."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlock.clock import FrozenClock
from interlock.model import Alert, EventKind, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher
from interlock.steps.keys import advance_key
from interlock.steps.push import push_trait
from interlock.steps.reconcile import reconcile
from interlock.steps.runs import trigger
from tests.steps.conftest import Harness

TRIGGER = "trigger:\n  type: command\n  command: {command: 'true'}\n"
# A 45-minute check interval: without the forced instant's due entry, nothing would look at 10:00.
WATCH = "watch: {interval: 45m}\n"
FORCED_AT_TEN = "schedules:\n  - {name: daily, triggerAnyway: '10:00'}\n"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, second, tzinfo=UTC)


def wire(deps: Deps) -> InlineDispatcher:
    inline = InlineDispatcher(deps, only={"trigger", "advance"})
    deps.dispatch = inline
    return inline


def forced_events(harness: Harness) -> list[dict[str, object]]:
    return [e.event.details or {} for e in harness.store.list_events("orders")
            if e.event.kind is EventKind.TRIGGER_FORCED]


def forced_alerts(harness: Harness) -> list[Alert]:
    return [a for a in harness.store.list_alerts("orders") if a.alert_type == "forced_trigger"]


@pytest.fixture
def blocked(harness: Harness) -> Harness:
    """orders: t1 fails, t2 passes; the schedule forces a start at 10:00."""
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": "fail", "t2": "pass"}, extra=TRIGGER + WATCH + FORCED_AT_TEN)
    return harness


def test_trigger_anyway_starts_a_not_ready_pipeline_once_at_ten_naming_the_failing_traits(blocked: Harness) -> None:
    clock = FrozenClock(at(9, 20))
    deps = blocked.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    # The next look is the forced instant, not 09:20 + 45m: the due index brings the advance at 10:00.
    assert blocked.store.due_at(advance_key("orders", "daily")) == at(10)
    clock.set(at(9, 59, 59))
    assert reconcile(deps) == 0
    assert blocked.store.get_run_log("orders", "2026-03-02", "daily") is None

    clock.set(at(10))
    assert reconcile(deps) == 1  # the advance, which forces the trigger
    entry = blocked.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert entry.run_id == "orders-daily-2026-03-02-1"
    (event,) = forced_events(blocked)
    assert event["failing"] == ["t1"] and event["blocking"] == ["t1"]
    assert event["runId"] == "orders-daily-2026-03-02-1" and event["period"] == "2026-03-02"
    (alert,) = forced_alerts(blocked)
    assert "blocked by: t1" in alert.message and "10:00" in alert.message

    clock.set(at(10, 1))
    assert advance(deps, "orders", "daily") is Outcome.DONE
    assert len(forced_events(blocked)) == 1 and len(forced_alerts(blocked)) == 1


def test_two_advances_at_the_forced_instant_start_one_job_with_one_event_and_one_alert(blocked: Harness) -> None:
    clock = FrozenClock(at(10))
    deps = blocked.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    # The fast path and the reconcile loop both look before the trigger step has run.
    assert advance(deps, "orders", "daily") is Outcome.FORCED
    assert advance(deps, "orders", "daily") is Outcome.FORCED
    asked = [kw for step, kw in recorder.sent if step == "trigger"]
    assert asked == [{"pipeline": "orders", "schedule": "daily", "period": "2026-03-02", "attempt": 1}] * 2
    runs = {trigger(deps, **kw).run_id for kw in asked}  # the claim keeps one run per period
    assert runs == {"orders-daily-2026-03-02-1"}
    assert len(blocked.store.list_runs("orders")) == 1
    assert len(forced_events(blocked)) == 1 and len(forced_alerts(blocked)) == 1


def test_trigger_anyway_does_not_fire_when_the_pipeline_already_ran_that_period(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": None}, extra=TRIGGER + WATCH + FORCED_AT_TEN)
    clock = FrozenClock(at(8))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "orders", "t1", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.set(at(9))
    push_trait(deps, "orders", "t1", "FAIL")  # not ready any more, but the period has its run
    clock.set(at(10))
    reconcile(deps)
    assert advance(deps, "orders", "daily") is Outcome.DONE
    assert forced_events(harness) == [] and forced_alerts(harness) == []
    assert len(harness.store.list_runs("orders")) == 1


def test_without_trigger_anyway_a_not_ready_pipeline_is_never_started(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRIGGER + WATCH)
    clock = FrozenClock(at(9, 20))
    deps = harness.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert harness.store.due_at(advance_key("orders", "daily")) == at(10, 5)
    clock.set(at(23, 59))
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert harness.store.list_runs("orders") == [] and forced_events(harness) == []


def test_a_duration_after_the_window_opens_forces_at_that_instant(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"},
                     extra=TRIGGER + WATCH + "schedules:\n  - {name: daily, after: '06:00', triggerAnyway: '+4h30m'}\n")
    clock = FrozenClock(at(6))
    deps = harness.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    clock.set(at(10, 29))
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert harness.store.due_at(advance_key("orders", "daily")) == at(10, 30)
    clock.set(at(10, 30))
    assert reconcile(deps) == 1
    assert len(forced_events(harness)) == 1


def test_on_an_hourly_cron_schedule_each_period_is_forced_once_at_its_offset(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    hourly = "schedules:\n  - {name: hourly, cron: '0 * * * *', triggerAnyway: '+30m'}\n"
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRIGGER + WATCH + hourly)
    clock = FrozenClock(at(14, 5))
    deps = harness.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY
    assert harness.store.due_at(advance_key("orders", "hourly")) == at(14, 30)
    for hour in (14, 15):
        clock.set(at(hour, 30))
        assert advance(deps, "orders", "hourly") is Outcome.FORCED
        clock.set(at(hour, 45))
        assert advance(deps, "orders", "hourly") is Outcome.DONE
    assert sorted(e["period"] for e in forced_events(harness)) == ["2026-03-02T1400", "2026-03-02T1500"]
    assert sorted(r.run_id for r in harness.store.list_runs("orders")) == [
        "orders-hourly-2026-03-02T1400-1", "orders-hourly-2026-03-02T1500-1"]
    assert len(forced_alerts(harness)) == 2
