"""The evaluator protocol: one request in, one :class:`EvaluatorOutput` out, never an exception.

Statuses: ``PASS`` (the condition holds), ``FAIL`` (the check ran and the condition does not hold),
``ERROR`` (the check itself could not run or answered nonsense: timeout, crash, bad output, HTTP
error). The reference reported most evaluator breakage as FAIL; here it is ERROR, so an operator
(and the circuit breaker) can tell "data not ready" from "the check is broken". Both block.

Output that parses but cannot be trusted or stored is ERROR/PERMANENT too: duplicate keys
(``{"status": "FAIL", "status": "PASS"}``), NaN/Infinity, lone surrogates and NUL characters. An
``ERROR`` the evaluator reports without a ``failureCategory`` is TRANSIENT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from interlock import strictjson
from interlock.model import FailureCategory, TraitStatus
from interlock.redaction import excerpt

# Longest evaluator output kept (stdout or an HTTP body); more is an ERROR, not a memory blow-up.
MAX_OUTPUT_BYTES = 1_048_576
# Characters of stderr / a body quoted in a reason.
MAX_QUOTED_CHARS = 2_000

# Reason prefixes kept from the reference, so existing dashboards and tests keep matching.
TIMEOUT_REASON = "EVALUATOR_TIMEOUT"
ERROR_PREFIX = "EVALUATOR_ERROR"
INVALID_PREFIX = "EVALUATOR_OUTPUT_INVALID"
HTTP_ERROR_PREFIX = "EVALUATOR_HTTP_ERROR"

_VALID_STATUSES = {TraitStatus.PASS.value, TraitStatus.FAIL.value, TraitStatus.ERROR.value}


@dataclass(frozen=True)
class EvaluationRequest:
    """What an evaluator is asked: the JSON object ``{pipelineId, traitType, config}``."""

    pipeline_id: str
    trait_type: str
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"pipelineId": self.pipeline_id, "traitType": self.trait_type, "config": self.config}


@dataclass(frozen=True)
class EvaluatorOutput:
    status: TraitStatus
    value: dict[str, Any] | None = None
    reason: str | None = None
    failure_category: FailureCategory | None = None

    @classmethod
    def error(cls, reason: str, category: FailureCategory) -> EvaluatorOutput:
        return cls(TraitStatus.ERROR, None, reason, category)

    @classmethod
    def timed_out(cls) -> EvaluatorOutput:
        return cls.error(TIMEOUT_REASON, FailureCategory.TIMEOUT)

    @classmethod
    def too_large(cls, what: str) -> EvaluatorOutput:
        """``what`` (the output, the response) was more than MAX_OUTPUT_BYTES."""
        return cls.error(f"{INVALID_PREFIX}: {what} larger than {MAX_OUTPUT_BYTES} bytes", FailureCategory.PERMANENT)


class Evaluator(Protocol):
    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        """Run the check within ``timeout`` seconds. Never raises for evaluator problems."""
        ...


def parse_output(raw: str | bytes, source: str = "stdout") -> EvaluatorOutput:
    """Validate an evaluator's JSON answer; anything off is ERROR/PERMANENT with the reason why."""
    def invalid(why: str) -> EvaluatorOutput:
        return EvaluatorOutput.error(f"{INVALID_PREFIX}: {why} ({source}: {excerpt(raw, 200)})",
                                     FailureCategory.PERMANENT)

    try:
        doc = strictjson.loads(raw)
    except strictjson.NotStrictJson as exc:
        return invalid(str(exc))
    if not isinstance(doc, dict):
        return invalid(f"expected a JSON object, got {type(doc).__name__}")
    status = doc.get("status")
    if not isinstance(status, str) or status not in _VALID_STATUSES:
        return invalid(f"status must be PASS, FAIL or ERROR, got {status!r}")
    value = doc.get("value")
    if value is not None and not isinstance(value, dict):
        return invalid(f"value must be a JSON object, got {type(value).__name__}")
    reason = doc.get("reason")
    if reason is not None and not isinstance(reason, str):
        return invalid("reason must be a string")
    category = doc.get("failureCategory")
    if category is not None and not isinstance(category, str):
        return invalid(f"failureCategory must be a string, got {type(category).__name__}")
    if category in (None, ""):
        parsed_category = None
    else:
        try:
            parsed_category = FailureCategory(category)
        except ValueError:
            return invalid(f"unknown failureCategory {category!r}")
    if status == TraitStatus.ERROR.value and parsed_category is None:
        # The check says it could not run but not why: like a non-zero exit, it may work next time.
        parsed_category = FailureCategory.TRANSIENT
    return EvaluatorOutput(TraitStatus(status), value, reason or None, parsed_category)

