"""``sla.maxDuration``: a relative SLA, counted from when the period's data arrived.

"The data came in, so the run must be done within 2 hours" cannot be a wall-clock deadline when
the data arrives at a different time each period. The clock starts at the period's **first
passing trait** (an evaluator's PASS or a pushed PASS, whichever comes first; a result from before
the period opened counts from the opening), and the run must have *completed* within
``maxDuration`` of it.

* The arrival time is a value in the store (``arrived:<pipeline>:<schedule>:<period>``), written
  when the first PASS of the period is decided and only ever moved earlier, so it survives a
  restart and a second worker deciding the same period cannot move it later.
* Recording it arms the SLA check's due entry at the new deadline (and at its at-risk instant when
  ``atRiskLeadTime`` is set): the breach is driven by the due index, not by a later poll.
* ``duration_sla_breach`` fires once per (pipeline, schedule, period): when the deadline passes
  with the run not complete (whatever its state, or not started), or, for a run that completed
  late while nobody checked, when the check sees it. ``duration_sla_at_risk`` warns once ahead of it.
  A run that failed for good has its own alert and gets no breach.
* Periods with no passing trait have no relative deadline (the wall-clock deadlines cover them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from interlock import metrics, timeutil
from interlock.model import (
    SUCCEEDED_RUN_STATUSES,
    Alert,
    AlertLevel,
    Event,
    EventKind,
    PipelineConfig,
    RunStatus,
    ScheduleConfig,
    TraitEvaluation,
    TraitStatus,
)
from interlock.periods import Period, RunKey, period_at, period_for_key, periods_between
from interlock.schedule import find_schedule, is_excluded_day, is_included_day
from interlock.steps.deps import Deps
from interlock.steps.keys import arrival_key, sla_key

# A deadline is breached strictly after it: the check is scheduled just past it.
JUST_AFTER = timedelta(milliseconds=1)
# The most periods one check looks back over for a pending relative deadline (a maxDuration many
# times longer than a period, such as 2h on a */1 schedule, looks at 121): older ones are not re-checked.
MAX_LOOKBACK = 500


def note_arrival(deps: Deps, config: PipelineConfig, schedule: str, period: str,
                 evaluations: Sequence[TraitEvaluation]) -> None:
    """Remember when the period's first trait passed (for ``sla.maxDuration``); arm the check at its deadline."""
    max_duration = config.sla.max_duration if config.sla else None
    if max_duration is None:
        return  # no store access on the fast path of pipelines without a relative SLA
    passed = [e.evaluated_at for e in evaluations if e.status is TraitStatus.PASS]
    if not passed:
        return
    sched = find_schedule(config, schedule)
    window = period_for_key(config, sched, period)
    first = max(min(passed), window.opens)
    key = arrival_key(config.name, schedule, period)
    known = arrived_at(deps, config.name, schedule, period)
    if known is not None and known <= first:
        return
    ttl = max(deps.project.settings.retention_ttl, window.closes - window.opens + max_duration)
    deps.store.put_value(key, first.isoformat(), ttl=ttl.total_seconds())
    now = deps.clock.now()
    soonest = min((t for t in instants(config, first) if t > now), default=None)
    due = deps.store.due_at(sla_key(config.name, schedule))
    if soonest is not None and (due is None or soonest < due):
        deps.store.set_due(sla_key(config.name, schedule), soonest)


def arrived_at(deps: Deps, pipeline: str, schedule: str, period: str) -> datetime | None:
    """When the period's data first arrived, if it has."""
    stored = deps.store.get_value(arrival_key(pipeline, schedule, period))
    try:
        return datetime.fromisoformat(stored) if stored else None
    except ValueError:
        return None  # a damaged value: no relative deadline rather than a crashed check


def instants(config: PipelineConfig, arrived: datetime) -> list[datetime]:
    """When the SLA check must look for a period whose data arrived at ``arrived``."""
    sla = config.sla
    if sla is None or sla.max_duration is None:
        return []
    deadline = arrived + sla.max_duration
    out = [deadline + JUST_AFTER]
    if sla.at_risk_lead_time:
        out.append(deadline - sla.at_risk_lead_time + JUST_AFTER)
    return out


