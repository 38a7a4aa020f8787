"""The orchestrator Lambda: the small decisions the state machine asks for, one action per call.

Request ``{"action", "pipelineID", "scheduleID", "payload"?}``; response
``{"action", "result", "payload"}`` where ``result`` is what the ASL's Choice states route on:
``proceed``, ``skip`` (nothing to do: the reason is in the payload), ``wait`` (look again after
``payload.waitSeconds``), ``not_ready``, ``failed`` (given up for this period) or ``error``. Bad
input (an unknown pipeline or schedule) is an ``error`` result, never an exception; infrastructure
errors raise, so the Task's Retry and Catch apply.

Every action is a call into ``interlock/steps``: the run-log gate is the advance step's first half,
readiness its second, SLA, cascade and monitoring the steps the Celery workers run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from interlock.config.merge import resolve_traits
from interlock.errors import BadInput, UnknownArchetype, UnknownPipeline, UnknownSchedule
from interlock.model import AlertLevel, RunStatus, TraitEvaluation
from interlock.periods import period_for_key
from interlock.schedule import find_schedule
from interlock.steps.advance import Gate, Outcome, gate, settle
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.evaluate import decide
from interlock.steps.keys import advance_key
from interlock.steps.registry import run_step
from interlock.steps.runs import cascade
from interlock.store.base import Lock
from lambdas.executions import ExecutionDispatcher
from lambdas.runtime import COMMON_ENV, ENV_STATE_MACHINE, Runtime, runtime, traced
from lambdas.shapes import until, wait_seconds

log = logging.getLogger(__name__)

# STATE_MACHINE_ARN is only the fallback: NotifyDownstream passes the calling state machine's own ARN
# ($$.StateMachine.Id), so cascades go to the machine that asked even without it.
ENV: tuple[str, ...] = (*COMMON_ENV, ENV_STATE_MACHINE)

# How long an execution holds its (pipeline, schedule) lock (s): the state machine's
# TimeoutSeconds plus a margin, so the lock outlives any execution that did not release it
# (the reference's 5 minutes gave no exclusion after the first five minutes).
EXECUTION_TIMEOUT = 4 * 3600
LOCK_TTL = EXECUTION_TIMEOUT + 1800
# A wait longer than this (s) ends the execution instead; the watchdog's reconcile starts a new
# one when the due time comes (a schedule opening hours from now is not worth a waiting execution).
MAX_WAIT = 3600

Result = tuple[str, dict[str, Any]]


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    action = str(event.get("action", ""))
    fn = ACTIONS.get(action)
    if fn is None:
        return {"action": action, "result": "error", "payload": {"error": f"unknown action: {action}"}}
    rt = runtime()
    try:
        with traced(f"interlock.aws.{action}", event, pipeline=event.get("pipelineID"),
                    schedule=event.get("scheduleID")):
            result, payload = fn(rt, event)
    except (UnknownPipeline, UnknownArchetype, UnknownSchedule, BadInput) as exc:
        # BadInput: a request the state machine should never send (a missing field).
        result, payload = "error", {"error": str(exc)}
    return {"action": action, "result": result, "payload": payload}


def _field(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise BadInput(f"{name} is required", name)
    return value


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, dict) else {}


def _lock_key(pipeline: str, schedule: str) -> str:
    return f"execution:{pipeline}:{schedule}"


def acquire_lock(rt: Runtime, event: dict[str, Any]) -> Result:
    """One execution per (pipeline, schedule) at a time; a second one ends here."""
    pipeline, schedule = _field(event, "pipelineID"), _field(event, "scheduleID")
    find_schedule(rt.deps.pipeline(pipeline), schedule)  # unknown pipeline/schedule: an error, no lock
    lock = rt.deps.store.acquire_lock(_lock_key(pipeline, schedule), LOCK_TTL)
    if lock is None:
        return "skip", {"reason": "another execution holds the lock"}
    return "proceed", {"lockToken": lock.token, "fence": lock.fence}


def release_lock(rt: Runtime, event: dict[str, Any]) -> Result:
    """Release with the token AcquireLock returned (passed as ``payload.lock``, the whole result)."""
    pipeline, schedule = _field(event, "pipelineID"), _field(event, "scheduleID")
    acquired = _payload(event).get("lock")
    held = acquired.get("payload") if isinstance(acquired, dict) else None
    if not isinstance(held, dict) or not isinstance(held.get("lockToken"), str):
        return "proceed", {"released": False, "reason": "no lock held"}
    lock = Lock(_lock_key(pipeline, schedule), held["lockToken"], int(held.get("fence", 0)))
    return "proceed", {"released": rt.deps.store.release_lock(lock)}


def check_run_log(rt: Runtime, event: dict[str, Any]) -> Result:
    """The advance step's gate: done, in flight, waiting out a backoff, gave up — or evaluate now."""
    deps = rt.deps
    config = deps.pipeline(_field(event, "pipelineID"))
    sched = find_schedule(config, _field(event, "scheduleID"))
    now = rt.now()
    decision = gate(deps, config, sched, now)
    if decision.outcome is None:
        traits = [{"pipelineID": config.name, "scheduleID": sched.name, "period": decision.period,
                   "traitType": t.type} for t in resolve_traits(deps.archetype(config), config)]
        return "proceed", {"period": decision.period, "attempt": decision.attempt, "traits": traits}
    if decision.outcome in (Outcome.BACKOFF, Outcome.WAITING):
        seconds = until(now, deps.store.due_at(advance_key(config.name, sched.name)), deps.check_interval(config))
        if seconds <= MAX_WAIT:
            return "wait", {"outcome": decision.outcome.value, "waitSeconds": seconds}
    if decision.outcome in (Outcome.GAVE_UP, Outcome.TIMED_OUT):
        # Failed for good this period (the step has alerted once): the execution ends FAILED.
        return "failed", {"outcome": decision.outcome.value, "period": decision.period}
    return "skip", {"outcome": decision.outcome.value, "period": decision.period}


