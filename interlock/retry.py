"""Retry policy: the backoff before attempt n+1, which failures are worth retrying, and the budgets.

Four budgets, each named by its config key so an alert can say which one ran out:

* ``maxAttempts`` — attempts that failed for a transient reason (TRANSIENT, TIMEOUT, unknown);
* ``maxCodeRetries`` — extra attempts after PERMANENT (code) failures, 0 by default;
* ``maxDriftReruns`` / ``maxManualReruns`` — reruns per (schedule, period) by who asked for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from interlock.model import MAX_ATTEMPTS, FailureCategory, RerunRecord, RetryAttempt, RetryPolicy

# Longest wait between attempts, whatever the multiplier says.
MAX_BACKOFF = timedelta(hours=1)
DEFAULT_RETRYABLE = frozenset({FailureCategory.TRANSIENT, FailureCategory.TIMEOUT})

TRANSIENT_BUDGET = "maxAttempts"
CODE_BUDGET = "maxCodeRetries"
DRIFT_BUDGET = "maxDriftReruns"
MANUAL_BUDGET = "maxManualReruns"
# The reason drift monitoring writes on the reruns it requests; every other reason is a manual rerun.
DRIFT_REASON = "monitoring_drift_detected"


def policy_of(policy: RetryPolicy | None) -> RetryPolicy:
    """The pipeline's policy; each field it leaves out takes its default."""
    return policy or RetryPolicy()


def backoff(policy: RetryPolicy, failed_attempt: int) -> timedelta:
    """Wait after attempt ``failed_attempt`` failed: base x multiplier^(n-1), capped at one hour."""
    seconds = policy.backoff_seconds * policy.backoff_multiplier ** max(0, failed_attempt - 1)
    return min(timedelta(seconds=int(seconds)), MAX_BACKOFF)


def is_retryable(policy: RetryPolicy, category: FailureCategory | None) -> bool:
    """Whether a failure draws on the transient budget: PERMANENT never; no category always; else the list."""
    if category is FailureCategory.PERMANENT:
        return False
    if category is None:
        return True
    allowed = set(policy.retryable_failures) if policy.retryable_failures else DEFAULT_RETRYABLE
    return category in allowed


@dataclass(frozen=True)
class Verdict:
    """Whether to try again after a failed attempt, and the budget that failure drew on (None: no budget)."""

    retry: bool
    budget: str | None


def verdict(policy: RetryPolicy, category: FailureCategory | None, attempt: int,
            history: Sequence[RetryAttempt]) -> Verdict:
    """After attempt ``attempt`` failed with ``category``; ``history`` holds the period's failed attempts so far.

    Code failures and transient ones count against their own budgets: a PERMANENT failure after two
    transient ones still has ``maxCodeRetries`` left, and the other way round.
    """
    code_failures = sum(1 for past in history if past.failure_category is FailureCategory.PERMANENT)
    if category is FailureCategory.PERMANENT:
        budget, left = CODE_BUDGET, max(code_failures, 1) <= policy.max_code_retries
    elif is_retryable(policy, category):
        budget, left = TRANSIENT_BUDGET, attempt - code_failures < policy.max_attempts
    else:
        return Verdict(False, None)  # a category the policy does not retry (retryableFailures)
    return Verdict(left and attempt < MAX_ATTEMPTS, budget)


def reruns_used(reruns: Sequence[RerunRecord], schedule: str, period: str, *, drift: bool) -> int:
    """How many of ``reruns`` (one pipeline's) were for (schedule, period) and of the kind (drift or manual)."""
    return sum(1 for r in reruns if r.original_date == period
               and str((r.metadata or {}).get("scheduleId", "daily")) == schedule
               and (r.reason == DRIFT_REASON) is drift)
