"""Periods and run identity: which window of a schedule an instant falls in, and how a run is named.

A **period** is the half-open window ``[opens, closes)`` of one schedule, ``closes`` being the
instant the next period opens. Two kinds of schedule make periods:

* **daily** (``after``/``deadline`` or nothing): the calendar day in the schedule's zone. Its key
  is the date, ``2026-03-01``, exactly as before periods were a type; ``opens`` is the day's
  ``after`` wall time (midnight without one) and ``closes`` the next day's. :func:`period_at`
  returns the calendar day of ``now`` even before the day's ``after``: the caller sees
  ``now < opens`` and waits (the advance step's WAITING).
* **cron** (``cron: "0 * * * *"``): each fire time of the expression, in the schedule's zone,
  opens a period that lasts until the next fire time. Fire times come from :mod:`cronsim`, which
  follows Debian cron across DST: a fire time inside a spring-forward gap fires at the first
  instant after the gap, and a job at a fixed time fires once on a fall-back night (in the first
  occurrence of the repeated hour) while an every-hour/every-minute job fires in both.

A cron key is the local wall time the period opens, ``YYYY-MM-DDTHHMM`` (``2026-03-01T1400``).
When a fall-back night repeats that wall time, the second occurrence carries its UTC offset:
``2026-10-25T0100`` (01:00 BST) then ``2026-10-25T0100p0000`` (01:00 GMT), ``m0500`` for -05:00.
So a key names its window without the zone's rules at hand, sorts in time order within a
schedule (``T0100`` < ``T0100p0000`` < ``T0200``), and uses only ``[A-Za-z0-9-]``: safe in an
Airflow ``dag_run_id``, a Step Functions execution name, an EMR Serverless client token and a
Redis or DynamoDB key part. Code that compares periods still compares ``opens`` instants, never keys.

The **run key** (pipeline, schedule, period, attempt) names a run in every place that needs it:
the run id (``orders-daily-2026-03-01-1``, also the idempotency key sent to the target), the claim
key and the run log's address. Daily keys and ids are unchanged, so stored runs need no migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from cronsim import CronSim

from interlock.cron import expression_of
from interlock.errors import BadInput
from interlock.model import DEFAULT_SCHEDULE, Calendar, PipelineConfig, RunState, ScheduleConfig
from interlock.schedule import is_excluded, is_excluded_day, opens_at, schedule_zone, wall_time

__all__ = [
    "Period",
    "RunKey",
    "is_cron",
    "is_excluded_period",
    "next_period",
    "period_at",
    "period_for_key",
    "periods_between",
    "previous_period",
    "seen_period",
]

# How far back :func:`period_at` looks for a cron fire time before calling the expression
# unsatisfiable in practice (cronsim itself gives up after 50 years).
_LOOKBACK_YEARS = 50
# The most periods :func:`periods_between` returns (about two years of hourly periods): a caller
# asking for more than this is asking for too much at once.
MAX_PERIODS = 20_000

_DATE_KEY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CRON_KEY = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2})([0-9]{2})(?:([pm])([0-9]{2})([0-9]{2}))?$")


@dataclass(frozen=True)
class Period:
    """One window ``[opens, closes)`` of a schedule, named by ``key``."""

    key: str
    opens: datetime  # UTC-aware instant the period opens
    closes: datetime  # UTC-aware instant the next period opens
    zone: tzinfo  # the schedule's zone

    @property
    def day(self) -> date:
        """The local calendar date of ``opens``: the business date (``${date}``)."""
        if _DATE_KEY.match(self.key):
            return date.fromisoformat(self.key)  # a daily period is its day, even with a late ``after``
        return self.opens.astimezone(self.zone).date()

    def contains(self, at: datetime) -> bool:
        return self.opens <= at < self.closes

    def template_values(self) -> dict[str, str]:
        """Trigger template values: period, periodStart/periodEnd (ISO, in the zone), date, hour, minute."""
        local = self.opens.astimezone(self.zone)
        # A daily period has no hour of its own: ``${hour}`` keeps its older meaning there (the
        # h00..h23 schedule name, interlock.triggers.template), so it is empty here.
        daily = _DATE_KEY.match(self.key) is not None
        return {"period": self.key, "periodStart": local.isoformat(),
                "periodEnd": self.closes.astimezone(self.zone).isoformat(), "date": self.day.isoformat(),
                "hour": "" if daily else f"{local.hour:02d}", "minute": "" if daily else f"{local.minute:02d}"}


def is_cron(schedule: ScheduleConfig) -> bool:
    return schedule.cron is not None


# -- cron fire times ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _after(expression: str, zone: tzinfo, at: datetime) -> datetime:
    """The first fire time strictly after ``at`` (UTC)."""
    fire = next(CronSim(expression, at.astimezone(zone)))
    return fire.astimezone(UTC)


def _at_or_before(expression: str, zone: tzinfo, at: datetime) -> datetime:
    """The last fire time at or before ``at`` (UTC); BadInput if there is none within 50 years."""
    whole = at.replace(microsecond=0) + timedelta(seconds=1)
    try:
        candidate = next(CronSim(expression, whole.astimezone(zone), reverse=True)).astimezone(UTC)
        while candidate > at:  # cronsim's reverse walk works on wall times: settle on the instant
            candidate = next(CronSim(expression, candidate.astimezone(zone), reverse=True)).astimezone(UTC)
    except StopIteration:
        raise BadInput(f"cron expression {expression!r} has not fired in {_LOOKBACK_YEARS} years") from None
    # Reverse walks resolve a repeated wall time to its first occurrence: forward is authoritative.
    following = _after(expression, zone, candidate)
    while following <= at:
        candidate, following = following, _after(expression, zone, following)
    return candidate


def _cron_period(pipeline: PipelineConfig, schedule: ScheduleConfig, opens: datetime) -> Period:
    zone = schedule_zone(pipeline, schedule)
    expression = _expression(schedule)
    return Period(_cron_key(opens, zone), opens, _after(expression, zone, opens), zone)


def _expression(schedule: ScheduleConfig) -> str:
    assert schedule.cron is not None
    return expression_of(schedule.cron)


def _cron_key(opens: datetime, zone: tzinfo) -> str:
    local = opens.astimezone(zone)
    key = local.strftime("%Y-%m-%dT%H%M")
    if local.replace(fold=0).astimezone(UTC) == opens:
        return key  # the first (or only) instant with this wall time
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "m" if minutes < 0 else "p"
    hours, rest = divmod(abs(minutes), 60)
    return f"{key}{sign}{hours:02d}{rest:02d}"


# -- daily periods --------------------------------------------------------------------------------


def _daily_period(pipeline: PipelineConfig, schedule: ScheduleConfig, day: date) -> Period:
    zone = schedule_zone(pipeline, schedule)
    at: time = opens_at(schedule)
    return Period(day.isoformat(), wall_time(at, day, zone), wall_time(at, day + timedelta(days=1), zone), zone)


# -- the contract ---------------------------------------------------------------------------------


def period_at(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> Period:
    """The period ``now`` falls in (for a daily schedule: ``now``'s calendar day in the zone)."""
    if is_cron(schedule):
        zone = schedule_zone(pipeline, schedule)
        return _cron_period(pipeline, schedule, _at_or_before(_expression(schedule), zone, now.astimezone(UTC)))
    return _daily_period(pipeline, schedule, now.astimezone(schedule_zone(pipeline, schedule)).date())


def period_for_key(pipeline: PipelineConfig, schedule: ScheduleConfig, key: str) -> Period:
    """The period named ``key``; BadInput (path ``period``) when no period of this schedule has that key."""
    if not isinstance(key, str):
        raise BadInput(f"period must be a string, got {type(key).__name__}", "period")
    if not is_cron(schedule):
        if not _DATE_KEY.match(key):
            raise BadInput(f"invalid period {key[:60]!r}: schedule {schedule.name!r} is daily, its periods are "
                           "dates YYYY-MM-DD, e.g. '2026-03-01'", "period")
        try:
            day = date.fromisoformat(key)
        except ValueError as exc:
            raise BadInput(f"invalid period {key!r}: {exc}", "period") from None
        return _daily_period(pipeline, schedule, day)
    match = _CRON_KEY.match(key)
    if match is None:
        example = period_at(pipeline, schedule, datetime(2026, 3, 2, 12, tzinfo=UTC)).key
        raise BadInput(f"invalid period {key[:60]!r}: schedule {schedule.name!r} runs on cron {schedule.cron!r}: "
                       f"its periods are local start times YYYY-MM-DDTHHMM, e.g. {example!r}", "period")
    zone = schedule_zone(pipeline, schedule)
    try:
        day = date.fromisoformat(match.group(1))
        wall = datetime.combine(day, time(int(match.group(2)), int(match.group(3))))
    except ValueError as exc:
        raise BadInput(f"invalid period {key!r}: {exc}", "period") from None
    # Either occurrence of the wall time; the key's spelling picks one (and must be the canonical one).
    for fold in (0, 1):
        opens = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        period = period_at(pipeline, schedule, opens)
        if period.key == key and period.opens == opens:
            return period
    raise BadInput(f"invalid period {key!r}: not a fire time of {schedule.cron!r} in {zone} "
                   f"(the period containing it is {period_at(pipeline, schedule, wall.replace(tzinfo=zone)).key!r})",
                   "period")


def next_period(pipeline: PipelineConfig, schedule: ScheduleConfig, period: Period) -> Period:
    """The period after ``period``."""
    if is_cron(schedule):
        return _cron_period(pipeline, schedule, period.closes)
    return _daily_period(pipeline, schedule, period.day + timedelta(days=1))


def previous_period(pipeline: PipelineConfig, schedule: ScheduleConfig, period: Period) -> Period:
    """The period before ``period``."""
    if is_cron(schedule):
        zone = schedule_zone(pipeline, schedule)
        return _cron_period(pipeline, schedule,
                            _at_or_before(_expression(schedule), zone, period.opens - timedelta(seconds=1)))
    return _daily_period(pipeline, schedule, period.day - timedelta(days=1))


def periods_between(pipeline: PipelineConfig, schedule: ScheduleConfig, start: datetime,
                    end: datetime) -> list[Period]:
    """The periods that open in ``[start, end)``, oldest first (at most :data:`MAX_PERIODS`, the newest)."""
    found = list(_walk(pipeline, schedule, start, end))
    return found[-MAX_PERIODS:]


def _walk(pipeline: PipelineConfig, schedule: ScheduleConfig, start: datetime, end: datetime) -> Iterator[Period]:
    if end <= start:
        return
    period = period_at(pipeline, schedule, start)
    if period.opens < start:
        period = next_period(pipeline, schedule, period)
    elif not is_cron(schedule):
        # A daily period can open after ``start`` on its day (``after``); the day before may too.
        earlier = previous_period(pipeline, schedule, period)
        if earlier.opens >= start:
            period = earlier
    while period.opens < end:
        yield period
        period = next_period(pipeline, schedule, period)


def is_excluded_period(pipeline: PipelineConfig, schedule: ScheduleConfig, period: Period, now: datetime,
                       calendars: Mapping[str, Calendar]) -> bool:
    """Whether ``period`` is dormant (exclusions, calendars, holidays), judged on its business date.

    A daily schedule asks about ``now``'s day in the SLA zone, as it always has; a cron period
    about the local date it opens on in the schedule's zone.
    """
    if is_cron(schedule):
        return is_excluded_day(pipeline, period.day, calendars)
    return is_excluded(pipeline, now, calendars)


def seen_period(pipeline: PipelineConfig, schedule: ScheduleConfig, key: str | None) -> Period | None:
    """The period a stored key names, or None when there is none or it no longer names one of this schedule's.

    Markers keep period keys as strings; a schedule edited from daily to cron (or to another
    expression) leaves keys behind that name nothing now: those count as never seen.
    """
    if not key:
        return None
    try:
        return period_for_key(pipeline, schedule, key)
    except BadInput:
        return None


# -- run identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunKey:
    """What a run is for: (pipeline, schedule, period key, attempt). Builds every name derived from it."""

    pipeline: str
    schedule: str
    period: str
    attempt: int = 1

    @property
    def run_id(self) -> str:
        """Deterministic, so it doubles as the idempotency key sent to the target."""
        return f"{self.pipeline}-{self.schedule}-{self.period}-{self.attempt}"

    @property
    def claim_key(self) -> str:
        """The store claim that keeps one run per (pipeline, schedule, period, attempt)."""
        return f"{self.pipeline}:{self.schedule}:{self.period}:{self.attempt}"

    @property
    def run_log_key(self) -> tuple[str, str, str]:
        """The run log's address, as ``Store.get_run_log(pipeline, period, schedule)`` takes it."""
        return self.pipeline, self.period, self.schedule

    @property
    def dedup_suffix(self) -> str:
        """``pipeline:schedule:period``: the tail of an alert's dedup key (one alert per period)."""
        return f"{self.pipeline}:{self.schedule}:{self.period}"

    def metadata(self) -> dict[str, Any]:
        """The run metadata keys runs have always carried (read back by runs stored before RunKey)."""
        return {"scheduleId": self.schedule, "period": self.period, "attempt": self.attempt}

    def with_attempt(self, attempt: int) -> RunKey:
        return RunKey(self.pipeline, self.schedule, self.period, attempt)

    @classmethod
    def of_run(cls, run: RunState) -> RunKey:
        """The key of a stored run: its fields, else (a run stored before they existed) its metadata."""
        meta = run.metadata
        schedule = run.schedule_id or str(meta.get("scheduleId") or DEFAULT_SCHEDULE)
        period = run.period if run.period is not None else str(meta.get("period", ""))
        attempt = run.attempt if run.attempt is not None else int(meta.get("attempt", 1))
        return cls(run.pipeline_id, schedule, period, attempt)
