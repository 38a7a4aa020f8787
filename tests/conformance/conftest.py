from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from interlock.store.redis import RedisStore
from tests.conformance.backends import BACKENDS, SERVICE_BACKENDS, ShiftedClock, destroy, new_spec, open_store

# The memory backend needs no service, so `make test-unit` runs the whole contract against it.
PARAMS = [pytest.param(b, marks=pytest.mark.integration) if b in SERVICE_BACKENDS else b for b in BACKENDS]


@pytest.fixture(params=PARAMS)
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
