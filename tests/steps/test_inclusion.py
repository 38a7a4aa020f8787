"""Inclusion calendars: a schedule runs only on the dates it lists; a listed date that passes unrun alerts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlock.clock import FrozenClock
from interlock.model import EventKind, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.keys import advance_key, sla_key
from interlock.steps.push import push_trait
from interlock.steps.sla import check_sla
from tests.steps.conftest import Harness

TRIGGER = "trigger:\n  type: command\n  command: {command: 'true'}\n"
MONTH_ENDS = "name: month-ends\ndates: ['2026-01-30', '2026-02-27', '2026-03-31']\n"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def wire(deps: Deps) -> None:
    inline = InlineDispatcher(deps, only={"trigger"})
    deps.dispatch = inline


def month_end_close(harness: Harness, extra: str = "") -> None:
    """close: runs on the month-end calendar only, once t1 is pushed."""
    (harness.root / "calendars").mkdir(exist_ok=True)
    (harness.root / "calendars" / "month-ends.yaml").write_text(MONTH_ENDS)
    harness.extra = "calendarDirs: [./calendars]\n"
    harness.archetype("a", ["t1"])
    harness.pipeline("close", "a", {"t1": None},
                     extra=TRIGGER + "schedules:\n  - {name: monthly, include: {calendar: month-ends}}\n" + extra)


def alerts(deps: Deps) -> list[str]:
    return [a.alert_type or "" for a in check_sla(deps, "close", "monthly")]


def test_an_inclusion_calendar_runs_the_schedule_on_its_listed_dates_only(harness: Harness) -> None:
    month_end_close(harness)
    clock = FrozenClock(at("2026-03-02T12:00"))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "close", "t1", "PASS")
    for day in ("2026-03-02", "2026-03-16", "2026-03-30"):
        clock.set(at(f"{day}T12:00"))
        assert advance(deps, "close", "monthly") is Outcome.EXCLUDED
        # Dormant until the next period: the due index does not poll an unlisted day.
        next_day = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
        assert harness.store.due_at(advance_key("close", "monthly")) == at(f"{next_day}T00:00")
    assert harness.store.list_runs("close") == []
    clock.set(at("2026-03-31T09:00"))
    assert advance(deps, "close", "monthly") is Outcome.TRIGGERED
    entry = harness.store.get_run_log("close", "2026-03-31", "monthly")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert len(harness.store.list_runs("close")) == 1


def test_a_listed_date_that_passes_without_a_run_alerts_once_when_it_ends(harness: Harness) -> None:
    month_end_close(harness)
    clock = FrozenClock(at("2026-02-26T12:00"))
    deps = harness.deps(clock)
    assert advance(deps, "close", "monthly") is Outcome.EXCLUDED
    clock.set(at("2026-02-27T00:01"))
    assert alerts(deps) == []  # the 26th is not listed: passing it unrun is expected
    clock.set(at("2026-02-27T09:00"))
    assert advance(deps, "close", "monthly") is Outcome.NOT_READY  # t1 never arrives
    assert alerts(deps) == []
    due = harness.store.due_at(sla_key("close", "monthly"))
    assert due is not None and at("2026-02-28T00:00") < due <= at("2026-02-28T00:00:01")
    clock.set(at("2026-02-27T23:59"))
    assert alerts(deps) == []  # not passed yet: a late run is still a run
    clock.set(at("2026-02-28T00:01"))
    (alert,) = check_sla(deps, "close", "monthly")
    assert alert.alert_type == "irregular_schedule_missed"
    assert "listed date 2026-02-27" in alert.message and "interlock rerun close --date 2026-02-27" in alert.message
    for later in ("2026-02-28T09:00", "2026-03-01T00:01", "2026-03-01T12:00"):
        clock.set(at(later))
        assert alerts(deps) == []
    kinds = [e.event.status for e in harness.store.list_events("close") if e.event.kind is EventKind.SLA_BREACHED]
    assert kinds == ["irregular_schedule_missed"]


def test_a_listed_date_that_ran_does_not_alert(harness: Harness) -> None:
    month_end_close(harness)
    clock = FrozenClock(at("2026-02-27T09:00"))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "close", "t1", "PASS")
    assert advance(deps, "close", "monthly") is Outcome.TRIGGERED
    clock.set(at("2026-02-28T00:01"))
    assert alerts(deps) == []


def test_inline_dates_with_an_exclusion_on_a_listed_date_leave_that_date_dormant(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("close", "a", {"t1": None}, extra=TRIGGER + "exclusions: {dates: ['2026-03-31']}\n"
                     "schedules:\n  - {name: monthly, include: {dates: ['2026-03-31', '2026-04-30']}}\n")
    clock = FrozenClock(at("2026-03-31T09:00"))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "close", "t1", "PASS")
    assert advance(deps, "close", "monthly") is Outcome.EXCLUDED
    clock.set(at("2026-04-01T00:01"))
    assert alerts(deps) == []  # the exclusion wins: nothing was missed
    clock.set(at("2026-04-30T09:00"))
    assert advance(deps, "close", "monthly") is Outcome.TRIGGERED


def test_catch_up_after_downtime_runs_only_the_listed_dates(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("close", "a", {"t1": None}, extra=TRIGGER + "catchUp: all\n"
                     "schedules:\n  - {name: monthly, include: {dates: ['2026-03-02', '2026-03-04', '2026-03-06']}}\n")
    clock = FrozenClock(at("2026-03-02T09:00"))
    deps = harness.deps(clock)
    wire(deps)
    push_trait(deps, "close", "t1", "PASS")
    assert advance(deps, "close", "monthly") is Outcome.TRIGGERED
    clock.set(at("2026-03-06T09:00"))  # Interlock was down from the 2nd to the 6th
    assert advance(deps, "close", "monthly") is Outcome.TRIGGERED
    ran = sorted(e.date for e in harness.store.list_run_logs("close"))
    assert ran == ["2026-03-02", "2026-03-04", "2026-03-06"]  # the 3rd and 5th are not listed: never run
    missed = [(e.event.details or {}).get("period") for e in harness.store.list_events("close")
              if e.event.kind is EventKind.SCHEDULE_MISSED]
    assert missed == ["2026-03-04"]


def test_an_hourly_cron_schedule_runs_only_on_listed_dates_and_each_missed_period_alerts_once(
        harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("close", "a", {"t1": None}, extra=TRIGGER +
                     "schedules:\n  - {name: monthly, cron: '0 * * * *', include: {dates: ['2026-03-31']}}\n")
    clock = FrozenClock(at("2026-03-30T22:30"))
    deps = harness.deps(clock)
    assert advance(deps, "close", "monthly") is Outcome.EXCLUDED
    assert harness.store.due_at(advance_key("close", "monthly")) == at("2026-03-30T23:00")
    assert alerts(deps) == []
    # Judged at every period's end: the next look is when the 23:00 period ends.
    assert harness.store.due_at(sla_key("close", "monthly")) == at("2026-03-31T00:00") + timedelta(milliseconds=1)
    clock.set(at("2026-03-31T00:10"))
    assert advance(deps, "close", "monthly") is Outcome.NOT_READY  # listed: evaluated, t1 never arrives
    assert alerts(deps) == []  # the 30th's last period was not listed: nothing missed
    due = harness.store.due_at(sla_key("close", "monthly"))
    assert due is not None and at("2026-03-31T01:00") < due <= at("2026-03-31T01:00:01")
    clock.set(at("2026-03-31T01:00:01"))
    (alert,) = check_sla(deps, "close", "monthly")
    assert alert.details is not None and alert.details["period"] == "2026-03-31T0000"
    clock.set(at("2026-03-31T01:30"))
    assert alerts(deps) == []
