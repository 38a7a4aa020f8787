"""sla.maxDuration: counted from the period's first passing trait; one breach, none when the run was in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlock.clock import FrozenClock
from interlock.model import RunLogEntry, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.keys import arrival_key, sla_key
from interlock.steps.push import push_trait
from interlock.steps.sla import check_sla
from tests.steps.conftest import Harness

TRIGGER = "trigger:\n  type: command\n  command: {command: 'true'}\n"
PERIOD = "2026-03-02"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def categories(deps: Deps) -> list[str]:
    return [a.alert_type or "" for a in check_sla(deps, "orders", "daily")]


def wire(deps: Deps) -> None:
    inline = InlineDispatcher(deps, only={"trigger"})
    deps.dispatch = inline


def waiting_on_t2(harness: Harness, sla: str = "{maxDuration: 2h}") -> None:
    """t1 is pushed (the data), t2 never passes: the data arrives but the run cannot start."""
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": None, "t2": "fail"}, extra=TRIGGER + f"sla: {sla}\n")


def test_max_duration_counts_from_the_first_passing_trait_and_breaches_once(harness: Harness) -> None:
    waiting_on_t2(harness)
    clock = FrozenClock(at(7))
    deps = harness.deps(clock)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY  # nothing has arrived: no clock yet
    assert harness.store.get_value(arrival_key("orders", "daily", PERIOD)) is None
    clock.set(at(8))
    push_trait(deps, "orders", "t1", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert harness.store.get_value(arrival_key("orders", "daily", PERIOD)) == at(8).isoformat()
    clock.set(at(9, 30))
    assert categories(deps) == []  # 2h from 08:00, not from the 07:00 evaluation
    due = harness.store.due_at(sla_key("orders", "daily"))
    assert due is not None and at(10) < due <= at(10) + timedelta(seconds=1)

    clock.set(at(10))
    restarted = harness.deps(clock)  # a new process: the arrival time is in the store, not in memory
    assert categories(restarted) == []  # exactly at the deadline is not late
    clock.set(at(10, 1))
    (alert,) = check_sla(restarted, "orders", "daily")
    assert alert.alert_type == "duration_sla_breach"
    assert "maxDuration 2h breached for 2026-03-02: not started" in alert.message
    assert "its data arrived at 08:00" in alert.message
    clock.set(at(11))
    assert advance(restarted, "orders", "daily") is Outcome.NOT_READY  # a later PASS does not move the clock
    assert harness.store.get_value(arrival_key("orders", "daily", PERIOD)) == at(8).isoformat()
    assert categories(restarted) == []
    assert [a.alert_type for a in harness.store.list_alerts("orders")].count("duration_sla_breach") == 1


def test_a_run_that_finished_within_max_duration_does_not_breach(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": None}, extra=TRIGGER + "sla: {maxDuration: 2h}\n")
    clock = FrozenClock(at(8))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "orders", "t1", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    entry = harness.store.get_run_log("orders", PERIOD, "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    for hour in (10, 12, 23):
        clock.set(at(hour, 1))
        assert categories(deps) == []


def test_a_run_still_running_past_max_duration_breaches_once_and_not_again_when_it_completes(
        harness: Harness) -> None:
    waiting_on_t2(harness)
    clock = FrozenClock(at(8))
    deps = harness.deps(clock)
    push_trait(deps, "orders", "t1", "PASS")
    advance(deps, "orders", "daily")

    def log(status: RunStatus, when: datetime) -> None:
        harness.store.put_run_log(RunLogEntry(
            pipeline_id="orders", date=PERIOD, status=status, attempt_number=1, run_id="orders-daily-2026-03-02-1",
            started_at=at(8, 10), updated_at=when, completed_at=when if status is RunStatus.COMPLETED else None))

    log(RunStatus.RUNNING, at(8, 10))
    clock.set(at(10, 1))
    (alert,) = check_sla(deps, "orders", "daily")
    assert "run orders-daily-2026-03-02-1 still RUNNING" in alert.message
    log(RunStatus.COMPLETED, at(10, 20))
    clock.set(at(10, 30))
    assert categories(deps) == []


def test_a_late_completion_nobody_saw_is_reported_with_how_late(harness: Harness) -> None:
    waiting_on_t2(harness)
    clock = FrozenClock(at(8))
    deps = harness.deps(clock)
    push_trait(deps, "orders", "t1", "PASS")
    advance(deps, "orders", "daily")
    harness.store.put_run_log(RunLogEntry(
        pipeline_id="orders", date=PERIOD, status=RunStatus.COMPLETED, attempt_number=1,
        run_id="orders-daily-2026-03-02-1", started_at=at(8, 10), updated_at=at(10, 20), completed_at=at(10, 20)))
    clock.set(at(11))
    (alert,) = check_sla(deps, "orders", "daily")
    assert alert.alert_type == "duration_sla_breach" and "completed 20m" in alert.message


def test_at_risk_warns_once_ahead_of_the_relative_deadline(harness: Harness) -> None:
    waiting_on_t2(harness, "{maxDuration: 2h, atRiskLeadTime: 30m}")
    clock = FrozenClock(at(8))
    deps = harness.deps(clock)
    push_trait(deps, "orders", "t1", "PASS")
    advance(deps, "orders", "daily")
    clock.set(at(9, 29))
    assert categories(deps) == []
    clock.set(at(9, 31))
    assert categories(deps) == ["duration_sla_at_risk"]
    clock.set(at(9, 45))
    assert categories(deps) == []
    clock.set(at(10, 1))
    assert categories(deps) == ["duration_sla_breach"]
    # Counted for /metrics, once each, like the other SLA alerts (the dashboard's SLA panel).
    counts = harness.store.counts()
    assert counts['interlock_sla_alerts_total{alert="duration_sla_at_risk"}'] == 1
    assert counts['interlock_sla_alerts_total{alert="duration_sla_breach"}'] == 1


def test_on_an_hourly_cron_schedule_each_period_has_its_own_relative_deadline(harness: Harness) -> None:
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": None, "t2": "fail"},
                     extra=TRIGGER + "sla: {maxDuration: 90m}\nschedules:\n  - {name: hourly, cron: '0 * * * *'}\n")
    clock = FrozenClock(at(14, 10))
    deps = harness.deps(clock)
    push_trait(deps, "orders", "t1", "PASS")
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY  # the 14:00 period's data: 14:10
    clock.set(at(15, 20))
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY  # the 15:00 period's data: 15:20
    clock.set(at(15, 41))
    (alert,) = check_sla(deps, "orders", "hourly")  # 14:10 + 90m, found although a period has passed since
    assert alert.alert_type == "duration_sla_breach" and alert.details is not None
    assert alert.details["period"] == "2026-03-02T1400"
    clock.set(at(16, 51))
    (alert,) = check_sla(deps, "orders", "hourly")
    assert alert.details is not None and alert.details["period"] == "2026-03-02T1500"
    clock.set(at(17, 30))
    assert check_sla(deps, "orders", "hourly") == []
