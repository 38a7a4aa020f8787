"""DynamoDB's sharded change feed: no hot key, each shard gap-free, each pipeline in commit order.

Writers on threads (each with a store of its own, so each guesses the shard counters on its own) race
on a few shards while a reader follows the feed, as the archiver does; the reader must never see a
change before an earlier one of its shard, nor miss or repeat one.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import pytest

from interlock.model import Alert, AlertLevel, EventKind
from interlock.store.base import Change
from interlock.store.dynamodb import (
    CHANGE_SHARDS,
    DynamoStore,
    change_shard,
    format_feed_cursor,
    parse_feed_cursor,
)
from tests.conformance.backends import dynamo_client
from tests.conformance.test_store_contract import event, now

SHARDS = 4  # few shards, so writers collide on each


def shard_store(spec: dict[str, Any], shards: int = SHARDS) -> DynamoStore:
    return DynamoStore(dynamo_client(spec), spec["table"], change_shards=shards)


def shard_and_seq(change: Change) -> tuple[int, int]:
    shard, _, seq = change.id.partition("-")
    return int(shard), int(seq)


def test_pipelines_spread_over_the_shards_and_each_stays_in_one() -> None:
    names = [f"pipeline-{i}" for i in range(50_000)]
    per_shard = collections.Counter(change_shard(n, CHANGE_SHARDS) for n in names)
    assert len(per_shard) == CHANGE_SHARDS
    mean = len(names) / CHANGE_SHARDS
    assert max(per_shard.values()) < 1.25 * mean and min(per_shard.values()) > 0.75 * mean
    assert {change_shard("orders", CHANGE_SHARDS) for _ in range(3)} == {change_shard("orders", CHANGE_SHARDS)}


def test_a_feed_cursor_holds_one_position_per_shard_and_bad_ones_are_refused() -> None:
    assert parse_feed_cursor("", 4) == {} == parse_feed_cursor("0-0", 4)
    assert parse_feed_cursor("0:3,2:17", 4) == {0: 3, 2: 17}
    assert format_feed_cursor({2: 17, 0: 3, 1: 0}) == "0:3,2:17"
    # A cursor of the single-counter feed this one replaced reads the shards from their start.
    assert parse_feed_cursor("00000000000000000042", 4) == {}
    for bad in ("1700000000000-0", "x", "1:2,1:3", "4:1", "1:", ":1", "1:-2"):
        with pytest.raises(ValueError, match="not a cursor of this store"):
            parse_feed_cursor(bad, 4)


def test_concurrent_writers_leave_every_shard_gap_free_and_every_pipeline_in_order(spec: dict[str, Any]) -> None:
    writers, per_writer, pipelines = 8, 12, 6
    stop = threading.Event()
    seen: list[Change] = []
    problems: list[str] = []

    def write(w: int) -> None:
        store = shard_store(spec)
        for i in range(per_writer):
            # Two writers share each pipeline, so a pipeline's order is decided by commit, not by one thread.
            store.append_event(event(f"feed-{(w + i) % pipelines}", EventKind.TRAIT_EVALUATED, message=f"{w}:{i}"))

    def follow() -> None:
        reader, cursor = shard_store(spec), ""
        last: dict[int, int] = {}
        while True:
            finished = stop.is_set()  # read on after the writers stop, until nothing more: then it is complete
            changes = reader.read_changes(cursor, 5)
            for change in changes:
                shard, seq = shard_and_seq(change)
                if seq != last.get(shard, 0) + 1:
                    problems.append(f"shard {shard}: {seq} after {last.get(shard, 0)}")
                last[shard] = seq
                seen.append(change)
                cursor = change.resume_from
            if finished and not changes:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    follower.join()

    assert problems == []  # no change was ever seen before an earlier one of its shard
    assert len(seen) == writers * per_writer == len({c.id for c in seen})  # none missing, none twice
    assert len({shard_and_seq(c)[0] for c in seen}) > 1  # the writes did spread
    per_pipeline: dict[str, list[Change]] = collections.defaultdict(list)
    for c in seen:
        per_pipeline[c.data["pipelineId"]].append(c)
    store = shard_store(spec)
    for pipeline, changes in per_pipeline.items():
        assert len({shard_and_seq(c)[0] for c in changes}) == 1  # a pipeline stays in its shard
        refs = [c.ref for c in changes]
        assert refs == sorted(refs)  # in commit order: the order of its event numbers
        assert [r.stream_id for r in store.read_events(pipeline, "", 100)] == refs
        for w in range(writers):  # and each writer's own writes in the order it made them
            mine = [int(c.data["message"].split(":")[1]) for c in changes if c.data["message"].startswith(f"{w}:")]
            assert mine == sorted(mine)
    # "Nothing more": the shard counters say exactly how far each shard goes, and the cursor is there.
    cursor = seen[-1].resume_from
    assert parse_feed_cursor(cursor, SHARDS) == store._heads()
    assert store.read_changes(cursor) == []


def test_the_global_event_list_merges_the_shards_and_pages_with_a_cursor(spec: dict[str, Any]) -> None:
    store = shard_store(spec)
    for i in range(20):
        store.append_event(event(f"all-{i % 5}", message=str(i)))
    seen, cursor = [], ""
    while page := store.read_all_events(cursor, 3):
        seen += [r.event.message for r in page]
        cursor = page[-1].stream_id
    assert seen == [str(i) for i in range(20)]  # one writer: its commit order across shards


def test_alerts_without_a_pipeline_and_runs_share_the_feed(spec: dict[str, Any]) -> None:
    store = shard_store(spec)
    store.put_alert(Alert(level=AlertLevel.ERROR, message="global", timestamp=now()))
    store.put_alert(Alert(level=AlertLevel.WARNING, pipeline_id="feed-a", message="mine", timestamp=now()))
    assert sorted(c.data["message"] for c in store.read_changes()) == ["global", "mine"]


def test_alerts_of_one_millisecond_from_two_shards_are_both_kept(spec: dict[str, Any]) -> None:
    store = shard_store(spec)
    names = iter(f"feed-ms-{i}" for i in range(100))
    first = next(names)
    second = next(n for n in names if change_shard(n, SHARDS) != change_shard(first, SHARDS))
    at = now()
    for name in (first, second):  # each is its shard's change 1, at the same millisecond
        store.put_alert(Alert(level=AlertLevel.ERROR, pipeline_id=name, message=name, timestamp=at))
    assert sorted(a.message for a in store.list_all_alerts()) == sorted([first, second])


def test_a_store_opened_with_another_shard_count_is_refused_and_writes_nothing(spec: dict[str, Any]) -> None:
    shard_store(spec).append_event(event("feed-count", message="first"))
    other = shard_store(spec, shards=8)
    with pytest.raises(ValueError, match="change_shards=8"):
        other.append_event(event("feed-count", message="second"))
    with pytest.raises(ValueError, match="keeps its change feed in 4 shards"):
        other.read_changes()
    assert [r.event.message for r in shard_store(spec).read_events("feed-count")] == ["first"]
    with pytest.raises(ValueError, match="between 1 and 999"):
        shard_store(spec, shards=0)


def test_an_upgraded_table_numbers_events_after_its_legacy_counter(spec: dict[str, Any]) -> None:
    client = dynamo_client(spec)
    client.put_item(TableName=spec["table"], Item={"PK": {"S": "SEQ"}, "SK": {"S": "SEQ"}, "n": {"N": "41"}})
    client.put_item(TableName=spec["table"], Item={"PK": {"S": "PIPELINE#feed-old"},
                                                   "SK": {"S": "EVENT#00000000000000000041"}, "data": {"S": "{}"}})
    store = shard_store(spec)
    assert store.append_event(event("feed-old", message="after")) == "00000000000000000042"
    # An archiver's cursor of the old feed reads the new shards from their start.
    assert [c.data["message"] for c in store.read_changes("00000000000000000041")] == ["after"]


def test_trimming_deletes_only_what_the_cursor_covers_in_each_shard(spec: dict[str, Any]) -> None:
    store = shard_store(spec)
    for i in range(12):
        store.append_event(event(f"trim-{i % 4}", message=str(i)))
    first = store.read_changes("", 5)
    assert store.trim_changes(first[-1].resume_from) == 5
    assert store.trim_changes(first[-1].resume_from) == 0  # already trimmed: no shard is read again
    rest = shard_store(spec).read_changes()
    assert sorted(int(c.data["message"]) for c in first + rest) == list(range(12))
    assert len(rest) == 7
