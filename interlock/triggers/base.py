"""The trigger protocol: start a job once (with an idempotency key), then report its state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import DEFAULT_POLICY, OutboundPolicy


class TriggerError(Exception):
    """Starting or checking a job failed; ``category`` says whether retrying can help."""

    def __init__(self, message: str, category: FailureCategory = FailureCategory.TRANSIENT) -> None:
        super().__init__(message)
        self.category = category


# Hex digits of the hash that ends an idempotency token too long to keep whole.
TOKEN_HASH_DIGITS = 16


def bounded_token(run_id: str, limit: int) -> str:
    """``run_id`` as an idempotency token of at most ``limit`` characters, unique per run id.

    A longer id keeps its head and ends in a hash of the whole: cutting it would drop the period
    and attempt at its end, so two periods of one long-named pipeline would share a token and the
    target would hand back the first period's job for the second.
    """
    if len(run_id) <= limit:
        return run_id
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:TOKEN_HASH_DIGITS]
    return f"{run_id[:limit - TOKEN_HASH_DIGITS - 1]}-{digest}"


@dataclass(frozen=True)
class TriggerContext:
    """What a trigger knows about the run it starts."""

    run_id: str  # deterministic per (pipeline, schedule, period, attempt): the idempotency key
    pipeline: str
    schedule: str
    period: str
    project_root: Path
    outbound: OutboundPolicy = DEFAULT_POLICY  # the project's policy for the URLs the trigger calls
    # The period's template values (interlock.periods.Period.template_values): ``${period}``,
    # ``${periodStart}``, ``${periodEnd}``, ``${date}``, ``${hour}``, ``${minute}``.
    template: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Started:
    """``done`` when the job already finished (a synchronous trigger such as a command)."""

    done: bool
    metadata: dict[str, Any] = field(default_factory=dict)


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Status:
    state: JobState
    message: str = ""
    # For FAILED: how the trigger classifies the failure; None means unknown (retried as TRANSIENT).
    category: FailureCategory | None = None


class Trigger(Protocol):
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started: ...

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status: ...


class Findable(Protocol):
    """A trigger whose target can be asked for the job started under a run's idempotency key."""

    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The job started under ``ctx.run_id`` (metadata shaped as ``start`` returns it), or None if
        the target has none. Raises TriggerError when the target cannot answer."""
        ...


def can_recover(trigger: object) -> bool:
    """Whether a start whose outcome is unknown can be settled by asking the target: the trigger can
    ``find`` the job, or its ``start`` with the same idempotency key never makes a second job
    (``idempotent_start``: the target answers with the job it already has)."""
    return callable(getattr(trigger, "find", None)) or bool(getattr(trigger, "idempotent_start", False))


def category_for_status(code: int) -> FailureCategory:
    """HTTP answers: 4xx will not get better by retrying (except 408/429); the rest might."""
    if 400 <= code < 500 and code not in (408, 429):
        return FailureCategory.PERMANENT
    return FailureCategory.TRANSIENT
