"""The watchdog: runs that stopped moving, and periods that passed while nobody was looking.

* Stuck runs: every run gets ``stuck:<run>`` due at its last change + ``watchdog.stuckRunThreshold``
  (TRIGGERING included). When due and the run has not moved, one ``stuck_run`` alert per state. A run
  still TRIGGERING after ``watchdog.recoverAfter`` whose target can be asked is settled by asking it
  first (steps/runs.py recover_start); its first look is due then.
* Missed periods (downtime): the advance step remembers the last period it saw for each
  schedule. When it comes back after a gap, the periods in between are handled by the
  pipeline's ``catchUp`` policy — ``skip`` (default: a ``SCHEDULE_MISSED`` event each, no alert
  storm), ``latest`` (run the most recent one) or ``all`` (run each) — forward-only: nothing before
  the first period a schedule was seen is ever reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock import timeutil
from interlock.model import (
    ACTIVE_RUN_STATUSES,
    Alert,
    AlertLevel,
    CatchUp,
    Event,
    EventKind,
    PipelineConfig,
    RunStatus,
    ScheduleConfig,
)
from interlock.periods import Period, RunKey, periods_between
from interlock.schedule import is_excluded_day, is_included_day
from interlock.steps.deps import Deps, watched_run
from interlock.steps.keys import stuck_key

# The most missed periods one catch-up looks at (a year of dailies, two weeks of hourlies): older
# ones are forgotten.
MAX_CATCH_UP = 366


def check_stuck(deps: Deps, run_id: str) -> Alert | None:
    key = stuck_key(run_id)
    run, active = watched_run(deps, run_id, key, ACTIVE_RUN_STATUSES)
    if run is not None and not active:
        from interlock.steps.runs import finish_interrupted  # the run steps import this module

        finish_interrupted(deps, run)
    if run is None or not active:
        return None
    threshold = deps.project.settings.stuck_run_threshold
    now = deps.clock.now()
    if run.status is RunStatus.TRIGGERING and now - run.updated_at >= deps.project.settings.recover_after:
        from interlock.steps.runs import recover_start  # the run steps import this module

        if recover_start(deps, run) is not None:
            return None
        if now - run.updated_at < threshold:  # the target did not answer: ask again later
            deps.store.set_due(key, min(now + deps.project.settings.recover_after, run.updated_at + threshold))
            return None
    if now - run.updated_at < threshold:
        deps.store.set_due(key, run.updated_at + threshold)
        return None
    deps.store.set_due(key, now + threshold)  # look again: it may move, or get stuck in a new state
    age = timeutil.format_duration(timedelta(seconds=int((now - run.updated_at).total_seconds())))
    hint = ("check the job at its target, then report it with `interlock complete " + run_id + " --status ...`"
            if run.status is RunStatus.RUNNING else "a worker may have died while starting it; check the trigger "
            "target for a job with this run id before running the pipeline again")
    message = f"Pipeline {run.pipeline_id} run {run_id} stuck in {run.status.value} for {age}. Next: {hint}"
    alert = Alert(level=AlertLevel.ERROR, alert_type="stuck_run", pipeline_id=run.pipeline_id, timestamp=now,
                  message=message,
                  details={"runId": run_id, "status": run.status.value, "scheduleId": RunKey.of_run(run).schedule,
                           "period": RunKey.of_run(run).period})
    if not deps.alerts.fire(alert, dedup_key=f"stuck_run:{run_id}:{run.status.value}"):
        return None
    deps.store.append_event(Event(kind=EventKind.RUN_STUCK, pipeline_id=run.pipeline_id, run_id=run_id,
                                  status=run.status.value, message=f"run stuck in {run.status.value} for {age}",
                                  timestamp=now, details={"ageSeconds": int((now - run.updated_at).total_seconds())}))
    return alert


def ensure_watched(deps: Deps, run_id: str, since: datetime) -> None:
    """Give an active run its stuck check if it has none: a worker that died (or lost Redis) between
    claiming the period and arming the watchdog left a run nothing would ever report."""
    key = stuck_key(run_id)
    if deps.store.due_at(key) is None:
        deps.store.set_due(key, since + deps.project.settings.stuck_run_threshold)


def missed_periods(deps: Deps, config: PipelineConfig, sched: ScheduleConfig, last_seen: Period,
                   current: Period) -> list[str]:
    """Keys of the periods strictly between ``last_seen`` and ``current``, oldest first, with no run and not excluded.

    Only the newest :data:`MAX_CATCH_UP` are looked at; older ones are forgotten.
    """
    between = periods_between(config, sched, last_seen.closes, current.opens)[-MAX_CATCH_UP:]
    # A date an inclusion calendar does not list is no missed period.
    return [p.key for p in between if not is_excluded_day(config, p.day, deps.project.calendars)
            and is_included_day(sched, p.day, deps.project.calendars)
            and deps.store.get_run_log(config.name, p.key, sched.name) is None]


def catch_up(deps: Deps, config: PipelineConfig, schedule: str, missed: list[str]) -> list[str]:
    """Apply the pipeline's catch-up policy to ``missed``; return the periods to run now."""
    policy = config.catch_up or CatchUp.SKIP
    to_run = [] if policy is CatchUp.SKIP else missed[-1:] if policy is CatchUp.LATEST else missed
    now = deps.clock.now()
    for period in missed:
        action = "run now" if period in to_run else "skipped"
        deps.store.append_event(Event(kind=EventKind.SCHEDULE_MISSED, pipeline_id=config.name, timestamp=now,
                                      status=action, message=f"period {period} passed while Interlock was not "
                                      f"running; catch-up policy {policy.value}: {action}",
                                      details={"scheduleId": schedule, "period": period, "catchUp": policy.value}))
    return to_run
