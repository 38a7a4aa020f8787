"""Triggering and finishing runs: the steps after a pipeline is READY.

* ``trigger``: claim (pipeline, schedule, period, attempt) atomically — at most one run per claim,
  whatever workers race or redeliver — write the run log *before* starting the job, start it with
  the run id as idempotency key, record RUNNING (poll it) or, for a synchronous trigger, finish.
  After a store reset (which forgot the claims) a period some other source knows ran is restored
  instead of claimed (steps/epoch.py, steps/prior_runs.py).
* ``recover_start``: a run still TRIGGERING ``watchdog.recoverAfter`` after its claim (its worker
  died, or the target's reply was lost) is settled by asking a target that can be asked
  (interlock.triggers.base.can_recover) for the job under the run's idempotency key, and starting it
  with that same key when the target has none; a ``TRIGGER_RECOVERED`` event says which (``found`` /
  ``restarted``). Targets that cannot be asked (command, lambda, glue, emr, dbt-cloud) are left to
  the stuck-run report.
* ``check_run``: poll a RUNNING job at its poll interval (a due time, never a countdown task).
* ``complete_run``: the completion callback.
* Finishing: success → COMPLETED (or COMPLETED_MONITORING), cascade to the pipelines downstream;
  failure → FAILED, then a retry at ``updatedAt + backoff`` or, when retries are exhausted or
  pointless, one alert.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from interlock import correlation, lifecycle, metrics, retry, tracing
from interlock.errors import BadInput, ClaimNotReplicated, InvalidTransition, UnknownPipeline, UnknownSchedule
from interlock.model import (
    ACTIVE_RUN_STATUSES,
    STARTED_RUN_STATUSES,
    Alert,
    AlertLevel,
    Event,
    EventKind,
    FailureCategory,
    PipelineConfig,
    RetryAttempt,
    RunLogEntry,
    RunState,
    RunStatus,
)
from interlock.periods import RunKey, period_at, period_for_key
from interlock.schedule import find_schedule
from interlock.steps import epoch, prior_runs
from interlock.steps.deps import Deps, shadow_of, watched_run
from interlock.steps.dispatch import request_advance
from interlock.steps.keys import advance_key, check_key, monitor_key, stuck_key
from interlock.steps.shadow import would_trigger
from interlock.steps.watchdog import ensure_watched
from interlock.store.base import EpochChanged
from interlock.triggers import JobState, Started, TriggerContext, TriggerError, recovery_for, trigger_for

log = logging.getLogger(__name__)


def run_id_for(pipeline: str, schedule: str, period: str, attempt: int) -> str:
    """Deterministic, so it doubles as the idempotency key sent to the target (RunKey.run_id)."""
    return RunKey(pipeline, schedule, period, attempt).run_id


def trigger(deps: Deps, pipeline: str, schedule: str, period: str, attempt: int) -> RunState:
    """Start the job for this (pipeline, schedule, period, attempt) unless it was already started."""
    config = deps.pipeline(pipeline)
    now = deps.clock.now()
    run_key = RunKey(pipeline, schedule, period, attempt)
    if shadow_of(deps.project, config):  # shadow mode: record what would start; claim and start nothing
        return would_trigger(deps, config, run_key, now)
    run_id = run_key.run_id
    # With tracing on, the run keeps the trace it was started in: its checks continue that trace.
    # CLAIM_ID tells this call's claim from any other's (see below).
    fresh = RunState(run_id=run_id, pipeline_id=pipeline, status=RunStatus.TRIGGERING, version=1, created_at=now,
                     updated_at=now, metadata={**run_key.metadata(), **tracing.inject(), CLAIM_ID: uuid.uuid4().hex},
                     schedule_id=schedule, period=period, attempt=attempt)
    prior: prior_runs.PriorRun | None = None
    claimed = _claim_in_known_store(deps, run_key, fresh, now)
    if claimed is None:  # the store may have been reset: check it, and ask who may know the period ran
        prior = _ran_before_reset(deps, pipeline, schedule, period, now)
        if prior is not None and prior.entry.attempt_number >= attempt:
            return prior_runs.restore(deps, prior)
        claimed = deps.store.claim(run_key.claim_key, fresh)
    run, won = claimed
    if not won and run.metadata.get(CLAIM_ID) == fresh.metadata[CLAIM_ID]:
        # This call's own claim: the store ran it, the reply was lost (the Redis primary died after
        # replicating it) and the client's retry on the new primary found it taken. Still ours.
        log.warning("run %s: the claim found is this call's own (its first reply was lost); starting the job", run_id)
        run, won = fresh, True  # as the claim wrote it: confirm_claim compares the stored run with it
    if not won:
        log.info("run %s already claimed (status %s): not starting it again", run.run_id, run.status)
        if run.status is RunStatus.TRIGGERING:  # its worker may have died before arming the watchdog
            ensure_watched(deps, run.run_id, run.updated_at)
        return run
    confirm_claim(deps, run_key.claim_key, run, advance_key(pipeline, schedule))
    previous = deps.store.get_run_log(*run_key.run_log_key) or (prior.entry if prior else None)
    history = list(previous.retry_history or []) if previous else []
    entry = RunLogEntry(pipeline_id=pipeline, date=period, schedule_id=schedule, status=RunStatus.TRIGGERING,
                        attempt_number=attempt, run_id=run_id, started_at=now, updated_at=now,
                        retry_history=history or None)
    return start_job(deps, config, run, entry)


def _claim_in_known_store(deps: Deps, run_key: RunKey, fresh: RunState,
                          now: datetime) -> tuple[RunState, bool] | None:
    """Claim with the epoch check in the claim itself (one round trip), when this process knows the store.

    None, having claimed nothing, when it must take the long way (:func:`_ran_before_reset`): the
    process has not seen the store's epoch yet, the epoch it saw was written by a heal within the
    retention (periods from before it may have run), or the claim found another epoch (a reset).
    """
    seen = deps.seen_epoch
    if seen is None or epoch.healed_within(seen, now, deps.project.settings.retention_ttl):
        return None
    try:
        return deps.store.claim(run_key.claim_key, fresh, seen.id)
    except EpochChanged:
        return None


# The run metadata key of a random id written with each claim: a claim that finds the period
# taken by a run with its own id made that run itself (docs/reliability.md, "Redis failover").
CLAIM_ID = "claimId"
# How soon a claim withdrawn for want of a replica's acknowledgement is tried again.
UNCONFIRMED_RETRY = timedelta(seconds=2)


def confirm_claim(deps: Deps, claim_key: str, run: RunState, retry_key: str) -> None:
    """Right after a won claim, before anything else: make sure a Redis failover cannot lose it.

    With ``redis.minReplicasAcked`` the claim must be on that many replicas (the store WAITs), or
    it is withdrawn and this raises ClaimNotReplicated: the job is not started, and ``retry_key``
    (the step that asked for this one) comes due again in UNCONFIRMED_RETRY to claim afresh.
    docs/reliability.md, "Redis failover", says what this guarantees and what it does not.
    """
    if deps.store.confirm_claim(claim_key, run):
        return
    log.warning("claim %s of run %s: no Redis replica acknowledged it within redis.replicaAckTimeout; "
                "withdrawn, the job is not started, tried again", claim_key, run.run_id)
    deps.store.set_due(retry_key, deps.clock.now() + UNCONFIRMED_RETRY)
    metrics.count(deps.store, "interlock_claims_unconfirmed_total")
    raise ClaimNotReplicated(claim_key)


def _ran_before_reset(deps: Deps, pipeline: str, schedule: str, period: str,
                      now: datetime) -> prior_runs.PriorRun | None:
    """The period's run that a source knows, when the store was reset recently (else None, unasked).

    One read of the store epoch per trigger; the sources are asked only within the store's
    retention after a reset (an intact store forgets older periods too).
    """
    if not epoch.verify(deps).reset_within(now, deps.project.settings.retention_ttl):
        return None
    if deps.store.get_run_log(pipeline, period, schedule) is not None:
        return None  # recorded since the reset: the claim decides as usual
    return prior_runs.already_ran(deps, pipeline, schedule, period)


def start_job(deps: Deps, config: PipelineConfig, run: RunState, entry: RunLogEntry | None = None) -> RunState:
    """Start the job of a freshly claimed TRIGGERING run and record what happened.

    ``entry``: the run log naming the run, written before the job starts (with its watchdog due
    time, in one round trip): a crash after that leaves a visible TRIGGERING run.
    """
    run_id = run.run_id
    if config.trigger is None:
        if entry is not None:
            deps.store.put_run_log(entry)
        return _failed(deps, config, run, "no trigger configured", FailureCategory.PERMANENT, EventKind.TRIGGER_FAILED)
    settings = deps.project.settings
    first_look = settings.recover_after if recovery_for(config.trigger.type) else settings.stuck_run_threshold
    with deps.store.batch():
        if entry is not None:
            deps.store.put_run_log(entry)
        # If this worker dies from here on, the watchdog finds the run by this due time: early enough
        # to ask the target (recover_start) when the trigger can be asked, else to report it stuck.
        deps.store.set_due(stuck_key(run_id), run.updated_at + min(first_look, settings.stuck_run_threshold))
    try:
        run_key = RunKey.of_run(run)
        with tracing.span("interlock.trigger.start", pipeline=config.name, schedule=run_key.schedule,
                          period=run_key.period, run_id=run_id, trigger=config.trigger.type.value):
            started = trigger_for(config.trigger.type).start(config.trigger, trigger_context(deps, config, run))
    except TriggerError as exc:
        return _failed(deps, config, run, str(exc), exc.category, EventKind.TRIGGER_FAILED)
    except Exception as exc:  # a bug in a trigger must still leave the run in a final state
        log.exception("trigger of %s raised", run_id)
        return _failed(deps, config, run, f"trigger error: {exc}", FailureCategory.TRANSIENT, EventKind.TRIGGER_FAILED)
    return record_start(deps, config, run, started)


def recover_start(deps: Deps, run: RunState) -> RunState | None:
    """Settle the TRIGGERING ``run`` by asking its target; None when it cannot be asked or did not answer."""
    config = deps.pipeline(run.pipeline_id)
    trigger = recovery_for(config.trigger.type) if config.trigger else None
    if trigger is None or config.trigger is None or run.status is not RunStatus.TRIGGERING:
        return None
    key = RunKey.of_run(run)
    if deps.store.get_run_log(*key.run_log_key) is None:  # its worker died before writing it
        deps.store.put_run_log(RunLogEntry(pipeline_id=run.pipeline_id, date=key.period, schedule_id=key.schedule,
                                           status=RunStatus.TRIGGERING, attempt_number=key.attempt,
                                           run_id=run.run_id, started_at=run.created_at, updated_at=run.updated_at))
    ctx = trigger_context(deps, config, run)
    try:
        found = trigger.find(config.trigger, ctx)
    except TriggerError as exc:
        log.warning("could not ask the target about run %s: %s", run.run_id, exc)
        return None
    if found is not None:
        return record_start(deps, config, run, found, recovered="found")
    try:
        started = trigger.start(config.trigger, ctx)  # the same idempotency key as the lost start
    except TriggerError as exc:
        return _failed(deps, config, run, str(exc), exc.category, EventKind.TRIGGER_FAILED)
    return record_start(deps, config, run, started, recovered="restarted")


def trigger_context(deps: Deps, config: PipelineConfig, run: RunState) -> TriggerContext:
    """What the trigger is told about the run it starts (or looks up)."""
    run_key = RunKey.of_run(run)
    return TriggerContext(run.run_id, config.name, run_key.schedule, run_key.period, deps.project.root, deps.outbound,
                          template=_template_values(config, run_key))


def record_start(deps: Deps, config: PipelineConfig, run: RunState, started: Started,
                 recovered: str | None = None) -> RunState:
    """Record a started job on its TRIGGERING run: RUNNING (polled from now on), or finished.

    ``recovered`` (``found`` / ``restarted``) when the start was settled by asking the target after its
    outcome was unknown: the event is then TRIGGER_RECOVERED instead of TRIGGER_FIRED.
    """
    assert config.trigger is not None
    pipeline, run_id, kind = config.name, run.run_id, config.trigger.type.value
    event = EventKind.TRIGGER_RECOVERED if recovered else EventKind.TRIGGER_FIRED
    details = {**started.metadata, **({"recovered": recovered} if recovered else {})} or None
    with deps.store.batch():  # what the job's start left to record, sent with the run's move
        recorded = {metrics.series("interlock_triggers_recovered_total" if recovered else "interlock_triggers_total",
                                   type=kind): 1.0}
        since_push = correlation.since_push()
        if since_push is not None and not recovered:  # started by a push: how long it took, in the same round trip
            recorded.update(metrics.observation(metrics.PUSH_TO_TRIGGER, since_push))
        metrics.add(deps.store, recorded)
        log.info("%s trigger %s run %s", kind, f"recovered ({recovered})" if recovered else "started", run_id)
        if started.done:
            deps.store.append_event(Event(kind=event, pipeline_id=pipeline, run_id=run_id, status="COMPLETED",
                                          timestamp=deps.clock.now(), message=f"{kind} trigger finished",
                                          details=details))
            return _succeeded(deps, config, run, "synchronous trigger finished", started.metadata)
        moved = lifecycle.move(deps.store, run, RunStatus.RUNNING, deps.clock.now(), **started.metadata)
        if moved is None:
            return deps.store.get_run(run_id)
        deps.store.set_due(stuck_key(run_id), moved.updated_at + deps.project.settings.stuck_run_threshold)
        _update_log(deps, moved, RunStatus.RUNNING)
        message = (f"{kind} trigger: the job was {'found at' if recovered == 'found' else 'started again on'} the "
                   f"target after its start was interrupted" if recovered else f"{kind} trigger started the job")
        deps.store.append_event(Event(kind=event, pipeline_id=pipeline, run_id=run_id, status="RUNNING",
                                      timestamp=moved.updated_at, message=message, details=details))
        deps.store.set_due(check_key(run_id), moved.updated_at + deps.poll_interval(config))
    return moved


def check_run(deps: Deps, run_id: str) -> RunState | None:
    """Poll a RUNNING job once; schedule the next poll or finish the run."""
    run, running = watched_run(deps, run_id, check_key(run_id), (RunStatus.RUNNING,))
    if run is None or not running:
        return run
    config = deps.pipeline(run.pipeline_id)
    next_poll = deps.clock.now() + deps.poll_interval(config)
    if config.trigger is None:
        return _failed(deps, config, run, "pipeline has no trigger any more", FailureCategory.PERMANENT,
                       EventKind.PIPELINE_FAILED)
    try:
        status = trigger_for(config.trigger.type).status(config.trigger, run.metadata)
    except TriggerError as exc:
        if exc.category is FailureCategory.PERMANENT:
            return _failed(deps, config, run, f"status check failed: {exc}", exc.category, EventKind.PIPELINE_FAILED)
        log.warning("status check of %s failed, will poll again: %s", run_id, exc)
        deps.store.set_due(check_key(run_id), next_poll)
        return run
    if status.state is JobState.RUNNING:
        deps.store.set_due(check_key(run_id), next_poll)
        return run
    if status.state is JobState.SUCCEEDED:
        return _succeeded(deps, config, run, f"run completed successfully (provider state: {status.message})", {})
    # Unless the trigger classified it, the provider's failure kind is unknown: TRANSIENT, so the
    # retry policy applies.
    return _failed(deps, config, run, f"run failed (provider state: {status.message})",
                   status.category or FailureCategory.TRANSIENT, EventKind.PIPELINE_FAILED)


def complete_run(deps: Deps, run_id: str, success: bool, metadata: dict[str, Any] | None = None,
                 message: str | None = None) -> RunState:
    """The completion callback: finish a TRIGGERING or RUNNING run as reported by the job itself.

    Raises UnknownRun for an unknown run and InvalidTransition for a finished one.
    """
    run = deps.store.get_run(run_id)
    target = RunStatus.COMPLETED if success else RunStatus.FAILED
    if run.status not in STARTED_RUN_STATUSES:
        raise InvalidTransition(run.status, target, f"run {run_id} cannot be completed")
    config = deps.pipeline(run.pipeline_id)
    deps.store.append_event(Event(kind=EventKind.CALLBACK_RECEIVED, pipeline_id=run.pipeline_id, run_id=run_id,
                                  status="success" if success else "failed", timestamp=deps.clock.now(),
                                  message=message or f"callback received: {'success' if success else 'failed'}",
                                  details=metadata or None))
    if success:
        return _succeeded(deps, config, run, message or "completed via callback", metadata or {})
    return _failed(deps, config, run, message or "completed via callback with status: failed",
                   FailureCategory.TRANSIENT, EventKind.PIPELINE_FAILED, metadata or {})


def _template_values(config: PipelineConfig, run_key: RunKey) -> dict[str, str]:
    """The period's template values (``${period}``, ``${periodStart}`` ...); none for a key no schedule names."""
    try:
        sched = find_schedule(config, run_key.schedule)
        return period_for_key(config, sched, run_key.period).template_values()
    except (UnknownSchedule, BadInput):
        return {}  # the run outlived its schedule (edited since): ``${date}`` still says its period


