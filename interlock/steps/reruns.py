"""Reruns: run a pipeline again for a period it already ran (late data, a correction, drift).

A rerun is its own record (the original run is never touched) and its own run, claimed once per
rerun id, started when the pipeline is READY again. Its outcome is recorded on the rerun record
(COMPLETED / FAILED, with ``RERUN_COMPLETED``); reruns are not retried automatically.
"""

from __future__ import annotations

import uuid

from interlock.model import Event, EventKind, RerunRecord, RunState, RunStatus
from interlock.periods import RunKey, period_at, period_for_key
from interlock.schedule import find_schedule
from interlock.steps.deps import Deps
from interlock.steps.dispatch import request_step
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import rerun_key
from interlock.steps.runs import start_job
from interlock.steps.shadow import would_rerun


def request_rerun(deps: Deps, pipeline: str, reason: str, *, date: str | None = None, schedule: str | None = None,
                  description: str | None = None) -> RerunRecord:
    """Record a rerun request (PENDING) and ask for it to be run. Raises UnknownPipeline/UnknownSchedule."""
    config = deps.pipeline(pipeline)
    sched = find_schedule(config, schedule)
    now = deps.clock.now()
    # A named period must be one of the schedule's (BadInput otherwise); by default the current one.
    period = period_for_key(config, sched, date).key if date else period_at(config, sched, now).key
    original = deps.store.get_run_log(pipeline, period, sched.name)
    record = RerunRecord(rerun_id=f"rerun-{pipeline}-{uuid.uuid4().hex[:10]}", pipeline_id=pipeline,
                         original_date=period, original_run_id=original.run_id if original else None, reason=reason,
                         description=description, status=RunStatus.PENDING, requested_at=now,
                         metadata={"scheduleId": sched.name})
    deps.store.put_rerun(record)
    deps.store.append_event(Event(kind=EventKind.RERUN_REQUESTED, pipeline_id=pipeline, status="PENDING",
                                  timestamp=now, message=f"rerun {record.rerun_id} requested: {reason}",
                                  details={"rerunId": record.rerun_id, "date": period, "scheduleId": sched.name}))
    request_step(deps, rerun_key(record.rerun_id), "rerun", now, rerun_id=record.rerun_id)
    return record


def rerun(deps: Deps, rerun_id: str) -> RerunRecord | None:
    """Start a PENDING rerun once the pipeline is READY; re-check at its interval until then."""
    record = deps.store.get_rerun(rerun_id)
    key = rerun_key(rerun_id)
    if record is None or record.status is not RunStatus.PENDING:
        deps.store.clear_due(key)
        return record
    config = deps.pipeline(record.pipeline_id)
    schedule = str((record.metadata or {}).get("scheduleId", "daily"))
    now = deps.clock.now()
    if not evaluate(deps, record.pipeline_id, schedule).ready:
        deps.store.set_due(key, now + deps.check_interval(config))
        return record
    if deps.is_shadow(record.pipeline_id):  # shadow mode: record it, start nothing
        deps.store.clear_due(key)
        return would_rerun(deps, record, now)
    run_id = f"{rerun_id}-run"
    run_key = RunKey(record.pipeline_id, schedule, record.original_date, 1)
    fresh = RunState(run_id=run_id, pipeline_id=record.pipeline_id, status=RunStatus.TRIGGERING, version=1,
                     created_at=now, updated_at=now, metadata={**run_key.metadata(), "rerunId": rerun_id},
                     schedule_id=schedule, period=record.original_date, attempt=1)
    run, won = deps.store.claim(f"rerun:{rerun_id}", fresh)
    deps.store.clear_due(key)
    if not won:
        return deps.store.get_rerun(rerun_id)
    deps.store.put_rerun(record.model_copy(update={"status": RunStatus.TRIGGERING, "rerun_run_id": run_id}))
    start_job(deps, config, run)
    return deps.store.get_rerun(rerun_id)
