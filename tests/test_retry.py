"""Retry backoff and retryability (fields default one by one, unlike the reference)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interlock.model import FailureCategory, RetryPolicy
from interlock.retry import backoff, is_retryable, policy_of


@pytest.mark.parametrize(("attempt", "seconds"), [(0, 30), (1, 30), (2, 60), (3, 120), (4, 240)])
def test_backoff_doubles_from_the_base(attempt: int, seconds: int) -> None:
    assert backoff(RetryPolicy(backoffSeconds=30, backoffMultiplier=2), attempt) == timedelta(seconds=seconds)


def test_backoff_is_capped_at_an_hour() -> None:
    assert backoff(RetryPolicy(backoffSeconds=1800, backoffMultiplier=4), 3) == timedelta(hours=1)


def test_fractional_backoff_is_truncated_to_whole_seconds() -> None:
    assert backoff(RetryPolicy(backoffSeconds=10, backoffMultiplier=1.5), 3) == timedelta(seconds=22)


def test_a_partial_retry_block_keeps_the_other_defaults() -> None:
    policy = policy_of(RetryPolicy.model_validate({"maxAttempts": 5}))
    assert (policy.max_attempts, policy.backoff_seconds, policy.backoff_multiplier) == (5, 30, 2.0)
    assert policy_of(None).max_attempts == 3


@pytest.mark.parametrize(("listed", "category", "expected"), [
    (None, FailureCategory.TRANSIENT, True),
    (None, FailureCategory.TIMEOUT, True),
    (None, FailureCategory.EVALUATOR_CRASH, False),
    (None, FailureCategory.PERMANENT, False),
    (None, None, True),
    ([FailureCategory.EVALUATOR_CRASH], FailureCategory.EVALUATOR_CRASH, True),
    ([FailureCategory.EVALUATOR_CRASH], FailureCategory.TRANSIENT, False),
    ([FailureCategory.PERMANENT], FailureCategory.PERMANENT, False),
])
def test_retryable_categories(listed: list[FailureCategory] | None, category: FailureCategory | None,
                              expected: bool) -> None:
    assert is_retryable(RetryPolicy(retryableFailures=listed), category) is expected
