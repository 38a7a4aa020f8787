"""The step harness for the API tests: on the real Redis only (test_page_and_metrics.py runs on memory too)."""

import pytest

from tests.steps.conftest import Harness, redis_harness

__all__ = ["harness", "redis_harness"]


@pytest.fixture
def harness(redis_harness: Harness) -> Harness:
    return redis_harness
