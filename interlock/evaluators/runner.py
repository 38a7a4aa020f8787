"""From a trait's ``evaluator:`` string to an answer: resolve, guard with the breaker, run.

The circuit breaker lives in the store (every worker sees it) and is keyed by evaluator *and*
pipeline — by host and pipeline for HTTP — so one pipeline's broken check cannot switch off the
same check for every other pipeline (as the reference's did). Only evaluator breakage counts against it
(ERROR with TRANSIENT, TIMEOUT or EVALUATOR_CRASH); a plain FAIL ("data not ready") never does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from interlock.clock import Clock
from interlock.config import Project
from interlock.config.evaluator_refs import EvaluatorKind, EvaluatorRef, resolve
from interlock.evaluators.base import ERROR_PREFIX, EvaluationRequest, Evaluator, EvaluatorOutput
from interlock.evaluators.builtin import BuiltinContext, BuiltinEvaluator
from interlock.evaluators.http import HttpEvaluator
from interlock.evaluators.plugin import PluginEvaluator
from interlock.evaluators.subprocess import SubprocessEvaluator
from interlock.model import Event, EventKind, FailureCategory, TraitStatus
from interlock.store.base import BreakerOp, BreakerPolicy, Store

log = logging.getLogger(__name__)

_BREAKER_FAILURES = frozenset({FailureCategory.TRANSIENT, FailureCategory.TIMEOUT, FailureCategory.EVALUATOR_CRASH})


class EvaluatorRunner:
    def __init__(self, project: Project, store: Store, clock: Clock, *,
                 breaker: BreakerPolicy | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.project = project
        self.store = store
        self.clock = clock
        self.breaker = breaker or BreakerPolicy()
        self.environ = environ
        self.builtins = BuiltinContext(store, clock, root=project.root, environ=environ)
        engine = project.config.engine
        self.extra_env = tuple(engine.evaluator_env or ()) if engine else ()
        self.outbound = project.config.outbound_policy()

    def _evaluator(self, ref: EvaluatorRef) -> Evaluator:
        if ref.kind is EvaluatorKind.BUILTIN:
            return BuiltinEvaluator(ref.target, self.builtins)
        if ref.kind is EvaluatorKind.PLUGIN:
            return PluginEvaluator(ref.target, self.clock)
        if ref.kind is EvaluatorKind.HTTP:
            return HttpEvaluator(ref.target, policy=self.outbound)
        return SubprocessEvaluator(ref.target, self.project.root, self.extra_env, self.environ)

    def run(self, evaluator: str, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        """Run the evaluator named ``evaluator`` for ``request``; problems become ERROR outputs."""
        try:
            ref = resolve(evaluator, self.project.root, self.project.evaluator_dirs())
        except ValueError as exc:
            return EvaluatorOutput.error(f"{ERROR_PREFIX}: {exc}", FailureCategory.PERMANENT)
        key = _breaker_key(ref, request.pipeline_id)
        allowed, _ = self.store.breaker(key, BreakerOp.ALLOW, self.clock.now(), self.breaker)
        if not allowed:
            return EvaluatorOutput.error(f"circuit breaker open for {evaluator} (too many evaluator errors; "
                                         f"retrying after {self.breaker.cooldown:.0f}s)", FailureCategory.TRANSIENT)
        try:
            output = self._evaluator(ref).evaluate(request, timeout)
        except Exception as exc:  # a builtin or client bug must not take the whole evaluation down
            log.exception("evaluator %s raised", evaluator)
            output = EvaluatorOutput.error(f"evaluation error: {exc}", FailureCategory.TRANSIENT)
        self._record(key, evaluator, request.pipeline_id, output, self.clock.now())
        return output

    def _record(self, key: str, evaluator: str, pipeline: str, output: EvaluatorOutput, now: datetime) -> None:
        # A PERMANENT error (bad config, bad output) means the evaluator did answer: it counts as
        # available, so a probe reporting one closes the breaker and the real error shows.
        failed = output.status is TraitStatus.ERROR and output.failure_category in _BREAKER_FAILURES
        tripped, _ = self.store.breaker(key, BreakerOp.FAILURE if failed else BreakerOp.SUCCESS, now, self.breaker)
        if failed and tripped:
            self.store.append_event(Event(
                kind=EventKind.CIRCUIT_BREAKER_TRIPPED, pipeline_id=pipeline, status="OPEN", timestamp=now,
                message=f"circuit breaker opened for {evaluator}: {output.reason}",
                details={"evaluator": evaluator, "threshold": self.breaker.threshold,
                         "cooldownSeconds": self.breaker.cooldown}))


def _breaker_key(ref: EvaluatorRef, pipeline: str) -> str:
    target = urlsplit(ref.target).netloc if ref.kind is EvaluatorKind.HTTP else ref.target
    return f"{ref.kind.value}:{target}:{pipeline}"
