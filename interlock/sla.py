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
from interlock.schedule import opens_at, schedule_zone, wall_time
from interlock.timetypes import Deadline


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
    opens = wall_time(opens_at(schedule), day, zone)
    sla = pipeline.sla
    labels: dict[str, str] = {}

    def resolve(deadline: Deadline | None, kind: str) -> datetime | None:
        if deadline is None:
            return None
        labels[kind] = deadline.text
        if isinstance(deadline, timedelta):
            return opens + deadline
        at = wall_time(deadline, day, zone)
        return at + timedelta(days=1) if at <= opens else at

    def either(sla_deadline: Deadline | None) -> Deadline | None:
        return schedule.deadline if schedule.deadline is not None else sla_deadline

    evaluation = resolve(either(sla.evaluation_deadline if sla else None), "evaluation")
    completion = resolve(either(sla.completion_deadline if sla else None), "completion")
    lead = sla.at_risk_lead_time if sla else None
    validation = opens + sla.validation_timeout if sla and sla.validation_timeout is not None else None
    return Window(period, opens, evaluation, completion, lead, validation, labels)


def has_sla(pipeline: PipelineConfig, schedule: ScheduleConfig) -> bool:
    """Whether the SLA check has anything to watch: a deadline, maxDuration, or listed dates (``include``)."""
    sla = pipeline.sla
    return schedule.deadline is not None or schedule.include is not None or (sla is not None and any(
        value is not None for value in (sla.evaluation_deadline, sla.completion_deadline, sla.validation_timeout,
                                        sla.max_duration)))


def previous_period(period: str) -> str:
    return (date.fromisoformat(period) - timedelta(days=1)).isoformat()


def late_by(deadline: datetime, at: datetime) -> str:
    return timeutil.format_duration(timedelta(seconds=int((at - deadline).total_seconds())))