def check_max_duration(deps: Deps, config: PipelineConfig, sched: ScheduleConfig,
                       now: datetime) -> tuple[list[Alert], list[datetime]]:
    """The relative-SLA alerts due now over the periods that may still have one; the next instants."""
    max_duration = config.sla.max_duration if config.sla else None
    if max_duration is None:
        return [], []
    fired: list[Alert] = []
    upcoming: list[datetime] = []
    registered = deps.store.registered_at(config.name)
    calendars = deps.project.calendars
    oldest = period_at(config, sched, now - max_duration)
    for period in periods_between(config, sched, oldest.opens, now + JUST_AFTER)[-MAX_LOOKBACK:]:
        if is_excluded_day(config, period.day, calendars) or not is_included_day(sched, period.day, calendars):
            continue
        arrived = arrived_at(deps, config.name, sched.name, period.key)
        if arrived is None:
            continue
        alert = _check_period(deps, config, sched, period, arrived, registered, now)
        fired += [alert] if alert else []
        upcoming += [t for t in instants(config, arrived) if t > now]
    return fired, upcoming


def _check_period(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, period: Period, arrived: datetime,
                  registered: datetime | None, now: datetime) -> Alert | None:
    assert config.sla is not None and config.sla.max_duration is not None
    limit = config.sla.max_duration
    deadline = arrived + limit
    if registered is not None and deadline <= registered:
        return None
    key = RunKey(config.name, sched.name, period.key)
    entry = deps.store.get_run_log(*key.run_log_key)
    if entry is not None and entry.status is RunStatus.FAILED and entry.alert_sent:
        return None  # failed for good: its own alert said so
    since = f"its data arrived at {arrived.astimezone(period.zone).strftime('%H:%M')}"
    if entry is not None and entry.status in SUCCEEDED_RUN_STATUSES:
        completed = entry.completed_at or entry.updated_at
        if completed <= deadline:
            return None
        late = timeutil.format_duration(timedelta(seconds=int((completed - deadline).total_seconds())))
        return _fire(deps, config, sched, period, AlertLevel.ERROR, "duration_sla_breach", now, deadline,
                     f"Pipeline {config.name} maxDuration {limit.text} breached for {period.key}: completed "
                     f"{late} late ({since})", entry.run_id)
    state = f"run {entry.run_id} still {entry.status.value}" if entry else "not started"
    if now > deadline:
        return _fire(deps, config, sched, period, AlertLevel.ERROR, "duration_sla_breach", now, deadline,
                     f"Pipeline {config.name} maxDuration {limit.text} breached for {period.key}: {state} "
                     f"{limit.text} after {since}. Next: check the job, or why it has not started",
                     entry.run_id if entry else None)
    lead = config.sla.at_risk_lead_time
    if lead and now > deadline - lead:
        return _fire(deps, config, sched, period, AlertLevel.WARNING, "duration_sla_at_risk", now, deadline,
                     f"Pipeline {config.name} maxDuration {limit.text} at risk for {period.key}: {state}, due "
                     f"{deadline.astimezone(period.zone).strftime('%H:%M')} ({since})",
                     entry.run_id if entry else None)
    return None


def _fire(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, period: Period, level: AlertLevel,
          category: str, now: datetime, deadline: datetime, message: str, run_id: str | None) -> Alert | None:
    key = RunKey(config.name, sched.name, period.key)
    alert = Alert(level=level, alert_type=category, pipeline_id=config.name, timestamp=now, message=message,
                  details={"scheduleId": sched.name, "period": period.key, "deadline": deadline.isoformat(),
                           "maxDuration": config.sla.max_duration.text if config.sla and config.sla.max_duration
                           else None, "runId": run_id})
    if not deps.alerts.fire(alert, dedup_key=f"{category}:{key.dedup_suffix}"):
        return None
    metrics.count(deps.store, "interlock_sla_alerts_total", alert=category)  # the dashboard's SLA panel
    if level is AlertLevel.ERROR:
        deps.store.append_event(Event(kind=EventKind.SLA_BREACHED, pipeline_id=config.name, status=category,
                                      run_id=run_id, message=message, timestamp=now,
                                      details={"scheduleId": sched.name, "period": period.key}))
    return alert
