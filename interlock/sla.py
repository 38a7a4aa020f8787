"""SLA windows: when a period's window opens and its deadlines fall, in the schedule's zone.

Decisions (and why):

* Deadlines resolve against the **period's** business date, not "now": a run of D checked after
  midnight still has D's deadline.
* A time-of-day deadline at or before the window opens rolls to the next day (T+1): with
  ``after: "22:00"`` a ``deadline: "02:00"`` means 02:00 the next morning, and ``"00:00"`` without
  ``after`` means the end of D. (The reference resolved it to the same day and breached at once.)
* A duration deadline (``"+45m"``) counts from when the period opens, for every kind of schedule.
* ``":MM"`` (hourly cron schedules) is minute MM of the hour after the hour the period opens in:
  the 14:00 period with ``":15"`` is due at 15:15 (the reference's H+1 rule). The hour after is
  counted in real time, so on a DST night it is the next hour that actually happens.
* A cron period's deadlines are held within the period and the next one (interlock/config/
  schedules.py refuses longer ones): the SLA check looks at the current and the previous period.
* A schedule ``deadline`` is both the evaluation and the completion deadline (as in the
  reference); otherwise ``sla.evaluationDeadline`` / ``sla.completionDeadline``.
* ``validationTimeout`` counts from the window opening: past it, the pipeline stops being
  evaluated for that period (a hard stop) and one alert says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from interlock import timeutil
from interlock.model import PipelineConfig, ScheduleConfig
from interlock.periods import Period, period_for_key
from interlock.schedule import wall_time
from interlock.timetypes import Deadline, MinuteOfHour


@dataclass(frozen=True)
class Window:
    period: str
    opens: datetime
    evaluation_deadline: datetime | None
    completion_deadline: datetime | None
    at_risk_lead: timedelta | None
    validation_deadline: datetime | None
    labels: dict[str, str]


def window(pipeline: PipelineConfig, schedule: ScheduleConfig, period: str | Period) -> Window:
    """The SLA window of ``period`` (a key, or the Period) for this pipeline and schedule."""
    p = period if isinstance(period, Period) else period_for_key(pipeline, schedule, period)
    zone, day, opens = p.zone, p.day, p.opens
    sla = pipeline.sla
    labels: dict[str, str] = {}

    def resolve(deadline: Deadline | None, kind: str) -> datetime | None:
        if deadline is None:
            return None
        labels[kind] = deadline.text
        if isinstance(deadline, timedelta):
            return opens + deadline
        if isinstance(deadline, MinuteOfHour):
            hour = opens.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            return hour + timedelta(hours=1, minutes=int(deadline))
        at = wall_time(deadline, day, zone)
        return at + timedelta(days=1) if at <= opens else at

    def either(sla_deadline: Deadline | None) -> Deadline | None:
        return schedule.deadline if schedule.deadline is not None else sla_deadline

    evaluation = resolve(either(sla.evaluation_deadline if sla else None), "evaluation")
    completion = resolve(either(sla.completion_deadline if sla else None), "completion")
    lead = sla.at_risk_lead_time if sla else None
    validation = opens + sla.validation_timeout if sla and sla.validation_timeout is not None else None
    return Window(p.key, opens, evaluation, completion, lead, validation, labels)


def has_sla(pipeline: PipelineConfig, schedule: ScheduleConfig) -> bool:
    """Whether the SLA check has anything to watch: a deadline, maxDuration, or listed dates (``include``)."""
    sla = pipeline.sla
    return schedule.deadline is not None or schedule.include is not None or (sla is not None and any(
        value is not None for value in (sla.evaluation_deadline, sla.completion_deadline, sla.validation_timeout,
                                        sla.max_duration)))


def late_by(deadline: datetime, at: datetime) -> str:
    return timeutil.format_duration(timedelta(seconds=int((at - deadline).total_seconds())))
