"""Checks of a schedule against itself and the SLA: which deadline kinds fit which schedule kind.

Field grammar (a cron expression, a zone, a deadline's spelling) is checked by the models; what
needs two fields is checked here, on the raw mapping, for file loading and API registration alike:

* ``cron`` and ``after`` together: refused (a cron period opens at its fire times).
* ``":MM"`` deadlines need a cron schedule whose periods are at least an hour long (minute MM of
  the hour after the period opens falls before the next period ends).
* ``"HH:MM"`` deadlines need a daily schedule (a time of day means nothing to a 15-minute period).
* ``"+duration"`` deadlines on a cron schedule may not be longer than its shortest period: the
  deadline must fall while the period is still the current one or has just closed (a daily
  schedule's own ``deadline`` is held to 24h likewise).

The SLA's ``evaluationDeadline``/``completionDeadline`` apply to every schedule without a
``deadline`` of its own, so they are checked against each such schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from pydantic import ValidationError

from interlock import timeutil
from interlock.cron import longest_period, shortest_period
from interlock.model import ScheduleConfig, SLAConfig
from interlock.timetypes import Deadline, Duration, MinuteOfHour, TimeOfDay

Problem = tuple[tuple[Any, ...], str]


def schedule_problems(data: Mapping[str, Any], retention: timedelta | None = None) -> list[Problem]:
    """(field path, reason) for each schedule whose fields do not fit together.

    ``retention`` is how long the store keeps a period's run log and claim: a cron period longer
    than that would forget mid-period that it ran, and could run twice.
    """
    problems: list[Problem] = []
    sla = _parsed(SLAConfig, data.get("sla"))
    schedules = data.get("schedules")
    for i, raw in enumerate(schedules if isinstance(schedules, list) else []):
        schedule = _parsed(ScheduleConfig, raw)
        if schedule is None:
            continue  # its field errors are reported by the model's validation
        if schedule.cron is not None and schedule.after is not None:
            problems.append((("schedules", i, "after"),
                             f"cannot be combined with cron {schedule.cron!r}: a cron schedule's periods open at "
                             "its fire times (drop after, or drop cron for a daily schedule)"))
        if schedule.cron is not None and retention is not None:
            zone = schedule.timezone or (sla.timezone if sla and sla.timezone else UTC)
            longest = longest_period(schedule.cron, zone)
            if longest > retention:
                problems.append((("schedules", i, "cron"),
                                 f"periods of {schedule.cron!r} last up to {timeutil.format_duration(longest)}, longer "
                                 f"than the store keeps a period's runs (retentionTtl "
                                 f"{timeutil.format_duration(retention)}): the period could run twice; set "
                                 f"retentionTtl to at least {timeutil.format_duration(longest + timedelta(hours=1))}"))
        if schedule.deadline is not None:
            reason = deadline_problem(schedule, schedule.deadline, sla) or _daily_length(schedule)
            if reason:
                problems.append((("schedules", i, "deadline"), reason))
            continue
        for field, value in (("evaluationDeadline", sla.evaluation_deadline if sla else None),
                             ("completionDeadline", sla.completion_deadline if sla else None)):
            reason = deadline_problem(schedule, value, sla) if value is not None else None
            if reason:
                problems.append((("sla", field), f"{reason} (it applies to schedule {schedule.name!r}, "
                                                 "which has no deadline of its own)"))
    return problems


def deadline_problem(schedule: ScheduleConfig, deadline: Deadline, sla: SLAConfig | None) -> str | None:
    """Why ``deadline`` does not fit ``schedule``, or None."""
    if schedule.cron is None:
        if isinstance(deadline, MinuteOfHour):
            return (f"{deadline.text!r} (minute of the next hour) needs an hourly cron schedule; schedule "
                    f"{schedule.name!r} is daily: use HH:MM or a duration such as '+90m'")
        return None
    zone = schedule.timezone or (sla.timezone if sla and sla.timezone else UTC)
    shortest = shortest_period(schedule.cron, zone)
    if isinstance(deadline, TimeOfDay):
        return (f"{deadline.text!r} is a time of day, which only a daily schedule has; schedule {schedule.name!r} "
                f"runs on cron {schedule.cron!r}: use a duration after the period opens such as '+45m'"
                + (" or ':MM'" if shortest >= timedelta(hours=1) else ""))
    if isinstance(deadline, MinuteOfHour) and shortest < timedelta(hours=1):
        return (f"{deadline.text!r} (minute of the next hour) needs periods of an hour or more; cron "
                f"{schedule.cron!r} has periods of {timeutil.format_duration(shortest)}: use a duration such as '+5m'")
    if isinstance(deadline, Duration) and deadline > shortest:
        return (f"deadline {deadline.text!r} is longer than the shortest period of cron {schedule.cron!r} "
                f"({timeutil.format_duration(shortest)}): it would fall after the next period has begun")
    if isinstance(deadline, Duration) and deadline < timedelta(0):
        return f"deadline {deadline.text!r} is before the period opens: use a positive duration"
    return None


def _daily_length(schedule: ScheduleConfig) -> str | None:
    # Only a schedule's own duration deadline (new with cron) is held to a day; an SLA's duration
    # deadlines on daily schedules load as they always have.
    deadline = schedule.deadline
    if schedule.cron is None and isinstance(deadline, Duration) and deadline > timedelta(days=1):
        return f"deadline {deadline.text!r} is longer than the daily period (24h)"
    return None


def _parsed(model: type[ScheduleConfig] | type[SLAConfig], raw: Any) -> Any:
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None