def _update_log(deps: Deps, run: RunState, status: RunStatus, **fields: Any) -> RunLogEntry | None:
    entry = deps.store.get_run_log(*RunKey.of_run(run).run_log_key)
    if entry is None or entry.run_id != run.run_id:
        return None  # a newer attempt owns the log now
    updated = entry.model_copy(update={"status": status, "updated_at": run.updated_at, **fields})
    deps.store.put_run_log(updated)
    return updated


def _succeeded(deps: Deps, config: PipelineConfig, run: RunState, message: str,
               metadata: dict[str, Any]) -> RunState:
    monitoring = config.watch.monitoring if config.watch else None
    now = deps.clock.now()
    if monitoring and monitoring.enabled:
        target, extra = RunStatus.COMPLETED_MONITORING, {"monitoringStartedAt": now.isoformat()}
    else:
        target, extra = RunStatus.COMPLETED, {}
    moved = lifecycle.move(deps.store, run, target, now, **metadata, **extra)
    if moved is None:  # someone else finished it first
        return deps.store.get_run(run.run_id)
    return _after_success(deps, config, moved, message, now)


def _after_success(deps: Deps, config: PipelineConfig, moved: RunState, message: str, now: datetime) -> RunState:
    """What follows a run's move to COMPLETED(_MONITORING): its log, event, monitoring, next look, cascade."""
    run, target = moved, moved.status
    _update_log(deps, moved, target, completed_at=now if target is RunStatus.COMPLETED else None)
    deps.store.clear_due(check_key(run.run_id))  # after the log's read: in a batch, sent with the writes below
    deps.store.append_event(Event(kind=EventKind.PIPELINE_COMPLETED, pipeline_id=run.pipeline_id, run_id=run.run_id,
                                  status=target.value, message=message, timestamp=now))
    if run.metadata.get("rerunId"):
        _finish_rerun(deps, str(run.metadata["rerunId"]), RunStatus.COMPLETED, now, message)
    if target is RunStatus.COMPLETED_MONITORING:
        deps.store.append_event(Event(kind=EventKind.MONITORING_STARTED, pipeline_id=run.pipeline_id,
                                      run_id=run.run_id, status=target.value, timestamp=now,
                                      message="post-completion monitoring started"))
        deps.store.set_due(monitor_key(run.run_id), now + deps.check_interval(config))
    schedule = find_schedule(config, RunKey.of_run(run).schedule)
    deps.store.set_due(advance_key(config.name, schedule.name), period_at(config, schedule, now).closes)
    cascade(deps, config.name, now)
    return moved


