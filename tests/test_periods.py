"""Periods of daily and cron schedules: windows, keys across DST, deadlines, template values, bad input."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from interlock.config.schedules import schedule_problems
from interlock.errors import BadInput
from interlock.model import PipelineConfig, RunState, RunStatus, ScheduleConfig
from interlock.periods import (
    Period,
    RunKey,
    next_period,
    period_at,
    period_for_key,
    periods_between,
    previous_period,
)
from interlock.sla import window
from interlock.triggers.aws import execution_name
from interlock.triggers.base import TriggerContext
from interlock.triggers.template import render

# Step Functions execution names, EMR Serverless tokens, Airflow run ids, Redis and DynamoDB key parts.
SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def pipeline(**schedule: Any) -> tuple[PipelineConfig, ScheduleConfig]:
    config = PipelineConfig.model_validate({"name": "orders", "archetype": "a",
                                            "schedules": [{"name": "s", **schedule}]})
    return config, config.schedule_list()[0]


def day_of(config: PipelineConfig, sched: ScheduleConfig, day: str) -> list[Period]:
    """Every period opening on ``day`` (local), walked with next_period from the first."""
    first = period_for_key(config, sched, f"{day}T0000")
    found = [first]
    while (following := next_period(config, sched, found[-1])).day == first.day:
        found.append(following)
    return found


def test_a_daily_period_keeps_its_date_key_run_id_and_claim_key() -> None:
    config, sched = pipeline(after="06:00", timezone="Europe/London")
    p = period_at(config, sched, datetime(2026, 3, 1, 5, tzinfo=UTC))
    assert p.key == "2026-03-01" and p.day == date(2026, 3, 1)
    assert (p.opens, p.closes) == (datetime(2026, 3, 1, 6, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC))
    key = RunKey("orders", "daily", p.key, 2)
    assert key.run_id == "orders-daily-2026-03-01-2"
    assert key.claim_key == "orders:daily:2026-03-01:2"
    assert key.run_log_key == ("orders", "2026-03-01", "daily")
    assert periods_between(config, sched, p.opens, p.opens + timedelta(days=3))[0] == p


@pytest.mark.parametrize(("zone", "day", "count", "repeated"), [
    ("Europe/London", "2026-03-29", 23, None),
    ("Europe/London", "2026-10-25", 25, ("2026-10-25T0100", "2026-10-25T0100p0000")),
    ("America/New_York", "2026-03-08", 23, None),
    ("America/New_York", "2026-11-01", 25, ("2026-11-01T0100", "2026-11-01T0100m0500")),
    ("America/New_York", "2026-06-15", 24, None),
])
def test_an_hourly_day_has_one_period_per_hour_that_happens(zone: str, day: str, count: int,
                                                            repeated: tuple[str, str] | None) -> None:
    config, sched = pipeline(cron="0 * * * *", timezone=zone)
    periods = day_of(config, sched, day)
    assert len(periods) == count
    keys = [p.key for p in periods]
    assert len(set(keys)) == count and keys == sorted(keys)  # unique, and spelled in time order
    assert all(p.closes - p.opens == timedelta(hours=1) for p in periods)
    if repeated:
        first, second = (p for p in periods if p.key in repeated)
        assert (first.key, second.key) == repeated and second.opens - first.opens == timedelta(hours=1)
    for p in periods:
        assert SAFE.match(p.key) and SAFE.match(RunKey("orders", "s", p.key, 9).run_id)
        assert period_for_key(config, sched, p.key) == p
        assert period_at(config, sched, p.opens) == p == period_at(config, sched, p.closes - timedelta(seconds=1))
        assert previous_period(config, sched, next_period(config, sched, p)) == p
    assert periods_between(config, sched, periods[0].opens, periods[-1].closes) == periods


def test_every_fifteen_minutes_runs_over_midnight_without_a_gap() -> None:
    config, sched = pipeline(cron="*/15 * * * *", timezone="Europe/London")
    periods = periods_between(config, sched, datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
                              datetime(2026, 3, 2, 0, 31, tzinfo=UTC))
    assert [p.key for p in periods] == ["2026-03-01T2330", "2026-03-01T2345", "2026-03-02T0000",
                                        "2026-03-02T0015", "2026-03-02T0030"]
    assert all(a.closes == b.opens for a, b in itertools.pairwise(periods))
    assert periods[2].day == date(2026, 3, 2) and periods[1].day == date(2026, 3, 1)


def test_a_monday_only_schedule_lasts_a_week() -> None:
    config, sched = pipeline(cron="0 6 * * 1", timezone="Europe/London")
    p = period_at(config, sched, datetime(2026, 3, 4, 12, tzinfo=UTC))  # a Wednesday
    assert p.key == "2026-03-02T0600" and p.closes == datetime(2026, 3, 9, 6, tzinfo=UTC)
    # Across the spring-forward Sunday: 06:00 BST is 05:00 UTC, a week less an hour later.
    before = period_for_key(config, sched, "2026-03-23T0600")
    assert before.closes == datetime(2026, 3, 30, 5, tzinfo=UTC) == next_period(config, sched, before).opens
    assert before.closes - before.opens == timedelta(days=7, hours=-1)


def test_a_fixed_time_fires_once_on_a_fall_back_night_and_after_the_gap_on_a_spring_forward_one() -> None:
    config, sched = pipeline(cron="30 1 * * *", timezone="Europe/London")
    autumn = period_for_key(config, sched, "2026-10-25T0130")
    assert autumn.opens == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert autumn.closes == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not again at 01:30 GMT
    spring = period_at(config, sched, datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert spring.key == "2026-03-29T0200" and spring.opens == datetime(2026, 3, 29, 1, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "key", "reason"), [
    ({}, "2026-03-01T1400", "is daily, its periods are dates"),
    ({}, "2026-02-30", "day is out of range"),
    ({"cron": "0 * * * *"}, "2026-03-01", "local start times YYYY-MM-DDTHHMM, e.g. '2026-03-02T1200'"),
    ({"cron": "0 * * * *"}, "2026-03-01T1415", "not a fire time"),
    ({"cron": "0 * * * *", "timezone": "Europe/London"}, "2026-03-29T0100", "not a fire time"),  # skipped hour
    ({"cron": "0 * * * *", "timezone": "Europe/London"}, "2026-10-25T0100p0100", "not a fire time"),
    ({"cron": "0 * * * *"}, "2026-03-01T1400#x", "local start times"),
])
def test_a_key_that_names_no_period_of_the_schedule_is_bad_input(schedule: dict[str, str], key: str,
                                                                 reason: str) -> None:
    config, sched = pipeline(**schedule)
    with pytest.raises(BadInput) as caught:
        period_for_key(config, sched, key)
    assert reason in str(caught.value) and caught.value.path == "period"


def test_deadlines_of_every_kind_resolve_against_the_period() -> None:
    config, sched = pipeline(cron="0 * * * *", timezone="Europe/London", deadline=":15")
    w = window(config, sched, "2026-10-25T0100p0000")  # 01:00 GMT = 01:00 UTC
    assert w.evaluation_deadline == datetime(2026, 10, 25, 2, 15, tzinfo=UTC)  # minute 15 of the hour after
    config, sched = pipeline(cron="*/15 * * * *", deadline="+10m")
    assert window(config, sched, "2026-03-01T2345").completion_deadline == datetime(2026, 3, 1, 23, 55, tzinfo=UTC)
    config, sched = pipeline(after="22:00", deadline="02:00")
    assert window(config, sched, "2026-03-01").evaluation_deadline == datetime(2026, 3, 2, 2, tzinfo=UTC)
    config, sched = pipeline(after="06:00", deadline="+90m")
    assert window(config, sched, "2026-03-01").evaluation_deadline == datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def test_templates_name_the_period_in_the_schedules_zone() -> None:
    config, sched = pipeline(cron="0 * * * *", timezone="America/New_York")
    p = period_for_key(config, sched, "2026-11-01T0100m0500")
    run_key = RunKey("orders", "s", p.key, 1)
    ctx = TriggerContext(run_key.run_id, "orders", "s", p.key, project_root=__import__("pathlib").Path("."),
                         template=p.template_values())
    text = "${period} ${periodStart} ${periodEnd} ${date} ${hour} ${minute}"
    assert render(text, ctx) == ("2026-11-01T0100m0500 2026-11-01T01:00:00-05:00 2026-11-01T02:00:00-05:00 "
                                 "2026-11-01 01 00")
    # A daily period keeps ${date} and the h00..h23 meaning of ${hour}.
    daily = TriggerContext("orders-h07-2026-03-01-1", "orders", "h07", "2026-03-01", __import__("pathlib").Path("."))
    assert render("${date} ${hour} ${period}", daily) == "2026-03-01 07 2026-03-01"


def test_a_long_run_id_stays_unique_per_period_in_every_target_id() -> None:
    name = "a" * 60
    first, second = (RunKey(name, "hourly", f"2026-03-01T{h}00", 1).run_id for h in ("13", "14"))
    assert execution_name(first) != execution_name(second) and len(execution_name(first)) <= 80
    from interlock.triggers.base import bounded_token
    assert bounded_token(first, 64) != bounded_token(second, 64) and len(bounded_token(first, 64)) == 64


def test_a_run_stored_before_run_keys_reads_its_key_from_metadata() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    old = RunState(run_id="orders-daily-2026-03-01-2", pipeline_id="orders", status=RunStatus.RUNNING, version=3,
                   created_at=now, updated_at=now, metadata={"scheduleId": "daily", "period": "2026-03-01",
                                                             "attempt": 2})
    assert RunKey.of_run(old) == RunKey("orders", "daily", "2026-03-01", 2)
    new = old.model_copy(update={"schedule_id": "s", "period": "2026-03-01T1400", "attempt": 1})
    assert RunKey.of_run(new) == RunKey("orders", "s", "2026-03-01T1400", 1)
    assert RunState.model_validate(new.to_json()) == new


@pytest.mark.parametrize(("schedule", "sla", "path", "reason"), [
    ({"cron": "61 * * * *"}, None, None, None),  # a field error: the model reports it
    ({"cron": "0 * * * *", "after": "06:00"}, None, "schedules.0.after", "cannot be combined with cron"),
    ({"deadline": ":15"}, None, "schedules.0.deadline", "needs an hourly cron schedule"),
    ({"cron": "*/15 * * * *", "deadline": ":15"}, None, "schedules.0.deadline", "periods of an hour or more"),
    ({"cron": "0 * * * *", "deadline": "+61m"}, None, "schedules.0.deadline", "longer than the shortest period"),
    ({"cron": "0 * * * *", "deadline": "09:00"}, None, "schedules.0.deadline", "only a daily schedule has"),
    ({"cron": "0 * * * *"}, {"completionDeadline": "+2h"}, "sla.completionDeadline", "applies to schedule 's'"),
    ({"deadline": "+25h"}, None, "schedules.0.deadline", "longer than the daily period"),
])
def test_schedule_fields_that_do_not_fit_together_are_named(schedule: dict[str, str], sla: dict[str, str] | None,
                                                             path: str | None, reason: str | None) -> None:
    data: dict[str, Any] = {"name": "orders", "archetype": "a", "schedules": [{"name": "s", **schedule}]}
    if sla:
        data["sla"] = sla
    problems = [(".".join(str(p) for p in where), why) for where, why in schedule_problems(data)]
    if path is None:
        assert problems == []
        return
    assert [p for p, _ in problems] == [path] and reason in problems[0][1]


def test_good_schedules_of_every_kind_pass_the_checks() -> None:
    for schedule in ({"cron": "0 * * * *", "deadline": ":30"}, {"cron": "@hourly", "deadline": "+45m"},
                     {"cron": "0 6 * * 1", "deadline": "+3h"}, {"after": "06:00", "deadline": "09:00"},
                     {"after": "06:00", "deadline": "+90m"}):
        data = {"name": "orders", "archetype": "a", "schedules": [{"name": "s", **schedule}]}
        assert schedule_problems(data) == []
