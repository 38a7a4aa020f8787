"""Found by the chaos run: an advance lock a killed worker left behind stalled its pipeline for 5 minutes."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from interlock.steps.advance import Outcome, advance, lock_ttl
from interlock.steps.keys import advance_key
from interlock.store.redis import RedisStore
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


def test_an_advance_lock_left_by_a_worker_that_lost_redis_expires_within_the_evaluation_bound(
        tmp_path: Path, store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = Harness(tmp_path / "project", store)
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {"ready-marker": None}, extra="trigger: {type: command, command: 'true'}\n")
    deps = harness.deps()

    def lost(*_: object) -> bool:
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(store, "release_lock", lost)  # the worker loses Redis before it can release
    with pytest.raises(redis.ConnectionError):
        advance(deps, "orders", "daily")
    monkeypatch.undo()
    assert advance(deps, "orders", "daily") is Outcome.BUSY  # the lock outlives the step...
    left = store.r.pttl(store.k("lock", advance_key("orders", "daily"))) / 1000
    # ...for no longer than an evaluation may take (engine.defaultTimeout 10 s + grace), not 300 s.
    assert 0 < left <= lock_ttl(deps) == 10 + 5 + 10
