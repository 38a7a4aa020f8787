"""``builtin:object-exists``: S3 on moto (AWS cannot be reached from here) and local files for real."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.clock import FrozenClock
from interlock.evaluators import objects
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.builtin import BuiltinContext, BuiltinEvaluator
from interlock.model import FailureCategory, PipelineConfig, TraitStatus
from interlock.store.memory import MemoryStore

BUCKET = "sales-landing"
DAY = "2026-03-01"


def evaluate(config: dict[str, Any], *, now: datetime | None = None, root: Path | None = None,
             store: MemoryStore | None = None, date: str = DAY) -> EvaluatorOutput:
    ctx = BuiltinContext(store or MemoryStore(), FrozenClock(now or datetime.now(UTC)), root=root)
    full = {"scheduleId": "daily", "date": date, **config}
    return BuiltinEvaluator("object-exists", ctx).evaluate(EvaluationRequest("sales", "landed", full), 10.0)


@pytest.fixture
def s3(aws: None) -> Iterator[Any]:
    import boto3

    objects.forget_clients()  # a client made outside moto would go to AWS
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield client
    objects.forget_clients()


def put(client: Any, key: str, body: bytes = b"x") -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body)


# -- S3 -------------------------------------------------------------------------------------------


def test_prefix_with_2500_keys_is_listed_past_the_first_page(s3: Any) -> None:
    for i in range(2500):
        put(s3, f"sales/{DAY}/part-{i:05d}.parquet", b"ab")
    put(s3, f"sales/{DAY}/_SUCCESS", b"")  # a marker is not data
    put(s3, "sales/2026-03-02/part-00000.parquet")
    out = evaluate({"url": f"s3://{BUCKET}/sales/${{date}}/", "minCount": 2500, "minBytes": 5000})
    assert out.status is TraitStatus.PASS, out.reason
    assert out.value is not None and (out.value["count"], out.value["bytes"]) == (2500, 5000)
    assert out.value["sample"][0] == f"sales/{DAY}/part-00000.parquet"
    short = evaluate({"url": f"s3://{BUCKET}/sales/${{date}}/", "minCount": 2501})
    assert short.status is TraitStatus.FAIL
    assert short.reason == f"2500 objects (5000 bytes) at s3://{BUCKET}/sales/{DAY}/; minCount 2501"


def test_success_marker_by_key(s3: Any) -> None:
    url = f"s3://{BUCKET}/sales/${{date}}/_SUCCESS"
    missing = evaluate({"url": url})
    assert (missing.status, missing.reason) == (TraitStatus.FAIL,
                                                f"0 objects (0 bytes) at s3://{BUCKET}/sales/{DAY}/_SUCCESS; "
                                                "minCount 1")
    put(s3, f"sales/{DAY}/_SUCCESS", b"")
    assert evaluate({"url": url}).status is TraitStatus.PASS


def test_marker_with_prefix_needs_the_marker_and_does_not_count_it(s3: Any) -> None:
    put(s3, f"sales/{DAY}/part-0.csv", b"1234")
    config = {"url": f"s3://{BUCKET}/sales/${{date}}", "marker": "_SUCCESS"}  # no slash: read as the folder
    before = evaluate(config)
    assert before.status is TraitStatus.FAIL
    assert before.reason is not None and before.reason.startswith("marker _SUCCESS not found; 1 object")
    put(s3, f"sales/{DAY}/_SUCCESS", b"")
    after = evaluate(config)
    assert after.status is TraitStatus.PASS
    assert after.value is not None and (after.value["count"], after.value["marker"]) == (1, True)


def test_key_pattern_matches_within_a_folder_and_across_with_double_star(s3: Any) -> None:
    for key in (f"sales/{DAY}/a.parquet", f"sales/{DAY}/b.csv", f"sales/{DAY}/sub/c.parquet"):
        put(s3, key)
    one = evaluate({"url": f"s3://{BUCKET}/sales/${{date}}/*.parquet"})
    assert one.value is not None and one.value["count"] == 1
    deep = evaluate({"url": f"s3://{BUCKET}/sales/${{date}}/**.parquet"})
    assert deep.value is not None and deep.value["count"] == 2


def test_newer_than_a_duration_counts_only_recent_objects(s3: Any) -> None:
    put(s3, f"sales/{DAY}/part-0.csv")
    config = {"url": f"s3://{BUCKET}/sales/${{date}}/", "newerThan": "1h"}
    assert evaluate(config).status is TraitStatus.PASS
    later = evaluate(config, now=datetime.now(UTC) + timedelta(hours=2))
    assert later.status is TraitStatus.FAIL
    assert later.reason is not None and "0 objects (0 bytes)" in later.reason and "modified after" in later.reason


def test_newer_than_period_start_uses_the_schedule_zone(s3: Any) -> None:
    put(s3, "sales/landed/part-0.csv")
    store = MemoryStore()
    store.register_pipeline(PipelineConfig.model_validate({
        "name": "sales", "archetype": "a", "schedules": [{"name": "daily", "timezone": "Pacific/Kiritimati"}]}))
    zone_today = datetime.now(UTC).astimezone(objects_zone("Pacific/Kiritimati")).date()
    config = {"url": f"s3://{BUCKET}/sales/landed/", "newerThan": "period-start"}
    assert evaluate(config, store=store, date=zone_today.isoformat()).status is TraitStatus.PASS
    tomorrow = (zone_today + timedelta(days=1)).isoformat()  # that period starts after the object landed
    assert evaluate(config, store=store, date=tomorrow).status is TraitStatus.FAIL


def test_period_start_from_the_request_wins(s3: Any) -> None:
    put(s3, "sales/landed/part-0.csv")
    config = {"url": f"s3://{BUCKET}/sales/landed/", "newerThan": "period-start"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert evaluate({**config, "periodStart": future}).status is TraitStatus.FAIL


def test_rules_apply_to_the_counts(s3: Any) -> None:
    put(s3, f"sales/{DAY}/a.csv", b"12")
    out = evaluate({"url": f"s3://{BUCKET}/sales/${{date}}/", "rules": [{"field": "bytes", "check": "gte",
                                                                         "value": 100}]})
    assert (out.status, out.reason) == (TraitStatus.FAIL, "rule 1 (bytes gte 100) did not hold: bytes is 2")


def test_missing_bucket_is_permanent(s3: Any) -> None:
    out = evaluate({"url": "s3://no-such-bucket-here/x/"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and "NoSuchBucket" in out.reason


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    objects.forget_clients()
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    out = evaluate({"url": f"s3://{BUCKET}/x/_SUCCESS"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == ("builtin:object-exists: s3:// URLs need boto3, which is not installed: "
                          "pip install 'interlock[aws]'")


def objects_zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# -- local files ----------------------------------------------------------------------------------


def touch(path: Path, body: bytes = b"x", age: timedelta | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    if age is not None:
        stamp = (datetime.now(UTC) - age).timestamp()
        os.utime(path, (stamp, stamp))


def test_local_glob_relative_to_the_project(tmp_path: Path) -> None:
    touch(tmp_path / "data" / "sales" / DAY / "a.parquet", b"123")
    touch(tmp_path / "data" / "sales" / DAY / "b.parquet", b"45")
    touch(tmp_path / "data" / "sales" / DAY / "c.csv")
    out = evaluate({"url": "data/sales/${date}/*.parquet", "minCount": 2}, root=tmp_path)
    assert out.status is TraitStatus.PASS, out.reason
    assert out.value is not None and (out.value["count"], out.value["bytes"]) == (2, 5)
    assert out.value["sample"] == [f"data/sales/{DAY}/a.parquet", f"data/sales/{DAY}/b.parquet"]


def test_local_folder_counts_files_at_any_depth_but_not_hidden_ones(tmp_path: Path) -> None:
    base = tmp_path / "data" / DAY
    for name in ("part-0", "sub/part-1", "_SUCCESS", ".part-0.crc", "_temporary/x"):
        touch(base / name)
    out = evaluate({"url": f"file://{base}", "marker": "_SUCCESS", "minCount": 2}, root=tmp_path)
    assert out.status is TraitStatus.PASS, out.reason
    assert out.value is not None and (out.value["count"], out.value["marker"]) == (2, True)


def test_local_newer_than_uses_modification_times(tmp_path: Path) -> None:
    touch(tmp_path / "in" / "old.csv", age=timedelta(hours=3))
    out = evaluate({"url": "in/", "newerThan": "1h"}, root=tmp_path)
    assert out.status is TraitStatus.FAIL
    touch(tmp_path / "in" / "new.csv")
    assert evaluate({"url": "in/", "newerThan": "1h"}, root=tmp_path).status is TraitStatus.PASS


def test_relative_path_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    touch(tmp_path / "secret.txt")
    out = evaluate({"url": "../secret.txt"}, root=tmp_path / "project")
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and "points outside the project folder" in out.reason


def test_link_out_of_the_project_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    touch(tmp_path / "elsewhere" / "x.csv")
    (project / "data" / "link").symlink_to(tmp_path / "elsewhere")
    out = evaluate({"url": "data/link/*.csv"}, root=project)
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and "outside the project folder" in out.reason
