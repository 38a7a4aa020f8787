"""The step harness (a project on disk + a real Redis store) for the security tests."""

import pytest

from tests.steps.conftest import Harness, redis_harness

__all__ = ["harness", "redis_harness"]


@pytest.fixture
def harness(redis_harness: Harness) -> Harness:
    """On the real Redis only: these tests are integration tests, and the steps' own run on memory too."""
    return redis_harness
