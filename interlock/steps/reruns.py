"""Reruns: run a pipeline again for a period it already ran (late data, a correction, drift).

A rerun is its own record (the original run is never touched) and its own run, claimed once per
rerun id, started when the pipeline is READY again. Its outcome is recorded on the rerun record
(COMPLETED / FAILED, with ``RERUN_COMPLETED``); reruns are not retried automatically.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from interlock import retry
from interlock.errors import RerunBudgetExhausted, RerunWithoutNewData, UnknownRun
from interlock.model import (
    Alert,
    AlertLevel,
    Event,
    EventKind,
    PipelineConfig,
    RerunRecord,
    RunLogEntry,
    RunState,
    RunStatus,
)
from interlock.periods import RunKey, period_at, period_for_key
from interlock.schedule import find_schedule
from interlock.steps.deps import Deps
from interlock.steps.dispatch import request_step
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import rerun_key
from interlock.steps.runs import confirm_claim, start_job
from interlock.steps.shadow import would_rerun
from interlock.store.base import TraitSource

# Enough of a pipeline's newest reruns to count one period's against its budgets.
BUDGET_SCAN = 1000


def request_rerun(deps: Deps, pipeline: str, reason: str, *, date: str | None = None, schedule: str | None = None,
                  description: str | None = None, force: bool = False) -> RerunRecord:
    """Record a manual rerun request (PENDING) and ask for it to be run.

    Raises UnknownPipeline/UnknownSchedule; RerunWithoutNewData when no trait result arrived after the
    period's last run (unless ``force``); RerunBudgetExhausted past ``retry.maxManualReruns``.
    """
    config = deps.pipeline(pipeline)
    sched = find_schedule(config, schedule)
    now = deps.clock.now()
    # A named period must be one of the schedule's (BadInput otherwise); by default the current one.
    period = period_for_key(config, sched, date).key if date else period_at(config, sched, now).key
    original = deps.store.get_run_log(pipeline, period, sched.name)
    earlier = [r for r in deps.store.list_reruns(pipeline, BUDGET_SCAN)
               if r.original_date == period and str((r.metadata or {}).get("scheduleId", "daily")) == sched.name]
    if not force:
        _refuse_without_new_data(deps, pipeline, period, original, earlier)
    _check_manual_budget(deps, config, sched.name, period, earlier, now)
    record = RerunRecord(rerun_id=f"rerun-{pipeline}-{uuid.uuid4().hex[:10]}", pipeline_id=pipeline,
                         original_date=period, original_run_id=original.run_id if original else None, reason=reason,
                         description=description, status=RunStatus.PENDING, requested_at=now,
                         metadata={"scheduleId": sched.name, **({"forced": True} if force else {})})
    deps.store.put_rerun(record)
    deps.store.append_event(Event(kind=EventKind.RERUN_REQUESTED, pipeline_id=pipeline, status="PENDING",
                                  timestamp=now, message=f"rerun {record.rerun_id} requested: {reason}",
                                  details={"rerunId": record.rerun_id, "date": period, "scheduleId": sched.name,
                                           "forced": force}))
    request_step(deps, rerun_key(record.rerun_id), "rerun", now, rerun_id=record.rerun_id)
    return record


def _refuse_without_new_data(deps: Deps, pipeline: str, period: str, original: RunLogEntry | None,
                             earlier: list[RerunRecord]) -> None:
    """The rerun guard: the period's last run (its run, or a later rerun) must predate a trait result."""
    runs = [(_started(deps, r), f"rerun {r.rerun_id}") for r in earlier]
    if original is not None:
        runs.append((original.started_at, original.run_id))
    if not runs:
        return  # the period never ran: nothing to compare with
    last_at, last_run = max(runs)
    results = deps.store.get_traits(pipeline, TraitSource.EVALUATOR) + deps.store.get_traits(pipeline,
                                                                                             TraitSource.PUSH)
    newest = max((t.evaluated_at for t in results), default=None)
    if newest is None or newest <= last_at:
        raise RerunWithoutNewData(pipeline, period, last_run, last_at.isoformat(),
                                  newest.isoformat() if newest else None)


def _started(deps: Deps, record: RerunRecord) -> datetime:
    """When a rerun's run started (after the evaluation that let it start); its request time until then."""
    if record.rerun_run_id:
        try:
            return deps.store.get_run(record.rerun_run_id).created_at
        except UnknownRun:
            pass  # expired before the record: the request time is the best we know
    return record.requested_at


def _check_manual_budget(deps: Deps, config: PipelineConfig, schedule: str, period: str,
                         earlier: list[RerunRecord], now: datetime) -> None:
    """Refuse past ``retry.maxManualReruns``, alerting once per period that the budget ran out."""
    limit = retry.policy_of(config.retry).max_manual_reruns
    if limit is None or retry.reruns_used(earlier, schedule, period, drift=False) < limit:
        return
    deps.alerts.fire(Alert(
        level=AlertLevel.WARNING, alert_type="rerun_budget_exhausted", pipeline_id=config.name, timestamp=now,
        message=(f"Pipeline {config.name}: manual rerun refused for {period}, the budget retry.{retry.MANUAL_BUDGET} "
                 f"({limit}) is used up. Next: find why the period keeps needing reruns, or raise the budget"),
        details={"scheduleId": schedule, "period": period, "budget": retry.MANUAL_BUDGET, "limit": limit},
    ), dedup_key=f"rerun_budget:{retry.MANUAL_BUDGET}:{config.name}:{schedule}:{period}")
    raise RerunBudgetExhausted(config.name, period, retry.MANUAL_BUDGET, limit)


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
    if won:
        confirm_claim(deps, f"rerun:{rerun_id}", run, key)
    deps.store.clear_due(key)
    if not won:
        return deps.store.get_rerun(rerun_id)
    deps.store.put_rerun(record.model_copy(update={"status": RunStatus.TRIGGERING, "rerun_run_id": run_id}))
    start_job(deps, config, run)
    return deps.store.get_rerun(rerun_id)
