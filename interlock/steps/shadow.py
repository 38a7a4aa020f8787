"""Shadow mode (``dryRun``): the same steps, with every side effect replaced by a record.

A pipeline in shadow is evaluated, gated, SLA-checked, watched and cascaded exactly like a live
one. The side effects go through the seams below instead:

* the trigger step's start (``runs.trigger``) records ``WOULD_TRIGGER`` (or ``WOULD_RETRY`` for a
  later attempt) once per (pipeline, schedule, period, attempt), with the run id, the instant and
  an SLA projection; no job is started and no run or run log is written;
* a rerun (``reruns.rerun``) records ``WOULD_RERUN`` and marks the request CANCELLED;
* alerts are stored marked ``details.shadow`` and reach no sink (``AlertDispatcher.shadow``).

The once-per-period guard is a key of its own (``shadow:<claim key>``), never the claim a live
trigger takes: removing ``dryRun`` mid-period lets the live trigger claim and start that period.

SLA projection (kept simple on purpose): the expected duration is the median of the pipeline's
last completed runs (``startedAt`` to ``completedAt``, up to ``HISTORY`` of them, from its run
logs); the projected finish is the would-trigger instant plus that; it would meet the completion
deadline when the finish is at or before it. With no completed run on record the projection says
so (``expectedDuration: null``) rather than guess.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median
from typing import Any

from interlock.errors import BadInput, UnknownSchedule
from interlock.model import (
    Event,
    EventKind,
    PipelineConfig,
    RerunRecord,
    RunState,
    RunStatus,
)
from interlock.periods import RunKey, period_for_key
from interlock.schedule import find_schedule
from interlock.sla import window
from interlock.steps.deps import Deps

# How many of the latest completed runs the duration projection takes the median of.
HISTORY = 10


def shadow_key(run_key: RunKey) -> str:
    """The shadow's once-per-attempt guard: beside the live claim key, never the same key."""
    return f"shadow:{run_key.claim_key}"


def started_key(pipeline: str, schedule: str, period: str) -> str:
    """Value: the instant the shadow would have triggered this period (the SLA check reads it)."""
    return f"shadow-started:{pipeline}:{schedule}:{period}"


def would_trigger(deps: Deps, config: PipelineConfig, run_key: RunKey, now: datetime) -> RunState:
    """Record, once per attempt, that the trigger would have started the job now; start nothing."""
    ttl = deps.project.settings.retention_ttl.total_seconds()
    run = RunState(run_id=run_key.run_id, pipeline_id=config.name, status=RunStatus.PENDING, version=1,
                   created_at=now, updated_at=now, metadata={**run_key.metadata(), "shadow": True},
                   schedule_id=run_key.schedule, period=run_key.period, attempt=run_key.attempt)
    if not deps.store.mark_once(shadow_key(run_key), ttl):
        return run
    deps.store.put_value(started_key(config.name, run_key.schedule, run_key.period), now.isoformat(), ttl=ttl)
    kind = EventKind.WOULD_TRIGGER if run_key.attempt == 1 else EventKind.WOULD_RETRY
    details: dict[str, Any] = {"scheduleId": run_key.schedule, "period": run_key.period, "runId": run_key.run_id,
                               "attempt": run_key.attempt, "at": now.isoformat(),
                               **projection(deps, config, run_key, now)}
    verb = "trigger" if run_key.attempt == 1 else f"retry (attempt {run_key.attempt})"
    deps.store.append_event(Event(kind=kind, pipeline_id=config.name, run_id=run_key.run_id, status="SHADOW",
                                  timestamp=now, message=f"shadow: would {verb} run {run_key.run_id}",
                                  details=details))
    return run


def shadow_started(deps: Deps, pipeline: str, schedule: str, period: str) -> bool:
    """Whether the shadow would have triggered this period (so no evaluation SLA alert is due for it)."""
    return deps.store.get_value(started_key(pipeline, schedule, period)) is not None


def would_rerun(deps: Deps, record: RerunRecord, now: datetime) -> RerunRecord:
    """Record that the rerun would have started now; the request ends CANCELLED (it starts nothing)."""
    deps.store.append_event(Event(kind=EventKind.WOULD_RERUN, pipeline_id=record.pipeline_id, status="SHADOW",
                                  timestamp=now, message=f"shadow: would start rerun {record.rerun_id}",
                                  details={"rerunId": record.rerun_id, "date": record.original_date,
                                           **(record.metadata or {})}))
    done = record.model_copy(update={"status": RunStatus.CANCELLED, "completed_at": now,
                                     "metadata": {**(record.metadata or {}), "shadow": True}})
    deps.store.put_rerun(done)
    return done


def expected_duration(deps: Deps, pipeline: str) -> timedelta | None:
    """The median duration of the pipeline's last completed runs; None when none is on record."""
    seconds = [(e.completed_at - e.started_at).total_seconds()
               for e in deps.store.list_run_logs(pipeline, limit=HISTORY * 3)
               if e.status is RunStatus.COMPLETED and e.completed_at is not None]
    return timedelta(seconds=median(seconds[:HISTORY])) if seconds else None


def projection(deps: Deps, config: PipelineConfig, run_key: RunKey, now: datetime) -> dict[str, Any]:
    """Would a run started now have met the period's completion deadline? (see the module docstring)"""
    deadline: datetime | None = None
    try:
        sched = find_schedule(config, run_key.schedule)
        deadline = window(config, sched, period_for_key(config, sched, run_key.period)).completion_deadline
    except (UnknownSchedule, BadInput):
        pass
    duration = expected_duration(deps, config.name)
    finish = now + duration if duration is not None else None
    return {"expectedDuration": duration.total_seconds() if duration is not None else None,
            "projectedFinish": finish.isoformat() if finish else None,
            "completionDeadline": deadline.isoformat() if deadline else None,
            "wouldMeetDeadline": (finish <= deadline) if finish is not None and deadline is not None else None}
