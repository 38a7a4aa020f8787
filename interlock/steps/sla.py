"""The SLA check for one (pipeline, schedule): deadlines, at-risk warnings, validation timeout.

Driven by the due index (``sla:<pipeline>:<schedule>`` is due at the next instant that matters),
so Beat's cost grows with deadlines coming due, not with the number of pipelines. Every alert
fires once per (category, pipeline, schedule, period).

What each situation reports (decided here, where the reference was silent or noisy):

* not triggered by the evaluation deadline → ``evaluation_sla_breach`` (error); ahead of it by
  ``atRiskLeadTime`` → ``evaluation_sla_at_risk`` (warning). If Interlock never even evaluated the
  pipeline in that period (workers or Beat down) it is ``schedule_missed`` instead.
* not complete by the completion deadline → ``completion_sla_breach`` once, naming the run's state
  (a run that never started is the evaluation deadline's alert, when there is one).
  A run that completes late after that gets no second alert; one whose lateness nobody saw while
  running (the check ran after it completed) gets the breach then, saying how late it was.
* a run that failed for good before its completion deadline → one ``completion_sla_failed``
  alert at the time of the check, and no breach later (the failure already said what is wrong).
* past ``validationTimeout`` without a run → ``validation_timeout``; the pipeline is not
  evaluated again for that period.
* excluded days and deadlines that passed before the pipeline was registered report nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock import metrics
from interlock.errors import UnknownPipeline, UnknownSchedule
from interlock.model import SUCCEEDED_RUN_STATUSES, Alert, AlertLevel, Event, EventKind, RunLogEntry, RunStatus
from interlock.periods import Period, next_period, period_at, previous_period, seen_period
from interlock.schedule import find_schedule, is_excluded_day, is_included_day
from interlock.sla import Window, has_sla, late_by, window
from interlock.steps.deps import Deps
from interlock.steps.inclusion import check_listed_periods
from interlock.steps.keys import seen_key, sla_key
from interlock.steps.max_duration import check_max_duration
from interlock.steps.shadow import shadow_started

# A deadline is breached strictly after it: the check is scheduled just past it.
JUST_AFTER = timedelta(milliseconds=1)


def check_sla(deps: Deps, pipeline: str, schedule: str) -> list[Alert]:
    """Raise the SLA alerts due now for the current and previous period; schedule the next check."""
    key = sla_key(pipeline, schedule)
    try:
        config = deps.pipeline(pipeline)
        sched = find_schedule(config, schedule)
    except (UnknownPipeline, UnknownSchedule):
        deps.store.clear_due(key)
        return []
    if not has_sla(config, sched):
        deps.store.clear_due(key)
        return []
    now = deps.clock.now()
    current = period_at(config, sched, now)
    registered = deps.store.registered_at(pipeline)
    seen = seen_period(config, sched, deps.store.get_value(seen_key(pipeline, schedule)))
    fired: list[Alert] = []
    upcoming: list[datetime] = []
    for period in (previous_period(config, sched, current), current):
        if is_excluded_day(config, period.day, deps.project.calendars) or not is_included_day(
                sched, period.day, deps.project.calendars):
            continue
        w = window(config, sched, period)
        entry = deps.store.get_run_log(pipeline, period.key, schedule)
        if entry is None and deps.is_shadow(pipeline) and shadow_started(deps, pipeline, schedule, period.key):
            continue  # the shadow would have run it: its WOULD_TRIGGER event carries the SLA projection
        fired += _check_period(deps, pipeline, schedule, w, entry, registered, seen, now)
        upcoming += [t for t in _instants(w) if t > now]
    for more, later in (check_listed_periods(deps, config, sched, registered, now),
                        check_max_duration(deps, config, sched, now)):
        fired += more
        upcoming += later
    upcoming += [t for t in _instants(window(config, sched, next_period(config, sched, current))) if t > now]
    deps.store.set_due(key, min(upcoming) if upcoming else now + timedelta(days=1))
    return fired


def _instants(w: Window) -> list[datetime]:
    out: list[datetime] = []
    for deadline in (w.evaluation_deadline, w.completion_deadline):
        if deadline is None:
            continue
        out.append(deadline + JUST_AFTER)
        if w.at_risk_lead:
            out.append(deadline - w.at_risk_lead + JUST_AFTER)
    if w.validation_deadline:
        out.append(w.validation_deadline + JUST_AFTER)
    return out


def _check_period(deps: Deps, pipeline: str, schedule: str, w: Window, entry: RunLogEntry | None,
                  registered: datetime | None, seen: Period | None, now: datetime) -> list[Alert]:
    fired: list[Alert] = []
    started = entry is not None
    done = entry is not None and entry.status in SUCCEEDED_RUN_STATUSES
    gave_up = entry is not None and entry.status is RunStatus.FAILED and entry.alert_sent

    def fire(level: AlertLevel, category: str, message: str, dedup: str | None = None, **details: object) -> None:
        alert = Alert(level=level, alert_type=category, pipeline_id=pipeline, timestamp=now, message=message,
                      details={"scheduleId": schedule, "period": w.period, **details})
        if deps.alerts.fire(alert, dedup_key=f"{dedup or category}:{pipeline}:{schedule}:{w.period}"):
            fired.append(alert)
            metrics.count(deps.store, "interlock_sla_alerts_total", alert=category)
            if level is AlertLevel.ERROR:
                deps.store.append_event(Event(kind=EventKind.SLA_BREACHED, pipeline_id=pipeline, status=category,
                                              run_id=entry.run_id if entry else None, message=message, timestamp=now,
                                              details={"scheduleId": schedule, "period": w.period}))

    def before_registration(deadline: datetime) -> bool:
        return registered is not None and deadline <= registered

    deadline = w.evaluation_deadline
    if deadline and not before_registration(deadline) and not started and not gave_up:
        label = w.labels.get("evaluation", "")
        if now > deadline:
            if seen is None or seen.opens < w.opens:
                fire(AlertLevel.ERROR, "schedule_missed",
                     f"Pipeline {pipeline} schedule {schedule} missed: Interlock did not evaluate it for {w.period} "
                     f"before its deadline {label}. Next: check that the workers and Beat are running",
                     deadline=deadline.isoformat())
            else:
                readiness = deps.store.get_readiness(pipeline)
                blocking = ", ".join(readiness.blocking) if readiness and readiness.blocking else "see its events"
                fire(AlertLevel.ERROR, "evaluation_sla_breach",
                     f"Pipeline {pipeline} evaluation SLA breached: not ready by {label} on {w.period} "
                     f"(blocked by: {blocking})", deadline=deadline.isoformat())
        elif w.at_risk_lead and now > deadline - w.at_risk_lead:
            fire(AlertLevel.WARNING, "evaluation_sla_at_risk",
                 f"Pipeline {pipeline} evaluation SLA at risk: not ready yet, deadline {label} on {w.period}",
                 deadline=deadline.isoformat())
    if w.validation_deadline and not before_registration(w.validation_deadline) and not started \
            and now > w.validation_deadline:
        fire(AlertLevel.ERROR, "validation_timeout",
             f"Pipeline {pipeline} not ready within its validation timeout for {w.period}: no longer evaluated "
             "for this period. Next: fix the blocking traits, then `interlock run` it",
             deadline=w.validation_deadline.isoformat())
    deadline = w.completion_deadline
    if deadline and not before_registration(deadline):
        label = w.labels.get("completion", "")
        if gave_up and entry is not None:
            failed_at = entry.completed_at or entry.updated_at
            if failed_at <= deadline:
                fire(AlertLevel.ERROR, "completion_sla_failed",
                     f"Pipeline {pipeline} failed for good before its completion deadline {label} on {w.period}; "
                     "no breach alert will follow", dedup="completion_sla", runId=entry.run_id)
        elif done and entry is not None:
            completed_at = entry.completed_at or entry.updated_at
            if completed_at > deadline:
                fire(AlertLevel.ERROR, "completion_sla_breach",
                     f"Pipeline {pipeline} completion SLA breached: completed {late_by(deadline, completed_at)} "
                     f"after its deadline {label} on {w.period}", dedup="completion_sla", runId=entry.run_id)
        elif now > deadline and (entry is not None or w.evaluation_deadline is None):
            # Not started at all is the evaluation deadline's alert when there is one: one alert, not two.
            state = f"run {entry.run_id} still {entry.status.value}" if entry else "not started"
            fire(AlertLevel.ERROR, "completion_sla_breach",
                 f"Pipeline {pipeline} completion SLA breached: {state} past {label} on {w.period}",
                 dedup="completion_sla", runId=entry.run_id if entry else None)
        elif w.at_risk_lead and now > deadline - w.at_risk_lead:
            fire(AlertLevel.WARNING, "completion_sla_at_risk",
                 f"Pipeline {pipeline} completion SLA at risk: not complete yet, deadline {label} on {w.period}",
                 deadline=deadline.isoformat())
    return fired