def cascade(deps: Deps, upstream: str, now: datetime) -> list[str]:
    """Evaluate at once every pipeline whose traits name ``upstream`` (durably: via the due index too)."""
    notified: list[str] = []
    for name in deps.store.list_dependents(upstream):
        try:
            downstream = deps.pipeline(name)
        except UnknownPipeline:
            continue
        schedules = request_advance(deps, name, [schedule.name for schedule in downstream.schedule_list()], now)
        notified.extend(f"{name}/{schedule}" for schedule in schedules)
    return notified


def _failed(deps: Deps, config: PipelineConfig, run: RunState, message: str, category: FailureCategory,
            kind: EventKind, metadata: dict[str, Any] | None = None) -> RunState:
    now = deps.clock.now()
    moved = lifecycle.move(deps.store, run, RunStatus.FAILED, now,
                           **{**(metadata or {}), "failure": message, "failureCategory": category.value})
    if moved is None:
        return deps.store.get_run(run.run_id)
    return _after_failure(deps, config, moved, message, category, kind, now)


def _after_failure(deps: Deps, config: PipelineConfig, moved: RunState, message: str, category: FailureCategory,
                   kind: EventKind, now: datetime) -> RunState:
    """What follows a run's move to FAILED: its log and history, event, then a retry or one alert."""
    run = moved
    deps.store.clear_due(check_key(run.run_id))
    metrics.count(deps.store, "interlock_triggers_failed_total", category=category.value)
    run_key = RunKey.of_run(run)
    attempt, period = run_key.attempt, run_key.period
    schedule = find_schedule(config, run_key.schedule)
    entry = deps.store.get_run_log(*run_key.run_log_key)
    history = list(entry.retry_history or []) if entry and entry.run_id == run.run_id else []
    history.append(RetryAttempt(attempt=attempt, status=RunStatus.FAILED, run_id=run.run_id, failure_message=message,
                                failure_category=category, started_at=run.created_at, completed_at=now))
    updated = _update_log(deps, moved, RunStatus.FAILED, failure_message=message, failure_category=category,
                          completed_at=now, retry_history=history)
    deps.store.append_event(Event(kind=kind, pipeline_id=config.name, run_id=run.run_id, status="FAILED",
                                  message=message, timestamp=now, details={"failureCategory": category.value,
                                                                           "attempt": attempt}))
    if run.metadata.get("rerunId"):  # a rerun is one explicit request: no automatic retries
        _finish_rerun(deps, str(run.metadata["rerunId"]), RunStatus.FAILED, now, message)
        return moved
    policy = retry.policy_of(config.retry)
    key = advance_key(config.name, schedule.name)
    verdict = retry.verdict(policy, category, attempt, history)
    if verdict.retry:
        wait = retry.backoff(policy, attempt)
        deps.store.append_event(Event(
            kind=EventKind.RETRY_SCHEDULED, pipeline_id=config.name, run_id=run.run_id, timestamp=now,
            message=f"retry (attempt {attempt + 1}, budget retry.{verdict.budget}) after {int(wait.total_seconds())}s",
            details={"nextAttempt": attempt + 1, "backoffSeconds": int(wait.total_seconds()),
                     "retryAt": (now + wait).isoformat(), "budget": verdict.budget}))
        deps.store.set_due(key, now + wait)
        return moved
    give_up(deps, config, schedule.name, period, attempt, message, category, updated, verdict.budget)
    deps.store.set_due(key, period_at(config, schedule, now).closes)
    return moved


