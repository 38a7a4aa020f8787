"""The evaluate step: run a pipeline's traits, apply its readiness rule, record why.

* Traits run in parallel on a bounded thread pool, each within its own timeout.
* TTL is a cache: a PASS still within its TTL is reused; FAIL and ERROR are evaluated again, so
  a pipeline unblocks as soon as its condition holds.
* A trait without an evaluator is decided by its latest *pushed* result while that is valid,
  and is STALE (blocking) without one; the trait's ``rules`` (interlock.rules) must also hold over a
  pushed PASS's value, else it counts as a FAIL naming the rule.
* Every trait decision is a ``TRAIT_EVALUATED`` event and the verdict a ``READINESS_CHECKED`` event
  carrying the values that decided it. Alerts fire once per (pipeline, schedule, period).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlock import metrics, tracing
from interlock.config.evaluator_refs import EvaluatorKind, classify
from interlock.config.merge import resolve_traits
from interlock.errors import UnknownTrait
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.builtin import with_rules
from interlock.model import (
    Alert,
    AlertLevel,
    Event,
    EventKind,
    FailureCategory,
    PipelineConfig,
    ReadinessResult,
    ReadinessStatus,
    ResolvedTrait,
    TraitEvaluation,
    TraitStatus,
)
from interlock.periods import period_at
from interlock.readiness import TraitOutcome, apply_rule
from interlock.schedule import find_schedule
from interlock.steps.deps import Deps
from interlock.steps.max_duration import note_arrival
from interlock.store.base import TraitSource

log = logging.getLogger(__name__)

# Extra time a trait gets beyond its own timeout before the step stops waiting for it (s): the
# evaluators enforce their timeouts themselves; this only bounds a builtin that ignores it.
WAIT_GRACE = 5.0
NO_PUSH_REASON = "no pushed result (or it expired); push one with `interlock push` or the API"


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluate step."""

    result: ReadinessResult
    pipeline: PipelineConfig
    schedule: str
    period: str
    required: dict[str, bool]

    @property
    def ready(self) -> bool:
        return self.result.status is ReadinessStatus.READY


def evaluate(deps: Deps, pipeline_name: str, schedule_name: str | None = None, *,
             config: PipelineConfig | None = None) -> Evaluation:
    """Evaluate ``pipeline_name`` for ``schedule_name`` (default: its first schedule) now.

    ``config`` is the pipeline as the caller just read it (saves reading it again). Raises
    UnknownPipeline / UnknownArchetype / UnknownSchedule for bad input; evaluator problems never
    raise, they become ERROR results.
    """
    pipeline = config if config is not None and config.name == pipeline_name else deps.pipeline(pipeline_name)
    archetype = deps.archetype(pipeline)
    schedule = find_schedule(pipeline, schedule_name)
    now = deps.clock.now()
    period = period_at(pipeline, schedule, now).key
    traits = resolve_traits(archetype, pipeline)
    default_timeout = deps.project.settings.engine_timeout.total_seconds()
    # A pushed trait is decided by one store read: no thread for it (a pipeline waiting on a
    # marker is the fast path, and a thread pool costs more than the read).
    inline = {t.type for t in traits if classify(t.evaluator) is EvaluatorKind.PUSH}
    evaluated = [t for t in traits if t.type not in inline]
    results: dict[str, TraitEvaluation] = {}
    if evaluated:
        workers = max(1, min(len(evaluated), _max_parallel(deps)))
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"eval-{pipeline.name}")
        try:
            # Each thread runs in a copy of this context: its log lines and spans keep the step's ids.
            futures = [pool.submit(contextvars.copy_context().run, _trait, deps, pipeline.name, t, schedule.name,
                                   period, default_timeout) for t in evaluated]
            for future, trait in zip(futures, evaluated, strict=True):
                results[trait.type] = _collect(future, trait, pipeline.name, deps, default_timeout)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a hung builtin must not hold the step
    for trait in traits:
        if trait.type in inline:
            results[trait.type] = _inline_trait(deps, pipeline.name, trait, schedule.name, period)
    return decide(deps, pipeline, schedule.name, period, [results[t.type] for t in traits])


