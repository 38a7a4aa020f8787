from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from interlock.store.redis import RedisStore
from tests.conformance.backends import BACKENDS, ShiftedClock, destroy, new_spec, open_store

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def spec(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A fresh, empty store namespace (unique key prefix / table), removed afterwards."""
    s = new_spec(request.param)
    yield s
    destroy(s)


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def store(spec: dict[str, Any], clock: ShiftedClock) -> Iterator[RedisStore]:
    s = open_store(spec, clock)
    yield s
    s.close()
