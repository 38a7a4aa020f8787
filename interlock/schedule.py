"""Schedules and periods: which (schedule, period) an instant belongs to, in the right time zone.

A period is the business date ``YYYY-MM-DD`` of ``now`` in the schedule's time zone, falling back to
the pipeline's SLA time zone, then UTC — never the host's zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from interlock import timeutil
from interlock.calendars import is_dormant
from interlock.errors import UnknownSchedule
from interlock.model import Calendar, PipelineConfig, ScheduleConfig


def find_schedule(pipeline: PipelineConfig, name: str | None) -> ScheduleConfig:
    """The named schedule, or the pipeline's first one when ``name`` is None; raises UnknownSchedule."""
    schedules = pipeline.schedule_list()
    if name is None:
        return schedules[0]
    for schedule in schedules:
        if schedule.name == name:
            return schedule
    raise UnknownSchedule(pipeline.name, name, [s.name for s in schedules])


def schedule_zone(pipeline: PipelineConfig, schedule: ScheduleConfig) -> tzinfo:
    name = schedule.timezone or (pipeline.sla.timezone if pipeline.sla else None)
    return timeutil.zone(name) if name else UTC


def period_of(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> str:
    """The business date ``now`` falls on for this schedule."""
    return now.astimezone(schedule_zone(pipeline, schedule)).date().isoformat()


def _local(hour: int, minute: int, day: datetime, zone: tzinfo) -> datetime:
    # zoneinfo semantics: a wall time skipped by DST moves forward (02:30 on a spring-forward night is 03:30).
    return datetime.combine(day.date(), time(hour, minute), tzinfo=zone).astimezone(UTC)


def active_from(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> datetime:
    """When the schedule's window opens on ``now``'s business day (its ``after``, else midnight)."""
    zone = schedule_zone(pipeline, schedule)
    local = now.astimezone(zone)
    hour, minute = timeutil.parse_time_of_day(schedule.after) if schedule.after else (0, 0)
    return _local(hour, minute, local, zone)


def next_period_start(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> datetime:
    """When the next business day's window opens."""
    zone = schedule_zone(pipeline, schedule)
    tomorrow = now.astimezone(zone) + timedelta(days=1)
    hour, minute = timeutil.parse_time_of_day(schedule.after) if schedule.after else (0, 0)
    return _local(hour, minute, tomorrow, zone)


def is_excluded(pipeline: PipelineConfig, now: datetime, calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``now``'s day (in the SLA time zone, else UTC) is a dormant day for the pipeline."""
    zone = timeutil.zone(pipeline.sla.timezone) if pipeline.sla and pipeline.sla.timezone else UTC
    return is_excluded_day(pipeline, now.astimezone(zone).date(), calendars)


def is_excluded_day(pipeline: PipelineConfig, day: date, calendars: Mapping[str, Calendar]) -> bool:
    """Whether the business day ``day`` (a period) is dormant: inline days/dates, a calendar, holidays."""
    rules = pipeline.exclusions
    if rules is None:
        return False
    return is_dormant(rules.calendar, list(rules.days or []), list(rules.dates or []), day, calendars)