def evaluate_trait(deps: Deps, pipeline_name: str, trait_type: str, schedule_name: str, period: str) -> TraitEvaluation:
    """Evaluate one trait of a pipeline for (schedule, period), as :func:`evaluate` does for each.

    For runtimes that fan traits out themselves (a Step Functions Map, one Lambda per trait); the
    verdict over the results is :func:`decide`. Raises UnknownPipeline / UnknownArchetype, and
    UnknownTrait for a trait the pipeline does not have.
    """
    pipeline = deps.pipeline(pipeline_name)
    traits = {t.type: t for t in resolve_traits(deps.archetype(pipeline), pipeline)}
    if trait_type not in traits:
        raise UnknownTrait(pipeline_name, trait_type, list(traits))
    trait = traits[trait_type]
    default_timeout = deps.project.settings.engine_timeout.total_seconds()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"eval-{pipeline.name}")
    try:
        future = pool.submit(contextvars.copy_context().run, _trait, deps, pipeline.name, trait, schedule_name,
                             period, default_timeout)
        return _collect(future, trait, pipeline.name, deps, default_timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def decide(deps: Deps, pipeline: PipelineConfig, schedule: str, period: str,
           evaluations: list[TraitEvaluation]) -> Evaluation:
    """Apply the readiness rule to one evaluation per trait (in ``resolve_traits`` order) and record why."""
    archetype = deps.archetype(pipeline)
    traits = resolve_traits(archetype, pipeline)
    outcome = apply_rule(archetype.readiness_rule.type,
                         [TraitOutcome(t.type, t.required, e.status.value) for t, e in zip(traits, evaluations,
                                                                                           strict=True)],
                         archetype.readiness_rule.parameters)
    finished = deps.clock.now()
    result = ReadinessResult(pipeline_id=pipeline.name, schedule_id=schedule, period=period,
                             status=outcome.status, traits=evaluations, blocking=outcome.blocking,
                             failing=outcome.failing, evaluated_at=finished)
    try:
        deps.store.put_readiness(result, int(deps.project.settings.readiness_ttl.total_seconds()))
    except Exception:  # the cache is an optimisation: the verdict and its event still stand
        log.exception("storing the readiness cache for %s failed", pipeline.name)
    rule = archetype.readiness_rule
    deps.store.append_event(Event(
        kind=EventKind.READINESS_CHECKED, pipeline_id=pipeline.name, status=outcome.status.value,
        message=_verdict(outcome.status, outcome.blocking), timestamp=finished,
        details={"scheduleId": schedule, "period": period, "rule": rule.type.value,
                 "parameters": rule.parameters or None, "blocking": outcome.blocking, "failing": outcome.failing,
                 "traits": {e.trait_type: _decided_by(e, t) for e, t in zip(evaluations, traits, strict=True)}},
    ))
    _alerts(deps, pipeline.name, schedule, period, traits, evaluations, outcome.blocking, finished)
    note_arrival(deps, pipeline, schedule, period, evaluations)  # sla.maxDuration counts from the first PASS
    recorded = {metrics.series("interlock_evaluations_total", status=outcome.status.value): 1.0}
    for e in evaluations:
        if e.status is TraitStatus.ERROR:
            errors = metrics.series("interlock_evaluator_errors_total",
                                    category=(e.failure_category or FailureCategory.TRANSIENT).value)
            recorded[errors] = recorded.get(errors, 0.0) + 1
    metrics.add(deps.store, recorded)  # one round trip for the verdict and its errors
    return Evaluation(result, pipeline, schedule, period, {t.type: t.required for t in traits})


def _max_parallel(deps: Deps) -> int:
    engine = deps.project.config.engine
    return engine.max_parallel if engine else 32


def _trait(deps: Deps, pipeline: str, trait: ResolvedTrait, schedule: str, period: str,
           default_timeout: float) -> TraitEvaluation:
    store = deps.store
    if classify(trait.evaluator) is EvaluatorKind.PUSH:
        return _pushed(deps, pipeline, trait, schedule, period)
    cached = store.get_trait(pipeline, trait.type)
    if cached is not None and cached.status is TraitStatus.PASS and cached.expires_at is not None:
        return cached.model_copy(update={"cached": True})
    config: dict[str, Any] = dict(trait.config)
    # Builtins and scripts can key on the schedule and business date.
    config.setdefault("scheduleId", schedule)
    config.setdefault("date", period)
    timeout = float(trait.timeout) if trait.timeout > 0 else default_timeout
    started = time.monotonic()
    with tracing.span("interlock.evaluator", pipeline=pipeline, schedule=schedule, period=period, trait=trait.type,
                      evaluator=trait.evaluator):
        output = deps.runner.run(trait.evaluator, EvaluationRequest(pipeline, trait.type, config), timeout)
    return _store_output(deps, pipeline, trait, output, (time.monotonic() - started) * 1000, schedule, period)


def _pushed(deps: Deps, pipeline: str, trait: ResolvedTrait, schedule: str, period: str) -> TraitEvaluation:
    """A trait with no evaluator: its latest pushed result while valid, else STALE."""
    pushed = deps.store.get_trait(pipeline, trait.type, TraitSource.PUSH)
    if pushed is not None and trait.config.get("rules") is not None:
        pushed = _judged(pushed, trait.config["rules"], deps.clock.now())
    result = pushed or TraitEvaluation(pipeline_id=pipeline, trait_type=trait.type, status=TraitStatus.STALE,
                                       reason=NO_PUSH_REASON, evaluated_at=deps.clock.now(),
                                       source=TraitSource.PUSH.value)
    _record(deps, result, trait, schedule, period, stored=False)
    return result


def _judged(pushed: TraitEvaluation, raw_rules: Any, now: datetime) -> TraitEvaluation:
    """A pushed PASS that the trait's ``rules`` do not accept becomes a FAIL naming the rule (interlock.rules)."""
    decided = with_rules(EvaluatorOutput(pushed.status, pushed.value, pushed.reason, pushed.failure_category),
                         raw_rules, now)
    if decided.status is pushed.status:
        return pushed
    return pushed.model_copy(update={"status": decided.status, "reason": decided.reason,
                                     "failure_category": decided.failure_category})


def _inline_trait(deps: Deps, pipeline: str, trait: ResolvedTrait, schedule: str, period: str) -> TraitEvaluation:
    """A pushed trait read on the step's own thread; a store outage is an ERROR, as in the pool."""
    try:
        return _pushed(deps, pipeline, trait, schedule, period)
    except Exception as exc:
        log.exception("evaluating trait %s of %s failed", trait.type, pipeline)
        return _error(deps, pipeline, trait, f"evaluation error: {exc}", FailureCategory.TRANSIENT)


def _store_output(deps: Deps, pipeline: str, trait: ResolvedTrait, output: EvaluatorOutput, duration_ms: float,
                  schedule: str, period: str) -> TraitEvaluation:
    result = TraitEvaluation(
        pipeline_id=pipeline, trait_type=trait.type, status=output.status, value=output.value, reason=output.reason,
        failure_category=output.failure_category, evaluated_at=deps.clock.now(), duration_ms=round(duration_ms, 1),
        source=TraitSource.EVALUATOR.value,
    )
    if trait.ttl > 0:
        result = result.model_copy(update={"expires_at": result.evaluated_at + timedelta(seconds=trait.ttl)})
    stored = True
    try:
        deps.store.put_trait(result, trait.ttl)
    except Exception:  # a store that cannot keep the result must not turn it into an ERROR: decide on it
        stored = False
        log.exception("storing trait %s of %s failed", trait.type, pipeline)
    _record(deps, result, trait, schedule, period, stored=stored)
    return result


def _record(deps: Deps, result: TraitEvaluation, trait: ResolvedTrait, schedule: str, period: str,
            stored: bool) -> None:
    details: dict[str, Any] = {
        "value": result.value, "reason": result.reason,
        "failureCategory": result.failure_category.value if result.failure_category else None,
        "durationMs": result.duration_ms, "required": trait.required, "source": result.source,
        "scheduleId": schedule, "period": period,
    }
    if not stored:
        details["stored"] = False
    deps.store.append_event(Event(
        kind=EventKind.TRAIT_EVALUATED, pipeline_id=result.pipeline_id, trait_type=result.trait_type,
        status=result.status.value, message=result.reason, timestamp=result.evaluated_at,
        details={k: v for k, v in details.items() if v is not None},
    ))


def _collect(future: concurrent.futures.Future[TraitEvaluation], trait: ResolvedTrait, pipeline: str, deps: Deps,
             default_timeout: float) -> TraitEvaluation:
    timeout = (float(trait.timeout) if trait.timeout > 0 else default_timeout) + WAIT_GRACE
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        reason, category = "EVALUATOR_TIMEOUT", FailureCategory.TIMEOUT
    except Exception as exc:  # a store outage mid-trait: an ERROR for this trait, not a crashed step
        log.exception("evaluating trait %s of %s failed", trait.type, pipeline)
        reason, category = f"evaluation error: {exc}", FailureCategory.TRANSIENT
    return _error(deps, pipeline, trait, reason, category)


def _error(deps: Deps, pipeline: str, trait: ResolvedTrait, reason: str, category: FailureCategory) -> TraitEvaluation:
    return TraitEvaluation(pipeline_id=pipeline, trait_type=trait.type, status=TraitStatus.ERROR, reason=reason,
                           failure_category=category, evaluated_at=deps.clock.now(),
                           source=TraitSource.EVALUATOR.value)


def _decided_by(evaluation: TraitEvaluation, trait: ResolvedTrait) -> dict[str, Any]:
    decided: dict[str, Any] = {"status": evaluation.status.value, "required": trait.required}
    for key, value in (("value", evaluation.value), ("reason", evaluation.reason), ("source", evaluation.source),
                       ("cached", evaluation.cached)):
        if value is not None:
            decided[key] = value
    return decided


def _verdict(status: ReadinessStatus, blocking: list[str]) -> str:
    return "ready" if status is ReadinessStatus.READY else f"blocked by: {', '.join(blocking)}"


def _alerts(deps: Deps, pipeline: str, schedule: str, period: str, traits: list[ResolvedTrait],
            evaluations: list[TraitEvaluation], blocking: list[str], now: datetime) -> None:
    """The reference's engine alerts, each once per (pipeline, schedule, period)."""
    for trait, evaluation in zip(traits, evaluations, strict=True):
        if not trait.required or evaluation.status is TraitStatus.PASS:
            continue
        level = AlertLevel.ERROR if evaluation.status is TraitStatus.ERROR else AlertLevel.WARNING
        deps.alerts.fire(Alert(
            level=level, alert_type="trait_failed", pipeline_id=pipeline, trait_type=trait.type, timestamp=now,
            message=f"Trait {trait.type} failed for {pipeline}: {evaluation.reason or evaluation.status.value}",
            details={"scheduleId": schedule, "period": period, "status": evaluation.status.value},
        ), dedup_key=f"trait_failed:{pipeline}:{schedule}:{period}:{trait.type}")
    if blocking:
        deps.alerts.fire(Alert(
            level=AlertLevel.WARNING, alert_type="pipeline_blocked", pipeline_id=pipeline, timestamp=now,
            message=f"Pipeline {pipeline} blocked by: {', '.join(blocking)}",
            details={"scheduleId": schedule, "period": period, "blocking": blocking},
        ), dedup_key=f"pipeline_blocked:{pipeline}:{schedule}:{period}")