def finish_interrupted(deps: Deps, run: RunState) -> bool:
    """Write what a worker that died between a run's final move and its run log left undone.

    The run is finished, but its period's run log still names it as TRIGGERING or RUNNING: the log,
    the event and the retry or cascade after the move never happened (the watchdog finds such a run
    at its stuck check). Returns whether there was anything to finish.
    """
    if run.status in ACTIVE_RUN_STATUSES or run.status is RunStatus.CANCELLED:
        return False
    entry = deps.store.get_run_log(*RunKey.of_run(run).run_log_key)
    if entry is None or entry.run_id != run.run_id or entry.status not in STARTED_RUN_STATUSES:
        return False
    config = deps.pipeline(run.pipeline_id)
    log.warning("run %s is %s but its run log says %s: its worker stopped in between; finishing", run.run_id,
                run.status.value, entry.status.value)
    if run.status is RunStatus.FAILED:
        category = FailureCategory(str(run.metadata.get("failureCategory") or FailureCategory.TRANSIENT.value))
        _after_failure(deps, config, run, str(run.metadata.get("failure") or "failed"), category,
                       EventKind.PIPELINE_FAILED, run.updated_at)
    else:
        _after_success(deps, config, run, "run completed (recorded after its worker stopped)", run.updated_at)
    return True


