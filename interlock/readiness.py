"""Readiness rules: pure functions from trait statuses to READY / NOT_READY.

A status passes only when it is exactly ``PASS``; FAIL, ERROR, STALE and anything else do not.
Optional traits never block. Two deliberate changes from the reference:

* ``majority-pass`` counts "at least the threshold", with the reference's default threshold of
  ``ceil(n / 2)`` (so 2 of 4 passing is READY); a threshold outside ``1..n`` is rejected when the
  archetype is loaded, so a rule can no longer be NOT_READY with nothing blocking.
* ``failing`` lists the required traits that did not pass even when the result is READY, so a
  majority decision does not hide them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interlock.model import ReadinessRuleType, ReadinessStatus, TraitStatus


@dataclass(frozen=True)
class TraitOutcome:
    """What a rule needs of one resolved trait."""

    type: str
    required: bool
    status: str


@dataclass(frozen=True)
class RuleOutcome:
    status: ReadinessStatus
    blocking: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.status is ReadinessStatus.READY


def passes(status: str) -> bool:
    return status == TraitStatus.PASS.value


def all_required_pass(traits: Sequence[TraitOutcome]) -> RuleOutcome:
    """READY iff every required trait passes; blocking = the required traits that do not."""
    failing = [t.type for t in traits if t.required and not passes(t.status)]
    if failing:
        return RuleOutcome(ReadinessStatus.NOT_READY, blocking=failing, failing=failing)
    return RuleOutcome(ReadinessStatus.READY)


def majority_pass(traits: Sequence[TraitOutcome], threshold: int | None = None) -> RuleOutcome:
    """READY iff at least ``threshold`` required traits pass (default ``ceil(n / 2)``)."""
    required = [t for t in traits if t.required]
    failing = [t.type for t in required if not passes(t.status)]
    n = len(required)
    if n == 0:
        return RuleOutcome(ReadinessStatus.READY)
    needed = math.ceil(n / 2) if threshold is None else threshold
    if not 1 <= needed <= n:
        raise ValueError(f"majority-pass threshold {needed} is outside 1..{n}")
    if n - len(failing) >= needed:
        return RuleOutcome(ReadinessStatus.READY, failing=failing)
    return RuleOutcome(ReadinessStatus.NOT_READY, blocking=failing, failing=failing)


def apply_rule(
    rule_type: ReadinessRuleType | str,
    traits: Sequence[TraitOutcome],
    parameters: Mapping[str, Any] | None = None,
) -> RuleOutcome:
    """Apply the named rule; an unknown rule type is an error, never a silent fallback."""
    kind = ReadinessRuleType(rule_type)
    if kind is ReadinessRuleType.MAJORITY_PASS:
        raw = (parameters or {}).get("threshold")
        return majority_pass(traits, None if raw is None else int(raw))
    return all_required_pass(traits)
