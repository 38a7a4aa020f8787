"""SLA windows: when a period's window opens and its deadlines fall, in the schedule's zone.

Decisions (and why):

* Deadlines resolve against the **period's** business date, not "now": a run of D checked after
  midnight still has D's deadline.
* A time-of-day deadline at or before the window opens rolls to the next day (T+1): with
  ``after: "22:00"`` a ``deadline: "02:00"`` means 02:00 the next morning, and ``"00:00"`` without
  ``after`` means the end of D. (The reference resolved it to the same day and breached at once.)
* A duration deadline (``"+45m"``) counts from when the window opens.
* A schedule ``deadline`` is both the evaluation and the completion deadline (as in the
  reference); otherwise ``sla.evaluationDeadline`` / ``sla.completionDeadline``.
* ``validationTimeout`` counts from the window opening: past it, the pipeline stops being
  evaluated for that period (a hard stop) and one alert says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from interlock import timeutil
from interlock.model import PipelineConfig, ScheduleConfig
from interlock.schedule import _local, schedule_zone


@dataclass(frozen=True)
class Window:
    period: str
    opens: datetime
    evaluation_deadline: datetime | None
    completion_deadline: datetime | None
    at_risk_lead: timedelta | None
    validation_deadline: datetime | None
    labels: dict[str, str]


def window(pipeline: PipelineConfig, schedule: ScheduleConfig, period: str) -> Window:
    """The SLA window of ``period`` (``YYYY-MM-DD``) for this pipeline and schedule."""
    zone = schedule_zone(pipeline, schedule)
    day = date.fromisoformat(period)
    hour, minute = timeutil.parse_time_of_day(schedule.after) if schedule.after else (0, 0)
    opens = _local(hour, minute, datetime.combine(day, datetime.min.time()), zone)
    sla = pipeline.sla
    labels: dict[str, str] = {}

    def resolve(text: str | None, kind: str) -> datetime | None:
        if not text:
            return None
        labels[kind] = text
        parsed = timeutil.parse_deadline(text)
        if isinstance(parsed, timedelta):
            return opens + parsed
        at = _local(parsed[0], parsed[1], datetime.combine(day, datetime.min.time()), zone)
        return at + timedelta(days=1) if at <= opens else at

    evaluation = resolve(schedule.deadline or (sla.evaluation_deadline if sla else None), "evaluation")
    completion = resolve(schedule.deadline or (sla.completion_deadline if sla else None), "completion")
    lead = timeutil.parse_duration(sla.at_risk_lead_time) if sla and sla.at_risk_lead_time else None
    validation = opens + timeutil.parse_duration(sla.validation_timeout) if sla and sla.validation_timeout else None
    return Window(period, opens, evaluation, completion, lead, validation, labels)


def has_sla(pipeline: PipelineConfig, schedule: ScheduleConfig) -> bool:
    sla = pipeline.sla
    return bool(schedule.deadline or (sla and (sla.evaluation_deadline or sla.completion_deadline
                                               or sla.validation_timeout)))


def previous_period(period: str) -> str:
    return (date.fromisoformat(period) - timedelta(days=1)).isoformat()


def late_by(deadline: datetime, at: datetime) -> str:
    return timeutil.format_duration(timedelta(seconds=int((at - deadline).total_seconds())))
