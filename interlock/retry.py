"""Retry policy: the backoff before attempt n+1 and which failures are worth retrying."""

from __future__ import annotations

from datetime import timedelta

from interlock.model import FailureCategory, RetryPolicy

# Longest wait between attempts, whatever the multiplier says.
MAX_BACKOFF = timedelta(hours=1)
DEFAULT_RETRYABLE = frozenset({FailureCategory.TRANSIENT, FailureCategory.TIMEOUT})


def policy_of(policy: RetryPolicy | None) -> RetryPolicy:
    """The pipeline's policy; each field it leaves out takes its default."""
    return policy or RetryPolicy()


def backoff(policy: RetryPolicy, failed_attempt: int) -> timedelta:
    """Wait after attempt ``failed_attempt`` failed: base x multiplier^(n-1), capped at one hour."""
    seconds = policy.backoff_seconds * policy.backoff_multiplier ** max(0, failed_attempt - 1)
    return min(timedelta(seconds=int(seconds)), MAX_BACKOFF)


def is_retryable(policy: RetryPolicy, category: FailureCategory | None) -> bool:
    """PERMANENT never; no category always (better once too many); else the policy's list."""
    if category is FailureCategory.PERMANENT:
        return False
    if category is None:
        return True
    allowed = set(policy.retryable_failures) if policy.retryable_failures else DEFAULT_RETRYABLE
    return category in allowed
