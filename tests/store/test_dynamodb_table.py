"""DynamoDB-specific: the table the store creates, and the attributes DynamoDB's TTL sweeper reads."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import pytest

from interlock.model import Alert, AlertLevel, ReadinessResult, ReadinessStatus, RunStatus
from interlock.store.base import TraitSource
from interlock.store.dynamodb import DynamoStore
from tests.conformance.backends import AWS_CREDENTIALS, AWS_REGION, dynamo_client, moto_endpoint
from tests.conformance.backends import open_store as open_spec
from tests.conformance.test_store_contract import now, run, run_log, trait


@pytest.fixture
def store(spec: dict[str, Any]) -> DynamoStore:
    store: DynamoStore = open_spec(spec)
    return store


def raw(store: DynamoStore, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = store.c.get_item(TableName=store.table, Key={"PK": {"S": pk}, "SK": {"S": sk}},
                                            ConsistentRead=True)["Item"]
    return item


def test_create_table_declares_keys_gsi1_stream_with_old_images_and_ttl() -> None:
    client = dynamo_client({"region": AWS_REGION, "endpoint_url": moto_endpoint(), "credentials": AWS_CREDENTIALS})
    name = f"interlock-create-{uuid.uuid4().hex[:8]}"
    DynamoStore.create_table(client, name)
    try:
        table = client.describe_table(TableName=name)["Table"]
        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
        assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
            "PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S"}
        [gsi] = table["GlobalSecondaryIndexes"]
        assert gsi["IndexName"] == "GSI1"
        assert {k["AttributeName"]: k["KeyType"] for k in gsi["KeySchema"]} == {"GSI1PK": "HASH", "GSI1SK": "RANGE"}
        assert gsi["Projection"]["ProjectionType"] == "ALL"
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    finally:
        client.delete_table(TableName=name)


def test_create_table_on_an_existing_table_switches_ttl_on_and_keeps_the_data() -> None:
    client = dynamo_client({"region": AWS_REGION, "endpoint_url": moto_endpoint(), "credentials": AWS_CREDENTIALS})
    name = f"interlock-exists-{uuid.uuid4().hex[:8]}"
    DynamoStore.create_table(client, name)
    try:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"})
        DynamoStore(client, name).put_value("kept", "yes")
        DynamoStore.create_table(client, name)  # the reference skipped TTL here
        assert client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        assert DynamoStore(client, name).get_value("kept") == "yes"
    finally:
        client.delete_table(TableName=name)


def test_from_url_opens_the_named_table(spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = DynamoStore.from_url(f"dynamodb://{spec['table']}?region={AWS_REGION}&endpoint_url={spec['endpoint_url']}")
    store.ping()
    store.put_value("k", "v")
    assert open_spec(spec).get_value("k") == "v"
    with pytest.raises(ValueError, match="dynamodb://TABLE"):
        DynamoStore.from_url("redis://localhost/0")


def test_expiring_items_carry_ttl_in_epoch_seconds_rounded_up_and_others_none(store: DynamoStore) -> None:
    evaluated = trait("ct-ttl", "fresh", at=now())
    store.put_trait(evaluated, ttl=90)
    store.put_trait(trait("ct-ttl", "forever"), ttl=0, source=TraitSource.PUSH)
    item = raw(store, "PIPELINE#ct-ttl", "TRAIT#fresh")
    expires_ms = int((evaluated.evaluated_at + timedelta(seconds=90)).timestamp() * 1000)
    assert int(item["exp"]["N"]) == expires_ms
    assert int(item["ttl"]["N"]) == math.ceil(expires_ms / 1000)  # never swept before it expires
    forever = raw(store, "PIPELINE#ct-ttl", "PUSHED#forever")
    assert "ttl" not in forever and "exp" not in forever


def test_run_ttl_follows_its_status_like_redis(store: DynamoStore) -> None:
    def ttl_days(pk: str, sk: str) -> float:
        return (int(raw(store, pk, sk)["ttl"]["N"]) - now().timestamp()) / 86400

    store.put_run(run("ct-done", status=RunStatus.COMPLETED))
    store.put_run(run("ct-active", status=RunStatus.RUNNING))
    assert ttl_days("RUN#ct-done", "RUN#ct-done") == pytest.approx(7, abs=0.001)
    assert ttl_days("RUN#ct-active", "RUN#ct-active") == pytest.approx(8, abs=0.001)
    active = store.get_run("ct-active")
    assert store.cas_run("ct-active", 1, active.model_copy(update={"status": RunStatus.COMPLETED, "version": 2}))
    assert ttl_days("RUN#ct-active", "RUN#ct-active") == pytest.approx(7, abs=0.001)


def test_readiness_lock_once_and_value_items_expire_with_ttl(store: DynamoStore) -> None:
    store.put_readiness(ReadinessResult(pipeline_id="p", status=ReadinessStatus.READY, evaluated_at=now()), ttl=300)
    lock = store.acquire_lock("eval:p:daily", 60)
    assert lock is not None
    store.mark_once("alert:x", 3600)
    store.put_value("marker", "v", ttl=120)
    t = now().timestamp()
    assert int(raw(store, "PIPELINE#p", "READINESS")["ttl"]["N"]) - t == pytest.approx(300, abs=2)
    assert int(raw(store, "ONCE#alert:x", "ONCE")["ttl"]["N"]) - t == pytest.approx(3600, abs=2)
    assert int(raw(store, "VALUE#marker", "VALUE")["ttl"]["N"]) - t == pytest.approx(120, abs=2)
    # The lock item outlives the lock by 30 days so its fencing counter survives expiry and release.
    lock_item = raw(store, "LOCK#eval:p:daily", "LOCK")
    assert int(lock_item["exp"]["N"]) / 1000 - t == pytest.approx(60, abs=2)
    assert int(lock_item["ttl"]["N"]) - t == pytest.approx(60 + 30 * 86400, abs=2)


def test_run_log_item_has_top_level_status_schedule_date_and_run_id(store: DynamoStore) -> None:
    # A stream consumer sees the transition (old and new image) without parsing ``data``.
    store.put_run_log(run_log("ct-rl", "2026-02-21", "h07", RunStatus.RUNNING, "run-7"))
    item = raw(store, "PIPELINE#ct-rl", "RUNLOG#2026-02-21#h07")
    assert {k: item[k]["S"] for k in ("status", "scheduleID", "date", "runId")} == {
        "status": "RUNNING", "scheduleID": "h07", "date": "2026-02-21", "runId": "run-7"}
    assert int(item["ttl"]["N"]) - now().timestamp() == pytest.approx(7 * 86400, abs=2)


def test_alert_items_carry_level_and_type_at_the_top_level(store: DynamoStore) -> None:
    # The reference's observability events for alerts had an empty type.
    store.put_alert(Alert(level=AlertLevel.ERROR, alert_type="SLA_BREACH", pipeline_id="ct-al", message="late",
                          timestamp=now()))
    [item] = store.c.query(TableName=store.table, KeyConditionExpression="PK = :pk",
                           ExpressionAttributeValues={":pk": {"S": "PIPELINE#ct-al"}})["Items"]
    assert item["SK"]["S"].startswith("ALERT#")
    assert (item["level"]["S"], item["alertType"]["S"]) == ("error", "SLA_BREACH")
