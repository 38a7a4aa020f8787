"""``triggerAnyway``: "run when the data arrives, or at 10:00 regardless".

A schedule may name an instant of its period (``"10:00"``: that wall time on the period's day, in
the schedule's zone; ``"+4h"``: that long after the period opens). Off by default. From that
instant on, an advance that finds the pipeline NOT_READY asks for the trigger anyway:

* only for a period with **no run yet** (attempt 1): a period that ran, is running, or is waiting
  out a retry is left alone, and a forced run that fails is retried only when READY, like any run;
* exactly once per period: the trigger step's claim is the same CAS as for a READY trigger, so
  two advances at 10:00 (the fast path and reconcile) start one job;
* on the record: a ``TRIGGER_FORCED`` event naming the failing and blocking traits and the run id,
  and one ``forced_trigger`` alert (warning) per (pipeline, schedule, period);
* on time: while the period waits, the advance's due entry is never later than the instant, so the
  due index brings the advance at 10:00 whatever the check interval;
* a validation timeout that passes first wins (the period is given up and no longer evaluated),
  and an instant that falls outside its period (a DST-short day) does not fire.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock.model import Alert, AlertLevel, Event, EventKind, PipelineConfig, ScheduleConfig
from interlock.periods import Period, RunKey, period_for_key
from interlock.schedule import find_schedule, wall_time
from interlock.steps.deps import Deps
from interlock.steps.evaluate import Evaluation


def forced_at(schedule: ScheduleConfig, period: Period) -> datetime | None:
    """The instant ``schedule``'s ``triggerAnyway`` names in ``period``; None without one or outside it."""
    at = schedule.trigger_anyway
    if at is None:
        return None
    instant = period.opens + at if isinstance(at, timedelta) else wall_time(at, period.day, period.zone)
    return instant if period.opens <= instant < period.closes else None


def _instant(config: PipelineConfig, evaluation: Evaluation, attempt: int) -> tuple[ScheduleConfig, Period,
                                                                                    datetime] | None:
    sched = find_schedule(config, evaluation.schedule)
    if sched.trigger_anyway is None or attempt != 1 or evaluation.ready:
        return None
    period = period_for_key(config, sched, evaluation.period)
    at = forced_at(sched, period)
    return (sched, period, at) if at is not None else None


def next_look(evaluation: Evaluation, attempt: int, now: datetime, look: datetime) -> datetime:
    """``look``, or the forced instant when that comes first (a NOT_READY period with no run yet)."""
    found = _instant(evaluation.pipeline, evaluation, attempt)
    return min(look, found[2]) if found is not None and found[2] > now else look


def trigger_anyway(deps: Deps, evaluation: Evaluation, attempt: int, now: datetime) -> bool:
    """Ask for the trigger of a NOT_READY period whose forced instant has come; True when asked."""
    config = evaluation.pipeline
    found = _instant(config, evaluation, attempt)
    if found is None or now < found[2]:
        return False
    sched, period, at = found
    key = RunKey(config.name, sched.name, period.key, 1)
    failing, blocking = evaluation.result.failing, evaluation.result.blocking
    named = ", ".join(blocking or failing) or "none"
    when = sched.trigger_anyway.text if sched.trigger_anyway is not None else ""
    message = (f"Pipeline {config.name} started anyway at its triggerAnyway {when} for {period.key} although "
               f"NOT_READY (blocked by: {named}); run {key.run_id}. Next: check the run's output, since its "
               "inputs were not confirmed")
    details = {"scheduleId": sched.name, "period": period.key, "runId": key.run_id, "failing": failing,
               "blocking": blocking, "forcedAt": at.isoformat()}
    fired = deps.alerts.fire(Alert(level=AlertLevel.WARNING, alert_type="forced_trigger", pipeline_id=config.name,
                                   timestamp=now, message=message, details=details),
                             dedup_key=f"forced_trigger:{key.dedup_suffix}")
    if fired:  # the alert's dedup makes the event once per period too
        deps.store.append_event(Event(kind=EventKind.TRIGGER_FORCED, pipeline_id=config.name, run_id=key.run_id,
                                      status=evaluation.result.status.value, timestamp=now,
                                      message=f"triggerAnyway: started although blocked by: {named}",
                                      details=details))
    deps.dispatch.send("trigger", pipeline=config.name, schedule=sched.name, period=period.key, attempt=1)
    return True
