"""Cron schedules through the steps, with an injected clock: one run per period, catch-up, deadlines, cascade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.model import RunLogEntry, RunStatus
from interlock.periods import period_for_key, periods_between
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.steps.runs import trigger
from interlock.steps.sla import check_sla
from tests.steps.conftest import Harness

# Each run appends its period key and ${date} ${hour}:${minute} to ./runs.
RECORD = ("trigger:\n  type: command\n"
          "  command: {command: 'sh -c \"echo ${period} ${date} ${hour}:${minute} >> runs\"'}\n")


def wire(deps: Deps) -> InlineDispatcher:
    inline = InlineDispatcher()
    inline.handlers["trigger"] = lambda **kw: trigger(deps, **kw)
    deps.dispatch = inline
    return inline


def runs(harness: Harness) -> list[str]:
    path = harness.root / "runs"
    return path.read_text().splitlines() if path.exists() else []


def hourly(harness: Harness, zone: str = "UTC", evaluator: str = "pass", extra: str = "") -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": evaluator},
                     extra=RECORD + f"schedules:\n  - {{name: hourly, cron: '0 * * * *', timezone: {zone}}}\n" + extra)


@pytest.mark.parametrize(("zone", "day", "count"), [
    ("Europe/London", "2026-03-29", 23), ("Europe/London", "2026-10-25", 25),
    ("America/New_York", "2026-03-08", 23), ("America/New_York", "2026-11-01", 25),
])
def test_an_hourly_pipeline_runs_once_in_each_hour_of_a_dst_day(harness: Harness, zone: str, day: str,
                                                                 count: int) -> None:
    hourly(harness, zone)
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    deps = harness.deps(clock)
    wire(deps)
    config = deps.pipeline("orders")
    sched = config.schedule_list()[0]
    first = period_for_key(config, sched, f"{day}T0000")
    day_periods = [p for p in periods_between(config, sched, first.opens, first.opens + timedelta(hours=26))
                   if p.day == first.day]
    assert len(day_periods) == count
    for p in day_periods:
        clock.set(p.opens + timedelta(minutes=5))
        assert advance(deps, "orders", "hourly") is Outcome.TRIGGERED
        clock.set(p.opens + timedelta(minutes=40))
        assert advance(deps, "orders", "hourly") is Outcome.DONE  # once per period
        entry = harness.store.get_run_log("orders", p.key, "hourly")
        assert entry is not None and entry.status is RunStatus.COMPLETED and entry.run_id == f"orders-hourly-{p.key}-1"
    lines = runs(harness)
    assert [line.split()[0] for line in lines] == [p.key for p in day_periods]
    assert all(line.split()[1] == day for line in lines)
    hours = [line.split()[2] for line in lines]
    assert len(set(hours)) == 24 - (count == 23)  # the repeated hour says 01:00 twice; the skipped one never


@pytest.mark.parametrize(("policy", "caught_up"), [
    ("skip", []), ("latest", ["T1600"]), ("all", ["T1100", "T1200", "T1300", "T1400", "T1500", "T1600"]),
])
def test_catch_up_after_a_six_hour_outage_follows_the_policy(harness: Harness, policy: str,
                                                             caught_up: list[str]) -> None:
    hourly(harness, extra=f"catchUp: {policy}\n")
    clock = FrozenClock(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    advance(deps, "orders", "hourly")  # 10:00 seen
    clock.set(datetime(2026, 3, 2, 17, 5, tzinfo=UTC))  # down from 10:05 until 17:05: 11:00 .. 16:00 missed
    recorder.sent.clear()
    assert advance(deps, "orders", "hourly") is Outcome.TRIGGERED
    periods = [kw["period"] for step, kw in recorder.sent if step == "trigger"]
    assert periods == [f"2026-03-02{t}" for t in caught_up] + ["2026-03-02T1700"]  # in order, the current last
    missed = [r.event.details["period"] for r in harness.store.list_events("orders", 100)
              if r.event.kind.value == "SCHEDULE_MISSED" and r.event.details]
    assert sorted(missed) == [f"2026-03-02T{h}00" for h in range(11, 17)]


def test_a_catch_up_all_runs_each_missed_hour_once(harness: Harness) -> None:
    hourly(harness, extra="catchUp: all\n")
    clock = FrozenClock(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    deps = harness.deps(clock)
    wire(deps)
    advance(deps, "orders", "hourly")
    clock.set(datetime(2026, 3, 2, 17, 5, tzinfo=UTC))
    advance(deps, "orders", "hourly")
    advance(deps, "orders", "hourly")
    assert [line.split()[0][11:] for line in runs(harness)] == [f"{h}00" for h in range(10, 18)]


def test_a_minute_deadline_alerts_once_per_hourly_period(harness: Harness) -> None:
    hourly(harness, evaluator="fail", extra="sla: {evaluationDeadline: ':15'}\n")
    clock = FrozenClock(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    deps = harness.deps(clock)
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY

    def alerts() -> list[tuple[str, str]]:
        return [(a.alert_type or "", str((a.details or {}).get("period"))) for a in check_sla(deps, "orders", "hourly")]

    clock.set(datetime(2026, 3, 2, 11, 5, tzinfo=UTC))
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY
    assert alerts() == []  # the 10:00 period's deadline is 11:15
    clock.set(datetime(2026, 3, 2, 11, 16, tzinfo=UTC))
    assert alerts() == [("evaluation_sla_breach", "2026-03-02T1000")]
    clock.set(datetime(2026, 3, 2, 11, 50, tzinfo=UTC))
    assert alerts() == []
    due = harness.store.due_at("sla:orders:hourly")
    assert due is not None and datetime(2026, 3, 2, 12, 15, tzinfo=UTC) < due < datetime(2026, 3, 2, 12, 16, tzinfo=UTC)
    clock.set(datetime(2026, 3, 2, 12, 16, tzinfo=UTC))
    assert alerts() == [("evaluation_sla_breach", "2026-03-02T1100")]
    assert alerts() == []


def test_a_duration_deadline_alerts_once_per_quarter_hour(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=RECORD + "schedules:\n  - {name: q, cron: '*/15 * * * *', "
                     "deadline: '+10m'}\n")
    clock = FrozenClock(datetime(2026, 3, 1, 23, 46, tzinfo=UTC))
    deps = harness.deps(clock)
    advance(deps, "orders", "q")
    clock.set(datetime(2026, 3, 1, 23, 56, tzinfo=UTC))
    assert [a.alert_type for a in check_sla(deps, "orders", "q")] == ["evaluation_sla_breach"]
    assert check_sla(deps, "orders", "q") == []
    clock.set(datetime(2026, 3, 2, 0, 1, tzinfo=UTC))  # over midnight: the 00:00 period
    advance(deps, "orders", "q")
    clock.set(datetime(2026, 3, 2, 0, 11, tzinfo=UTC))
    fired = check_sla(deps, "orders", "q")
    assert [(a.alert_type, (a.details or {}).get("period")) for a in fired] == [
        ("evaluation_sla_breach", "2026-03-02T0000")]


def test_the_same_push_triggers_once_in_an_hour_and_again_in_the_next(harness: Harness) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {}, extra=RECORD + "schedules:\n  - {name: hourly, cron: '@hourly'}\n")
    clock = FrozenClock(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    deps = harness.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "hourly") is Outcome.NOT_READY
    push_trait(deps, "orders", "marker", "PASS")
    assert advance(deps, "orders", "hourly") is Outcome.TRIGGERED
    push_trait(deps, "orders", "marker", "PASS")
    clock.set(datetime(2026, 3, 2, 10, 59, tzinfo=UTC))
    assert advance(deps, "orders", "hourly") is Outcome.DONE
    clock.set(datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
    assert advance(deps, "orders", "hourly") is Outcome.TRIGGERED
    assert [line.split()[0] for line in runs(harness)] == ["2026-03-02T1000", "2026-03-02T1100"]


def test_a_monday_report_skips_a_holiday_monday(harness: Harness) -> None:
    # A weekly period (7 days, 7d1h over a fall-back) outlasts the default 168h retention: keep runs longer.
    harness.redis = ", retentionTtl: 400h"
    harness.store.retention = timedelta(hours=400)
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra=RECORD + "schedules:\n  - {name: weekly, cron: '0 6 * * 1', timezone: Europe/London, "
                     "deadline: '+3h'}\nexclusions: {dates: ['2026-03-09']}\n")
    clock = FrozenClock(datetime(2026, 3, 2, 7, tzinfo=UTC))
    deps = harness.deps(clock)
    wire(deps)
    assert advance(deps, "orders", "weekly") is Outcome.TRIGGERED
    clock.set(datetime(2026, 3, 4, 7, tzinfo=UTC))  # Wednesday: still the week of the 2nd
    assert advance(deps, "orders", "weekly") is Outcome.DONE
    clock.set(datetime(2026, 3, 9, 7, tzinfo=UTC))  # the holiday Monday
    assert advance(deps, "orders", "weekly") is Outcome.EXCLUDED
    assert harness.store.due_at("advance:orders:weekly") == datetime(2026, 3, 16, 6, tzinfo=UTC)
    clock.set(datetime(2026, 3, 9, 10, tzinfo=UTC))
    assert check_sla(deps, "orders", "weekly") == []  # an excluded period has no deadline
    clock.set(datetime(2026, 3, 16, 6, 1, tzinfo=UTC))
    assert advance(deps, "orders", "weekly") is Outcome.TRIGGERED
    assert [line.split()[0] for line in runs(harness)] == ["2026-03-02T0600", "2026-03-16T0600"]


def test_a_daily_downstream_waits_for_every_hour_of_its_hourly_upstream(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.archetype("d", ["upstream"])
    hourly(harness, zone="Europe/London")
    (harness.root / "pipelines" / "report.yaml").write_text(
        "name: report\narchetype: d\ntraits:\n  upstream:\n    evaluator: 'builtin:upstream-job-log'\n"
        "    config: {upstreamPipeline: orders, upstreamSchedule: hourly, upstreamPeriods: day}\n"
        "schedules:\n  - {name: daily, timezone: Europe/London}\n")
    clock = FrozenClock(datetime(2026, 10, 25, 23, 30, tzinfo=UTC))
    deps = harness.deps(clock)
    config = deps.pipeline("orders")
    sched = config.schedule_list()[0]
    day = [p for p in periods_between(config, sched, datetime(2026, 10, 24, 23, tzinfo=UTC),
                                      datetime(2026, 10, 26, tzinfo=UTC)) if str(p.day) == "2026-10-25"]
    assert len(day) == 25
    for p in day[:-1]:
        harness.store.put_run_log(RunLogEntry(pipeline_id="orders", date=p.key, schedule_id="hourly",
                                              status=RunStatus.COMPLETED, attempt_number=1,
                                              run_id=f"orders-hourly-{p.key}-1", started_at=p.opens,
                                              updated_at=p.opens))
    waiting = evaluate(deps, "report", "daily")
    assert not waiting.ready
    assert "1 of 25 periods of 2026-10-25 not completed (hourly): 2026-10-25T2300" in (
        waiting.result.traits[0].reason or "")
    last = day[-1]
    harness.store.put_run_log(RunLogEntry(pipeline_id="orders", date=last.key, schedule_id="hourly",
                                          status=RunStatus.COMPLETED, attempt_number=1,
                                          run_id=f"orders-hourly-{last.key}-1", started_at=last.opens,
                                          updated_at=last.opens))
    assert evaluate(deps, "report", "daily").ready