def check_readiness(rt: Runtime, event: dict[str, Any]) -> Result:
    """The readiness rule over the Map's trait results, recorded like the evaluate step records it."""
    deps = rt.deps
    payload = _payload(event)
    config = deps.pipeline(_field(event, "pipelineID"))
    sched = find_schedule(config, _field(event, "scheduleID"))
    period, attempt = str(payload.get("period", "")), int(payload.get("attempt", 1))
    if not period:
        raise BadInput("payload.period is required", "payload.period")
    try:
        period = period_for_key(config, sched, period).key  # a key this schedule has (daily date or cron start)
    except BadInput as exc:
        raise BadInput(str(exc), "payload.period") from None
    evaluations = _evaluations(config.name, payload.get("traitResults"))
    traits = [t.type for t in resolve_traits(deps.archetype(config), config)]
    if sorted(evaluations) != sorted(traits):
        raise BadInput("traitResults must hold one result per trait of the pipeline", "payload.traitResults")
    ordered = [evaluations[t] for t in traits]  # decide() takes them in the archetype's order
    now = rt.now()
    evaluation = decide(deps, config, sched.name, period, ordered)
    recorder = RecordingDispatcher()
    outcome = settle(replace(deps, dispatch=recorder), evaluation, Gate(None, period, attempt), now)
    if outcome is Outcome.NOT_READY:
        # Wait until the advance's next look: the check interval, or a triggerAnyway instant before it.
        due = deps.store.due_at(advance_key(config.name, sched.name))
        return "not_ready", {"blocking": evaluation.result.blocking,
                             "waitSeconds": until(now, due, deps.check_interval(config))}
    for step, kwargs in recorder.sent:
        # Catch-up periods the gate found run here, through the same trigger step; this
        # execution's own period (READY, or forced by triggerAnyway) goes to the trigger Lambda.
        if step == "trigger" and kwargs["period"] != period:
            run_step(deps, "trigger", **kwargs)
    return "proceed", {"period": period, "attempt": attempt}


def _evaluations(pipeline: str, raw: object) -> dict[str, TraitEvaluation]:
    if not isinstance(raw, list):
        raise BadInput("payload.traitResults must be a list", "payload.traitResults")
    found: dict[str, TraitEvaluation] = {}
    for item in raw:
        if isinstance(item, dict):
            evaluation = TraitEvaluation.model_validate({"pipelineId": pipeline, **item})
            found[evaluation.trait_type] = evaluation
    return found


def check_sla_action(rt: Runtime, event: dict[str, Any]) -> Result:
    """The SLA step for this (pipeline, schedule): deadlines, at-risk, validation timeout; each alert once."""
    alerts = run_step(rt.deps, "check_sla", pipeline=_field(event, "pipelineID"), schedule=_field(event, "scheduleID"))
    return "proceed", {"breached": any(a.level is AlertLevel.ERROR for a in alerts),
                       "alerts": [a.alert_type for a in alerts]}


def notify_downstream(rt: Runtime, event: dict[str, Any]) -> Result:
    """Cascade: start an execution for each pipeline downstream, named after this run (so once).

    ``payload.stateMachineArn`` is the calling state machine (the ASL passes ``$$.StateMachine.Id``).
    """
    pipeline = _field(event, "pipelineID")
    payload = _payload(event)
    run_id = str(payload.get("runID", "")) or "run"
    arn = payload.get("stateMachineArn")
    starter = rt.executions(arn if isinstance(arn, str) and arn else None)
    dispatcher = ExecutionDispatcher(starter, f"cascade-{run_id}")
    notified = cascade(replace(rt.deps, dispatch=dispatcher), pipeline, rt.now())
    return "proceed", {"notified": notified}


def check_drift(rt: Runtime, event: dict[str, Any]) -> Result:
    """One look of post-completion monitoring (the monitor step): drift, or the window's end."""
    deps = rt.deps
    run_id = str(_payload(event).get("runID", ""))
    if not run_id:
        raise BadInput("payload.runID is required", "payload.runID")
    run = run_step(deps, "monitor", run_id=run_id)
    if run is None or run.status is not RunStatus.COMPLETED_MONITORING:
        return "skip", {"status": run.status.value if run else "UNKNOWN"}
    interval: timedelta = deps.check_interval(deps.pipeline(run.pipeline_id))
    return "proceed", {"status": run.status.value, "waitSeconds": wait_seconds(interval)}


ACTIONS: dict[str, Callable[[Runtime, dict[str, Any]], Result]] = {
    "acquireLock": acquire_lock,
    "releaseLock": release_lock,
    "checkRunLog": check_run_log,
    "checkReadiness": check_readiness,
    "checkEvaluationSLA": check_sla_action,
    "checkCompletionSLA": check_sla_action,
    "notifyDownstream": notify_downstream,
    "checkDrift": check_drift,
}
