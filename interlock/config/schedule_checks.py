"""Checks of a schedule's ``include`` and ``triggerAnyway`` that need other fields or other files.

Like :func:`interlock.config.loader.check_pipeline` (which calls this), they work on the raw
mapping, so file loading and API registration refuse the same things with the same words; wrong
types and bad grammar are left to the field validation, which reports them on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta, tzinfo
from typing import Any

from interlock import timeutil
from interlock.calendars import HOLIDAYS_PREFIX, parse_holiday_calendar
from interlock.config.errors import did_you_mean
from interlock.cron import check_cron, shortest_period
from interlock.model import Calendar
from interlock.timetypes import Duration, TimeOfDay, parse_force_at

Problem = tuple[tuple[Any, ...], str]
DAY = timedelta(days=1)


def calendar_problem(name: str, calendars: Mapping[str, Calendar]) -> str | None:
    """Why ``name`` names no calendar (a YAML calendar or ``holidays:CC``), or None."""
    if name.startswith(HOLIDAYS_PREFIX):
        try:
            parse_holiday_calendar(name)
        except ValueError as exc:
            return str(exc)
        return None
    if name not in calendars:
        known = ", ".join(sorted(calendars)) or "none loaded"
        return f"unknown calendar {name!r}{did_you_mean(name, calendars)} (known: {known})"
    return None


def inclusion_and_force_problems(data: Mapping[str, Any], calendars: Mapping[str, Calendar]) -> list[Problem]:
    """(field path, message) pairs for every schedule's ``include`` and ``triggerAnyway``."""
    problems: list[Problem] = []
    schedules = data.get("schedules")
    for i, schedule in enumerate(schedules if isinstance(schedules, list) else []):
        if not isinstance(schedule, dict):
            continue
        problems += [(("schedules", i, *path), message) for path, message in _include(schedule.get("include"),
                                                                                        calendars)]
        problems += [(("schedules", i, *path), message) for path, message in _trigger_anyway(schedule,
                                                                                               data.get("sla"))]
    return problems


def _include(include: Any, calendars: Mapping[str, Calendar]) -> list[Problem]:
    if not isinstance(include, dict):
        return []
    calendar, dates = include.get("calendar"), include.get("dates")
    if calendar is None and not dates:
        # An empty inclusion would make the schedule never run: surely not what was meant.
        return [(("include",), "name a calendar or list at least one date (YYYY-MM-DD) the schedule runs on")]
    problem = calendar_problem(calendar, calendars) if isinstance(calendar, str) else None
    return [(("include", "calendar"), problem)] if problem else []


def _trigger_anyway(schedule: dict[str, Any], sla: Any) -> list[Problem]:
    """The forced instant must fall inside the period: from its opening to its end."""
    text = schedule.get("triggerAnyway")
    if not isinstance(text, str):
        return []
    try:
        at = parse_force_at(text)
    except ValueError:
        return []  # the field validation reports the grammar
    path = ("triggerAnyway",)
    cron = schedule.get("cron")
    if isinstance(cron, str):
        return [(path, problem)] if (problem := _cron_problem(text, at, cron, schedule, sla)) else []
    try:
        opens = TimeOfDay(schedule["after"]) if isinstance(schedule.get("after"), str) else TimeOfDay("00:00")
    except ValueError:
        return []
    from_midnight = timedelta(hours=opens.hour, minutes=opens.minute)
    if isinstance(at, Duration):
        if from_midnight + at >= DAY:
            return [(path, f"{text} after the window opens at {opens.text} is after the period ends (midnight, when "
                           f"the next day's period begins); at most {_longest(DAY - from_midnight)}")]
        return []
    if at < opens:
        return [(path, f"{text} is before the window opens at {opens.text}; use a time from {opens.text} "
                       "to 23:59, or +duration after it opens")]
    return []


def _cron_problem(text: str, at: TimeOfDay | Duration, cron: str, schedule: dict[str, Any], sla: Any) -> str | None:
    """A cron period has no time of day of its own; a duration must end before the shortest period does."""
    if isinstance(at, TimeOfDay):
        return (f"{text} is a time of day, which only a daily schedule has; this schedule runs on cron {cron!r}: "
                "use +duration after the period opens, e.g. '+30m'")
    try:
        check_cron(cron)
        zone_name = schedule.get("timezone") or (sla.get("timezone") if isinstance(sla, dict) else None)
        zone: tzinfo = timeutil.zone(zone_name) if isinstance(zone_name, str) else UTC
    except ValueError:
        return None  # the field validation reports a bad cron or zone
    shortest = shortest_period(cron, zone)
    if at >= shortest:
        return (f"{text} is after the period ends: cron {cron!r} has periods as short as "
                f"{timeutil.format_duration(shortest)}; use a shorter duration")
    return None


def _longest(room: timedelta) -> str:
    """The longest ``+duration`` (whole minutes) that still ends before ``room`` runs out."""
    hours, minutes = divmod(int(room.total_seconds()) // 60 - 1, 60)
    return "+" + (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")
