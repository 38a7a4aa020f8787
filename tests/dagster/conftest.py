"""The step harness (a project on disk + the real Redis store) for the real-server test."""

import pytest

from tests.steps.conftest import Harness, redis_harness

__all__ = ["harness", "redis_harness"]


@pytest.fixture
def harness(redis_harness: Harness) -> Harness:
    return redis_harness