def _finish_rerun(deps: Deps, rerun_id: str, status: RunStatus, now: datetime, message: str) -> None:
    record = deps.store.get_rerun(rerun_id)
    if record is None:
        return
    deps.store.put_rerun(record.model_copy(update={"status": status, "completed_at": now}))
    deps.store.append_event(Event(kind=EventKind.RERUN_COMPLETED, pipeline_id=record.pipeline_id,
                                  run_id=record.rerun_run_id, status=status.value, timestamp=now,
                                  message=f"rerun {rerun_id} {status.value.lower()}: {message}",
                                  details={"rerunId": rerun_id}))


def give_up(deps: Deps, config: PipelineConfig, schedule: str, period: str, attempt: int, message: str,
            category: FailureCategory, entry: RunLogEntry | None, budget: str | None) -> None:
    """Alert, once per (pipeline, schedule, period), that no more attempts will be made, naming the budget.

    ``budget`` is the one the last failure drew on (retry.verdict); None when its category is never retried.
    """
    policy = retry.policy_of(config.retry)
    now = deps.clock.now()
    if budget == retry.TRANSIENT_BUDGET:
        exhausted, text = True, (f"Pipeline {config.name} exhausted its retry budget retry.maxAttempts "
                                 f"({policy.max_attempts} attempts): {message}")
    elif budget == retry.CODE_BUDGET and policy.max_code_retries > 0:
        exhausted, text = True, (f"Pipeline {config.name} exhausted its code-failure budget retry.maxCodeRetries "
                                 f"({policy.max_code_retries} retries): {message}")
    else:
        zero = " (retry.maxCodeRetries is 0)" if budget == retry.CODE_BUDGET else ""
        exhausted, text = False, (f"Pipeline {config.name} failed with non-retryable error: {message} "
                                  f"({category.value}){zero}")
    what_next = "fix the cause, then run `interlock run " + config.name + "` to start it again"
    fired = deps.alerts.fire(Alert(
        level=AlertLevel.ERROR, alert_type="retry_exhausted" if exhausted else "non_retryable_failure",
        pipeline_id=config.name, timestamp=now, message=f"{text}. Next: {what_next}",
        details={"scheduleId": schedule, "period": period, "attempts": attempt, "failureCategory": category.value,
                 "budget": budget},
    ), dedup_key=f"gave_up:{config.name}:{schedule}:{period}")
    if fired:
        deps.store.append_event(Event(kind=EventKind.RETRY_EXHAUSTED, pipeline_id=config.name, timestamp=now,
                                      message=f"retry budget retry.{budget} exhausted after {attempt} attempts"
                                      if exhausted else f"not retryable ({category.value})",
                                      details={"scheduleId": schedule, "period": period, "attempts": attempt,
                                               "budget": budget}))
        if entry is not None:
            deps.store.put_run_log(entry.model_copy(update={"alert_sent": True}))
