"""Schedules and periods: which (schedule, period) an instant belongs to, in the right time zone.

A period is the business date ``YYYY-MM-DD`` of ``now`` in the schedule's time zone, falling back to
the pipeline's SLA time zone, then UTC — never the host's zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from interlock.calendars import is_dormant, is_listed
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
    """The schedule's time zone, else the pipeline's SLA time zone, else UTC."""
    if schedule.timezone is not None:
        return schedule.timezone
    return sla_zone(pipeline)


def sla_zone(pipeline: PipelineConfig) -> tzinfo:
    """The pipeline's SLA time zone, else UTC."""
    return pipeline.sla.timezone if pipeline.sla and pipeline.sla.timezone is not None else UTC


def opens_at(schedule: ScheduleConfig) -> time:
    """The wall time a schedule's window opens each day: its ``after``, else midnight."""
    return schedule.after if schedule.after is not None else time(0, 0)


def period_of(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> str:
    """The business date ``now`` falls on for this schedule."""
    return now.astimezone(schedule_zone(pipeline, schedule)).date().isoformat()


def wall_time(at: time, day: date, zone: tzinfo) -> datetime:
    """The UTC instant of the wall time ``at`` on ``day`` in ``zone``."""
    # zoneinfo semantics: a wall time skipped by DST moves forward (02:30 on a spring-forward night is 03:30).
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def active_from(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> datetime:
    """When the schedule's window opens on ``now``'s business day (its ``after``, else midnight)."""
    zone = schedule_zone(pipeline, schedule)
    return wall_time(opens_at(schedule), now.astimezone(zone).date(), zone)


def next_period_start(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> datetime:
    """When the next business day's window opens."""
    zone = schedule_zone(pipeline, schedule)
    tomorrow = now.astimezone(zone) + timedelta(days=1)
    return wall_time(opens_at(schedule), tomorrow.date(), zone)


def is_excluded(pipeline: PipelineConfig, now: datetime, calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``now``'s day (in the SLA time zone, else UTC) is a dormant day for the pipeline."""
    return is_excluded_day(pipeline, now.astimezone(sla_zone(pipeline)).date(), calendars)


def is_excluded_day(pipeline: PipelineConfig, day: date, calendars: Mapping[str, Calendar]) -> bool:
    """Whether the business day ``day`` (a period) is dormant: inline days/dates, a calendar, holidays."""
    rules = pipeline.exclusions
    if rules is None:
        return False
    return is_dormant(rules.calendar, list(rules.days or []), list(rules.dates or []), day, calendars)


def is_included_day(schedule: ScheduleConfig, day: date, calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``schedule`` may run on ``day``: always without ``include``, else only on the days it lists.

    A day not listed is dormant like an excluded one; exclusions still apply to the listed days.
    """
    rules = schedule.include
    if rules is None:
        return True
    return is_listed(rules.calendar, [], list(rules.dates or []), day, calendars)
