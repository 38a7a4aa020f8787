"""Registering pipelines from their files on every store (each keeps a registration ledger): many at
once, each as if registered alone, and on Redis in a fixed number of round trips."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bench.redis_commands import CountingConnection
from interlock.model import PipelineConfig
from interlock.store.base import RegistrationLedger
from interlock.store.redis import RedisStore
from interlock.store.status import STATES
from tests.conformance.backends import REDIS_URL, destroy, new_spec, open_store


def pipeline(name: str, upstreams: tuple[str, ...] = (), **extra: Any) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "name": name, "archetype": "batch-ingestion",
        "traits": {f"up-{u}": {"config": {"upstreamPipeline": u}} for u in upstreams}, **extra})


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration),
                        pytest.param("dynamodb", marks=pytest.mark.integration)])
def ledger(request: pytest.FixtureRequest) -> Iterator[Any]:
    spec = new_spec(request.param)
    store = open_store(spec)
    assert isinstance(store, RegistrationLedger)
    yield store
    store.close()
    destroy(spec)


def test_many_files_at_once_are_registered_as_each_alone(ledger: Any) -> None:
    ledger.register_pipeline_files([(pipeline(f"p{i}", ("up",)), f"d{i}") for i in range(30)]
                                   + [(pipeline("solo"), None)])
    assert sorted(p.name for p in ledger.list_pipelines()) == sorted([f"p{i}" for i in range(30)] + ["solo"])
    assert ledger.pipeline_digests() == {f"p{i}": f"d{i}" for i in range(30)}
    assert sorted(ledger.list_dependents("up")) == sorted(f"p{i}" for i in range(30))
    assert ledger.state_counts() == {**dict.fromkeys(STATES, 0), "waiting": 31}
    assert ledger.registered_at("p7") is not None


def test_registering_again_moves_dependents_and_digests_and_the_last_listing_wins(ledger: Any) -> None:
    ledger.register_pipeline_files([(pipeline("pa", ("px",)), "d1"), (pipeline("pb", ("px",)), "d1")])
    first = ledger.registered_at("pa")
    ledger.register_pipeline_files([
        (pipeline("pa", ("py",)), "d2"),
        (pipeline("pb", ("px",)), None),  # forgets pb's digest (as a registration through the API does)
        (pipeline("pb", ("py",)), "d3"),  # ... but pb is listed again: this listing is the one kept
    ])
    assert ledger.list_dependents("px") == []
    assert sorted(ledger.list_dependents("py")) == ["pa", "pb"]
    assert ledger.pipeline_digests() == {"pa": "d2", "pb": "d3"}
    assert ledger.registered_at("pa") == first  # first registration time kept
    assert ledger.state_counts()["waiting"] == 2
    assert ledger.pipeline_digests(["pb", "nobody"]) == {"pb": "d3"}
    ledger.register_pipeline(pipeline("pa", ("py",)))  # through the API: no longer the file's
    ledger.delete_pipeline("pb")
    assert ledger.pipeline_digests() == {}
    ledger.register_pipeline_files([])  # nothing to do is fine


@pytest.mark.integration
def test_a_status_row_written_meanwhile_is_read_again_not_overwritten() -> None:
    # The row read inside the registration's MULTI changed before its index script ran: the script
    # refuses (the row is not what was read) and the optimistic path reads it again.
    spec = new_spec("redis")
    store = open_store(spec)
    assert isinstance(store, RedisStore)
    try:
        store.register_pipeline_files([(pipeline("pa"), "d1"), (pipeline("pb"), "d1")])
        row = store.k("status", "pa")
        real = store._reindex_many

        def racing(rows: Any) -> None:
            store.r.set(row, store.r.get(row).replace('"waiting"', '"failed"'))  # type: ignore[union-attr]
            store.r.zrem(store.k("state", "waiting"), "pa")
            store.r.zadd(store.k("state", "failed"), {"pa": 0})
            real(rows)

        store._reindex_many = racing  # type: ignore[method-assign]
        store.register_pipeline_files([(pipeline("pa", schedules=[{"name": "daily"}]), "d2"),
                                       (pipeline("pb"), "d2")])
        assert store.state_counts() == {**dict.fromkeys(STATES, 0), "failed": 1, "waiting": 1}
    finally:
        store.close()
        destroy(spec)


@pytest.mark.integration
def test_on_redis_a_thousand_files_cost_the_round_trips_of_two() -> None:
    spec = new_spec("redis")
    pool = redis.ConnectionPool.from_url(REDIS_URL, decode_responses=True, connection_class=CountingConnection)
    store = RedisStore(redis.Redis(connection_pool=pool), spec["prefix"])
    try:
        store.register_pipeline_files([(pipeline("warm-up"), "d")])  # the connection and the script loaded
        trips = []
        for count in (2, 1000):
            before = CountingConnection.round_trips
            store.register_pipeline_files([(pipeline(f"n{count}-{i}"), "d") for i in range(count)])
            trips.append(CountingConnection.round_trips - before)
        assert trips[1] == trips[0] <= 5, trips  # MGET, MULTI/EXEC, SCRIPT EXISTS, the scripts' pipeline
        assert store.state_counts()["waiting"] == 1003
    finally:
        store.close()
        destroy(spec)
