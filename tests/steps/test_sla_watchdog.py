"""SLA deadlines, the watchdog and catch-up, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.model import EventKind, RunLogEntry, RunState, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.sla import check_sla
from interlock.steps.watchdog import check_stuck
from tests.steps.conftest import Harness


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def categories(deps: Deps, pipeline: str, schedule: str = "daily") -> list[str]:
    return [a.alert_type or "" for a in check_sla(deps, pipeline, schedule)]


def blocked(harness: Harness, name: str = "orders", extra: str = "") -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline(name, "a", {"t1": "fail"}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n"
                     + extra)


def log(harness: Harness, status: RunStatus, period: str, updated: datetime, completed: datetime | None = None,
        alert_sent: bool = False, pipeline: str = "orders") -> None:
    harness.store.put_run_log(RunLogEntry(pipeline_id=pipeline, date=period, schedule_id="daily", status=status,
                                          attempt_number=1, run_id=f"{pipeline}-daily-{period}-1", started_at=updated,
                                          updated_at=updated, completed_at=completed, alert_sent=alert_sent))


def test_evaluation_deadline_breaches_once_strictly_after_it(harness: Harness) -> None:
    blocked(harness, extra="sla: {evaluationDeadline: '09:00'}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert categories(deps, "orders") == []
    clock.set(at("2026-03-02T08:58:00+00:00"))
    # The watch evaluates it again; the alert names the blockers from the readiness cached (5 min) by then.
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    clock.set(at("2026-03-02T09:00:00+00:00"))
    assert categories(deps, "orders") == []  # exactly at the deadline is not late
    clock.set(at("2026-03-02T09:01:00+00:00"))
    assert categories(deps, "orders") == ["evaluation_sla_breach"]
    clock.set(at("2026-03-02T09:30:00+00:00"))
    assert categories(deps, "orders") == []
    (alert,) = harness.store.list_alerts("orders")[:1]
    assert "not ready by 09:00 on 2026-03-02 (blocked by: t1)" in alert.message


def test_the_check_is_due_just_after_the_next_deadline(harness: Harness) -> None:
    blocked(harness, extra="sla: {evaluationDeadline: '09:00', atRiskLeadTime: 30m}\n")
    clock = FrozenClock(at("2026-03-02T07:00:00+00:00"))
    deps = harness.deps(clock)
    check_sla(deps, "orders", "daily")
    due = harness.store.due_at("sla:orders:daily")
    assert due is not None and at("2026-03-02T08:30:00+00:00") < due <= at("2026-03-02T08:30:01+00:00")


def test_at_risk_warns_before_the_deadline(harness: Harness) -> None:
    blocked(harness, extra="sla: {evaluationDeadline: '09:00', atRiskLeadTime: 30m}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    advance(deps, "orders", "daily")
    clock.set(at("2026-03-02T08:45:00+00:00"))
    assert categories(deps, "orders") == ["evaluation_sla_at_risk"]


def test_no_evaluation_at_all_in_the_period_is_a_missed_schedule(harness: Harness) -> None:
    blocked(harness, extra="sla: {evaluationDeadline: '09:00'}\n")
    clock = FrozenClock(at("2026-03-01T08:00:00+00:00"))
    deps = harness.deps(clock)
    advance(deps, "orders", "daily")  # seen on March 1st; then nothing ran on the 2nd
    clock.set(at("2026-03-01T09:05:00+00:00"))
    assert categories(deps, "orders") == ["evaluation_sla_breach"]  # March 1st: evaluated, never ready
    clock.set(at("2026-03-02T09:05:00+00:00"))
    (alert,) = check_sla(deps, "orders", "daily")
    assert alert.alert_type == "schedule_missed"
    assert "check that the workers and Beat are running" in alert.message


def test_a_deadline_already_past_at_registration_does_not_alert(harness: Harness) -> None:
    blocked(harness, extra="sla: {evaluationDeadline: '09:00'}\n")
    clock = FrozenClock(at("2026-03-02T10:00:00+00:00"))
    deps = harness.deps(clock)  # registered now, after today's deadline
    advance(deps, "orders", "daily")
    assert categories(deps, "orders") == []
    clock.set(at("2026-03-03T08:00:00+00:00"))
    advance(deps, "orders", "daily")
    clock.set(at("2026-03-03T09:01:00+00:00"))
    assert categories(deps, "orders") == ["evaluation_sla_breach"]


def test_a_running_job_past_its_completion_deadline_breaches_once(harness: Harness) -> None:
    blocked(harness, extra="sla: {completionDeadline: '10:00'}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    log(harness, RunStatus.RUNNING, "2026-03-02", at("2026-03-02T08:00:00+00:00"))
    clock.set(at("2026-03-02T10:01:00+00:00"))
    (alert,) = check_sla(deps, "orders", "daily")
    assert alert.alert_type == "completion_sla_breach"
    assert "still RUNNING past 10:00" in alert.message
    log(harness, RunStatus.COMPLETED, "2026-03-02", at("2026-03-02T10:20:00+00:00"), at("2026-03-02T10:20:00+00:00"))
    clock.set(at("2026-03-02T10:30:00+00:00"))
    assert categories(deps, "orders") == []  # completing late after the breach: no second alert


def test_a_late_completion_nobody_saw_reports_how_late(harness: Harness) -> None:
    blocked(harness, extra="sla: {completionDeadline: '10:00'}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    log(harness, RunStatus.COMPLETED, "2026-03-02", at("2026-03-02T10:20:00+00:00"), at("2026-03-02T10:20:00+00:00"))
    clock.set(at("2026-03-02T10:30:00+00:00"))
    (alert,) = check_sla(deps, "orders", "daily")
    assert "completed 20m0s after its deadline 10:00" in alert.message


def test_a_terminal_failure_before_the_deadline_alerts_once_and_no_breach_follows(harness: Harness) -> None:
    blocked(harness, extra="sla: {completionDeadline: '10:00'}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    log(harness, RunStatus.FAILED, "2026-03-02", at("2026-03-02T09:30:00+00:00"), at("2026-03-02T09:30:00+00:00"),
        alert_sent=True)
    clock.set(at("2026-03-02T09:31:00+00:00"))
    assert categories(deps, "orders") == ["completion_sla_failed"]
    clock.set(at("2026-03-02T10:05:00+00:00"))
    assert categories(deps, "orders") == []


def test_a_deadline_before_the_window_opens_rolls_to_the_next_day(harness: Harness) -> None:
    blocked(harness,
            extra="schedules:\n  - {name: daily, after: '22:00', deadline: '02:00', timezone: Europe/London}\n")
    clock = FrozenClock(at("2026-03-02T21:00:00+00:00"))
    deps = harness.deps(clock)
    clock.set(at("2026-03-02T22:30:00+00:00"))
    advance(deps, "orders", "daily")
    assert categories(deps, "orders") == []  # the reference breached here, at once
    clock.set(at("2026-03-03T02:01:00+00:00"))
    (alert,) = check_sla(deps, "orders", "daily")
    assert alert.details is not None and alert.details["period"] == "2026-03-02"


@pytest.mark.parametrize(("zone", "deadline", "day", "breach_utc"), [
    ("America/New_York", "02:30", "2026-03-08", "2026-03-08T07:30:00+00:00"),  # spring forward: moves to 03:30
    ("America/New_York", "01:30", "2026-11-01", "2026-11-01T05:30:00+00:00"),  # fall back: the first 01:30 (EDT)
    ("Europe/London", "01:30", "2026-03-29", "2026-03-29T01:30:00+00:00"),     # spring forward: 02:30 BST
    ("Europe/London", "01:30", "2026-10-25", "2026-10-25T00:30:00+00:00"),     # fall back: the first 01:30 (BST)
])
def test_deadlines_across_dst_changes(harness: Harness, zone: str, deadline: str, day: str, breach_utc: str) -> None:
    blocked(harness, extra=f"schedules:\n  - {{name: daily, deadline: '{deadline}', timezone: {zone}}}\n")
    breach = at(breach_utc)
    clock = FrozenClock(breach - timedelta(hours=6))
    deps = harness.deps(clock)
    clock.set(breach - timedelta(hours=1))  # the same business day, before its deadline
    advance(deps, "orders", "daily")
    clock.set(breach)
    assert categories(deps, "orders") == []
    clock.set(breach + timedelta(seconds=1))
    assert categories(deps, "orders") == ["evaluation_sla_breach"]


def test_two_schedules_in_different_zones_breach_at_their_own_times(harness: Harness) -> None:
    blocked(harness, extra="schedules:\n  - {name: tokyo, deadline: '09:00', timezone: Asia/Tokyo}\n"
                           "  - {name: newyork, deadline: '09:00', timezone: America/New_York}\n")
    clock = FrozenClock(at("2026-03-01T20:00:00+00:00"))  # after New York's March 1st deadline
    deps = harness.deps(clock)
    clock.set(at("2026-03-01T23:00:00+00:00"))  # March 2nd 08:00 in Tokyo
    advance(deps, "orders", "tokyo")
    clock.set(at("2026-03-02T00:01:00+00:00"))  # 09:01 in Tokyo, 19:01 on the 1st in New York
    assert categories(deps, "orders", "tokyo") == ["evaluation_sla_breach"]
    advance(deps, "orders", "newyork")
    assert categories(deps, "orders", "newyork") == []
    clock.set(at("2026-03-02T13:00:00+00:00"))  # 08:00 in New York
    advance(deps, "orders", "newyork")
    clock.set(at("2026-03-02T14:01:00+00:00"))  # 09:01 EST
    assert categories(deps, "orders", "newyork") == ["evaluation_sla_breach"]


def test_a_public_holiday_means_no_run_no_missed_alert_no_sla_alert(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: 'touch ran'}\n"
                     "exclusions: {calendar: 'holidays:US'}\nsla: {evaluationDeadline: '09:00'}\n")
    clock = FrozenClock(at("2026-12-24T12:00:00+00:00"))
    deps = harness.deps(clock)
    clock.set(at("2026-12-25T08:00:00+00:00"))
    assert advance(deps, "orders", "daily") is Outcome.EXCLUDED
    clock.set(at("2026-12-25T10:00:00+00:00"))
    assert categories(deps, "orders") == []
    assert not (harness.root / "ran").exists()


@pytest.mark.parametrize(("policy", "runs"), [("skip", []), ("latest", ["2026-03-04"]),
                                              ("all", ["2026-03-03", "2026-03-04"])])
def test_catch_up_after_downtime_follows_the_policy(harness: Harness, policy: str, runs: list[str]) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra=f"trigger:\n  type: command\n  command: {{command: 'true'}}\ncatchUp: {policy}\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    advance(deps, "orders", "daily")  # March 2nd: seen
    clock.set(at("2026-03-05T08:00:00+00:00"))  # down for the 3rd and 4th
    recorder.sent.clear()
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    periods = [kw["period"] for step, kw in recorder.sent if step == "trigger"]
    assert periods == [*runs, "2026-03-05"]
    missed = [r.event for r in harness.store.list_events("orders", 100) if r.event.kind is EventKind.SCHEDULE_MISSED]
    assert [e.details["period"] for e in missed if e.details] == ["2026-03-03", "2026-03-04"]
    assert harness.store.list_alerts("orders") == []  # no alert storm


def test_a_first_sight_reports_nothing_before_it(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n"
                     "catchUp: all\n")
    deps = harness.deps(FrozenClock(at("2026-03-05T08:00:00+00:00")))
    inline = RecordingDispatcher()
    deps.dispatch = inline
    advance(deps, "orders", "daily")
    assert [kw["period"] for step, kw in inline.sent if step == "trigger"] == ["2026-03-05"]


def test_a_run_that_stops_moving_is_reported_stuck_once_per_state(harness: Harness) -> None:
    blocked(harness)
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    run = RunState(run_id="orders-daily-2026-03-02-1", pipeline_id="orders", status=RunStatus.TRIGGERING, version=1,
                   created_at=clock.now(), updated_at=clock.now(), metadata={"scheduleId": "daily",
                                                                             "period": "2026-03-02"})
    harness.store.put_run(run)
    clock.set(at("2026-03-02T08:29:00+00:00"))
    assert check_stuck(deps, run.run_id) is None
    assert harness.store.due_at("stuck:" + run.run_id) == at("2026-03-02T08:30:00+00:00")
    clock.set(at("2026-03-02T08:31:00+00:00"))
    alert = check_stuck(deps, run.run_id)
    assert alert is not None and alert.alert_type == "stuck_run"
    assert "stuck in TRIGGERING for 31m0s" in alert.message
    clock.set(at("2026-03-02T09:10:00+00:00"))
    assert check_stuck(deps, run.run_id) is None  # once per state


def test_past_the_validation_timeout_the_pipeline_stops_being_evaluated(harness: Harness) -> None:
    blocked(harness, extra="sla: {validationTimeout: 2h}\n")
    clock = FrozenClock(at("2026-03-02T01:00:00+00:00"))
    deps = harness.deps(clock)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    clock.set(at("2026-03-02T02:01:00+00:00"))
    assert advance(deps, "orders", "daily") is Outcome.TIMED_OUT
    assert categories(deps, "orders") == ["validation_timeout"]


def test_catch_up_runs_wait_until_the_pipeline_is_ready(harness: Harness) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\ncatchUp: all\n")
    clock = FrozenClock(at("2026-03-02T08:00:00+00:00"))
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    advance(deps, "orders", "daily")
    clock.set(at("2026-03-04T08:00:00+00:00"))
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY  # the 3rd was missed; not ready to run it
    from interlock.steps.push import push_trait

    push_trait(deps, "orders", "marker", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert [kw["period"] for step, kw in recorder.sent if step == "trigger"] == ["2026-03-03", "2026-03-04"]
