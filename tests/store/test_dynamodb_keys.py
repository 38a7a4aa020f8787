"""The DynamoDB key layout is named once, in the store, and the stream router reads items by it."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.model import RunStatus
from interlock.store.base import TraitSource
from interlock.store.dynamodb import (
    DynamoStore,
    pipeline_of,
    pipeline_pk,
    run_log_sk,
    trait_sk,
)
from lambdas import stream_router
from tests.conformance.backends import open_store as open_spec
from tests.conformance.test_store_contract import run_log, trait


@pytest.fixture
def store(spec: dict[str, Any]) -> DynamoStore:
    store: DynamoStore = open_spec(spec)
    return store


def _exists(store: DynamoStore, pk: str, sk: str) -> bool:
    key = {"PK": {"S": pk}, "SK": {"S": sk}}
    return "Item" in store.c.get_item(TableName=store.table, Key=key, ConsistentRead=True)


def test_pipeline_keys_round_trip_whatever_the_name_holds() -> None:
    for name in ("orders", "a#b", "PIPELINE#x", ""):
        assert pipeline_of(pipeline_pk(name)) == name
    assert pipeline_of("RUN#orders-daily-2026-03-01-1") is None


def test_the_store_writes_traits_and_run_logs_where_the_layout_says(store: DynamoStore) -> None:
    store.put_trait(trait("k-pipe", "fresh"), 0, TraitSource.PUSH)
    store.put_trait(trait("k-pipe", "count"), 0)
    store.put_run_log(run_log("k-pipe", "2026-03-01", "daily", RunStatus.RUNNING, "k-pipe-daily-2026-03-01-1"))
    assert _exists(store, pipeline_pk("k-pipe"), trait_sk("fresh", TraitSource.PUSH))
    assert _exists(store, pipeline_pk("k-pipe"), trait_sk("count", TraitSource.EVALUATOR))
    assert _exists(store, pipeline_pk("k-pipe"), run_log_sk("2026-03-01", "daily"))


def test_the_stream_router_routes_pushed_results_and_markers_not_evaluated_ones() -> None:
    assert stream_router._source(trait_sk("fresh", TraitSource.PUSH)) == "push-fresh"
    assert stream_router._source(trait_sk("fresh", TraitSource.EVALUATOR)) is None
    assert stream_router._source("MARKER#upstream#2026-03-01T10:00:00Z") == "marker-upstream"
