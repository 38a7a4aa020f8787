"""Periods, windows and exclusions in the schedule's time zone, from an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

from interlock.model import Calendar, PipelineConfig
from interlock.schedule import active_from, find_schedule, is_excluded, next_period_start, period_of


def pipeline(**extra: object) -> PipelineConfig:
    return PipelineConfig.model_validate({"name": "orders", "archetype": "a", **extra})


def test_the_period_is_the_date_in_the_schedule_zone_not_utc() -> None:
    p = pipeline(schedules=[{"name": "ny", "timezone": "America/New_York"}])
    late_evening_ny = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 22:00 on March 1st in New York
    assert period_of(p, find_schedule(p, "ny"), late_evening_ny) == "2026-03-01"


def test_the_sla_zone_is_the_fallback_then_utc() -> None:
    with_sla = pipeline(sla={"timezone": "Asia/Tokyo"})
    assert period_of(with_sla, find_schedule(with_sla, None), datetime(2026, 3, 1, 20, tzinfo=UTC)) == "2026-03-02"
    plain = pipeline()
    assert period_of(plain, find_schedule(plain, None), datetime(2026, 3, 1, 23, 59, tzinfo=UTC)) == "2026-03-01"


def test_the_window_opens_at_after_in_the_schedule_zone() -> None:
    p = pipeline(schedules=[{"name": "morning", "after": "06:30", "timezone": "Europe/London"}])
    s = find_schedule(p, "morning")
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert active_from(p, s, summer) == datetime(2026, 7, 1, 5, 30, tzinfo=UTC)  # BST
    assert next_period_start(p, s, summer) == datetime(2026, 7, 2, 5, 30, tzinfo=UTC)


def test_a_window_opening_in_a_dst_gap_moves_forward() -> None:
    p = pipeline(schedules=[{"name": "s", "after": "02:30", "timezone": "America/New_York"}])
    spring_forward = datetime(2026, 3, 8, 12, tzinfo=UTC)  # 02:30 does not exist that day
    assert active_from(p, find_schedule(p, "s"), spring_forward) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_exclusions_union_inline_days_and_named_calendars() -> None:
    p = pipeline(exclusions={"calendar": "holidays", "days": ["Saturday"]})
    calendars = {"holidays": Calendar(name="holidays", dates=["2026-12-25"])}
    assert is_excluded(p, datetime(2026, 12, 25, 12, tzinfo=UTC), calendars)  # a Friday, a listed date
    assert is_excluded(p, datetime(2026, 12, 26, 12, tzinfo=UTC), calendars)  # a Saturday
    assert not is_excluded(p, datetime(2026, 12, 28, 12, tzinfo=UTC), calendars)
    assert not is_excluded(pipeline(), datetime(2026, 12, 26, 12, tzinfo=UTC), calendars)


def test_exclusions_use_the_sla_zone() -> None:
    p = pipeline(sla={"timezone": "Asia/Tokyo"}, exclusions={"days": ["saturday"]})
    friday_night_utc = datetime(2026, 3, 6, 20, tzinfo=UTC)  # already Saturday in Tokyo
    assert is_excluded(p, friday_night_utc, {})
