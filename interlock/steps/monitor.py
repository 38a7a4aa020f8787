"""Post-completion monitoring: while the window is open, a pipeline that stops being READY has
drifted (its data changed after the job ran) — record a rerun request and alert, once.
"""

from __future__ import annotations

from datetime import datetime

from interlock import lifecycle, retry
from interlock.model import (
    MONITORING_WINDOW,
    Alert,
    AlertLevel,
    Event,
    EventKind,
    MonitoringConfig,
    RerunRecord,
    RunState,
    RunStatus,
)
from interlock.periods import RunKey
from interlock.steps.deps import Deps, watched_run
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import monitor_key
from interlock.steps.reruns import BUDGET_SCAN
from interlock.store.base import TraitSource

DEFAULT_WINDOW = MONITORING_WINDOW


def monitor(deps: Deps, run_id: str) -> RunState | None:
    run, monitoring_now = watched_run(deps, run_id, monitor_key(run_id), (RunStatus.COMPLETED_MONITORING,))
    if run is None or not monitoring_now:
        return run
    config = deps.pipeline(run.pipeline_id)
    monitoring = config.watch.monitoring if config.watch else None
    window = monitoring.duration if monitoring and monitoring.duration is not None else DEFAULT_WINDOW
    now = deps.clock.now()
    started = _started(run)
    if started is None or now > started + window:
        return _finish(deps, run, now, EventKind.MONITORING_COMPLETED, "monitoring window ended with no drift")
    run_key = RunKey.of_run(run)
    evaluation = evaluate(deps, run.pipeline_id, run_key.schedule)
    timeout_at = _check_sensors(deps, list(evaluation.required), run, started, now, monitoring)
    if evaluation.ready:
        look = now + deps.check_interval(config)
        deps.store.set_due(monitor_key(run_id), min(look, timeout_at) if timeout_at and timeout_at > now else look)
        return run
    blocking = evaluation.result.blocking
    policy = retry.policy_of(config.retry)
    if policy.max_drift_reruns is not None:
        earlier = deps.store.list_reruns(run.pipeline_id, BUDGET_SCAN)
        if retry.reruns_used(earlier, run_key.schedule, run_key.period, drift=True) >= policy.max_drift_reruns:
            _drift_budget_exhausted(deps, run, run_key, blocking, policy.max_drift_reruns, now)
            return _finish(deps, run, now, None, "")
    rerun = RerunRecord(rerun_id=f"rerun-{run_id}", pipeline_id=run.pipeline_id,
                        original_date=run_key.period, original_run_id=run_id,
                        reason=retry.DRIFT_REASON, status=RunStatus.PENDING, requested_at=now,
                        description=f"trait drift detected during post-completion monitoring: {', '.join(blocking)}",
                        metadata={"blockingTraits": blocking, "scheduleId": run_key.schedule})
    deps.store.put_rerun(rerun)  # PENDING: `interlock rerun --id` (or the API) runs it when ready
    deps.store.append_event(Event(kind=EventKind.MONITORING_DRIFT_DETECTED, pipeline_id=run.pipeline_id,
                                  run_id=run_id, timestamp=now,
                                  message=f"trait drift detected, rerun {rerun.rerun_id} requested",
                                  details={"rerunId": rerun.rerun_id, "blockingTraits": blocking}))
    deps.alerts.fire(Alert(
        level=AlertLevel.WARNING, alert_type="trait_drift", pipeline_id=run.pipeline_id, timestamp=now,
        message=(f"Pipeline {run.pipeline_id}: trait drift detected during monitoring ({', '.join(blocking)}); "
                 f"rerun {rerun.rerun_id} requested. Next: `interlock rerun --id {rerun.rerun_id}` once the data is "
                 "right again"),
        details={"rerunId": rerun.rerun_id, "blockingTraits": blocking},
    ), dedup_key=f"drift:{run_id}")
    return _finish(deps, run, now, None, "")


def _check_sensors(deps: Deps, traits: list[str], run: RunState, started: datetime, now: datetime,
                   monitoring: MonitoringConfig | None) -> datetime | None:
    """Past ``sensorTimeout`` after completion, alert once about the traits with no result since then.

    A trait "reports" when a result (evaluated or pushed) is stored after the run completed. Returns
    when the timeout expires (None without one), so the caller can look again exactly then.
    """
    if monitoring is None or monitoring.sensor_timeout is None:
        return None
    timeout_at = started + monitoring.sensor_timeout
    if now < timeout_at:
        return timeout_at
    reported = {t.trait_type for source in (TraitSource.EVALUATOR, TraitSource.PUSH)
                for t in deps.store.get_traits(run.pipeline_id, source) if t.evaluated_at > started}
    missing = sorted(set(traits) - reported)
    if missing:
        deps.alerts.fire(Alert(
            level=AlertLevel.WARNING, alert_type="post_run_sensor_missing", pipeline_id=run.pipeline_id,
            timestamp=now,
            message=(f"Pipeline {run.pipeline_id}: no result from {', '.join(missing)} within "
                     f"monitoring.sensorTimeout ({monitoring.sensor_timeout.text}) of run {run.run_id} completing; "
                     "drift on them cannot be seen. Next: check the sensors that push or evaluate them"),
            details={"runId": run.run_id, "missingTraits": missing,
                     "sensorTimeoutSeconds": int(monitoring.sensor_timeout.total_seconds())},
        ), dedup_key=f"sensor_missing:{run.run_id}")
    return timeout_at


def _drift_budget_exhausted(deps: Deps, run: RunState, run_key: RunKey, blocking: list[str], limit: int,
                            now: datetime) -> None:
    """Drift again with ``retry.maxDriftReruns`` used up: no rerun, one alert per period naming the budget."""
    deps.alerts.fire(Alert(
        level=AlertLevel.WARNING, alert_type="rerun_budget_exhausted", pipeline_id=run.pipeline_id, timestamp=now,
        message=(f"Pipeline {run.pipeline_id}: trait drift detected again ({', '.join(blocking)}) but the budget "
                 f"retry.{retry.DRIFT_BUDGET} ({limit}) for {run_key.period} is used up: no rerun requested. "
                 "Next: find why the data keeps changing after the run, or rerun by hand"),
        details={"scheduleId": run_key.schedule, "period": run_key.period, "budget": retry.DRIFT_BUDGET,
                 "limit": limit, "blockingTraits": blocking, "runId": run.run_id},
    ), dedup_key=f"rerun_budget:{retry.DRIFT_BUDGET}:{run.pipeline_id}:{run_key.schedule}:{run_key.period}")


def _started(run: RunState) -> datetime | None:
    raw = run.metadata.get("monitoringStartedAt")
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def _finish(deps: Deps, run: RunState, now: datetime, kind: EventKind | None, message: str) -> RunState | None:
    moved = lifecycle.move(deps.store, run, RunStatus.COMPLETED, now)
    deps.store.clear_due(monitor_key(run.run_id))
    if moved is None:
        return deps.store.get_run(run.run_id)
    entry = deps.store.get_run_log(*RunKey.of_run(run).run_log_key)
    if entry is not None and entry.run_id == run.run_id:
        deps.store.put_run_log(entry.model_copy(update={"status": RunStatus.COMPLETED, "completed_at": now,
                                                       "updated_at": now}))
    if kind is not None:
        deps.store.append_event(Event(kind=kind, pipeline_id=run.pipeline_id, run_id=run.run_id, status="COMPLETED",
                                      message=message, timestamp=now))
    return moved
