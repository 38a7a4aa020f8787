"""Post-completion monitoring: while the window is open, a pipeline that stops being READY has
drifted (its data changed after the job ran) — record a rerun request and alert, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from interlock import lifecycle
from interlock.model import Alert, AlertLevel, Event, EventKind, RerunRecord, RunState, RunStatus
from interlock.periods import RunKey
from interlock.steps.deps import Deps, watched_run
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import monitor_key

DEFAULT_WINDOW = timedelta(hours=2)


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
    if evaluation.ready:
        deps.store.set_due(monitor_key(run_id), now + deps.check_interval(config))
        return run
    blocking = evaluation.result.blocking
    rerun = RerunRecord(rerun_id=f"rerun-{run_id}", pipeline_id=run.pipeline_id,
                        original_date=run_key.period, original_run_id=run_id,
                        reason="monitoring_drift_detected", status=RunStatus.PENDING, requested_at=now,
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
