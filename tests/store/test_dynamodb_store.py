"""DynamoDB-specific behaviour: paging past 1 MB pages, races, the change feed, the reference's bugs fixed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from interlock.errors import UnknownRun
from interlock.model import Alert, AlertLevel, EventKind, PipelineConfig, RunStatus, TraitStatus
from interlock.store.base import BreakerOp, BreakerPolicy, ChangeKind, Lock
from interlock.store.dynamodb import DynamoStore
from tests.conformance.backends import ShiftedClock
from tests.conformance.backends import open_store as open_spec
from tests.conformance.test_store_contract import T0, event, now, pipeline, run, trait

R = TypeVar("R")
BIG = "x" * 60_000  # 60 kB per item: 20 of them exceed one 1 MB query page


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def store(spec: dict[str, Any], clock: ShiftedClock) -> DynamoStore:
    store: DynamoStore = open_spec(spec, clock)
    return store


def race(n: int, attempt: Callable[[int], R]) -> list[R]:
    """Run ``attempt(0..n-1)`` on ``n`` threads released together."""
    barrier = threading.Barrier(n)

    def go(i: int) -> R:
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


# -- paging: DynamoDB returns at most 1 MB per query page ------------------------------------------------


def needs_more_than_one_page(store: DynamoStore, pk: str) -> bool:
    """Whether one plain query of partition ``pk`` stops early (so a reader must follow LastEvaluatedKey)."""
    answer = store.c.query(TableName=store.table, KeyConditionExpression="PK = :pk",
                           ExpressionAttributeValues={":pk": {"S": pk}})
    return "LastEvaluatedKey" in answer


def test_reading_events_follows_pages_past_one_megabyte(store: DynamoStore) -> None:
    # An event's details are capped (interlock/eventsize.py): three values just under the
    # per-value cap make each event about 12 KB, and 100 of them pass DynamoDB's 1 MB page.
    details = {f"part{k}": "x" * 4000 for k in range(3)}
    for i in range(100):
        store.append_event(event("ct-big", message=str(i), details=details))
    assert needs_more_than_one_page(store, "PIPELINE#ct-big")
    assert [r.event.message for r in store.read_events("ct-big", "", 200)] == [str(i) for i in range(100)]
    assert [r.event.message for r in store.read_all_events("", 200)] == [str(i) for i in range(100)]
    assert len(store.read_changes("", 1000)) == 100


def test_traits_follow_pages_past_one_megabyte_and_large_pipelines_all_list(store: DynamoStore) -> None:
    for i in range(25):
        store.put_trait(trait("ct-big", f"t{i:02d}", reason=BIG), ttl=0)
    assert needs_more_than_one_page(store, "PIPELINE#ct-big")
    assert [t.trait_type for t in store.get_traits("ct-big")] == [f"t{i:02d}" for i in range(25)]
    for i in range(20):
        store.register_pipeline(pipeline(f"down-{i:02d}", traits={
            "up": {"config": {"upstreamPipeline": "up", "padding": BIG}}}))
    assert [p.name for p in store.list_pipelines()] == [f"down-{i:02d}" for i in range(20)]
    assert store.list_dependents("up") == [f"down-{i:02d}" for i in range(20)]


def test_many_due_items_are_all_read_in_time_order(store: DynamoStore) -> None:
    base = now()
    keys = [f"eval:p{i:04d}:daily" for i in range(1200)]  # more than one 1000-item GSI page
    store.set_due_many(keys, base - timedelta(seconds=5))
    store.set_due("eval:late:daily", base + timedelta(hours=1))
    due = store.due(base, limit=5000)
    assert [d.key for d in due] == keys


# -- limits apply after the expiry filter ----------------------------------------------------------------


def test_a_limit_counts_only_live_events(spec: dict[str, Any], store: DynamoStore) -> None:
    short = open_spec({**spec, "retention_seconds": 60}, store.clock)
    for i in range(5):
        store.append_event(event("ct-mixed", message=f"kept-{i}"))
    for i in range(5):
        short.append_event(event("ct-mixed", message=f"gone-{i}"))
    store.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    # The five newest items are expired (not yet swept): the limit must still yield five live events.
    assert [r.event.message for r in store.list_events("ct-mixed", 5)] == [f"kept-{i}" for i in range(5)]
    assert [r.event.message for r in store.read_all_events("", 3)] == ["kept-0", "kept-1", "kept-2"]


def test_expired_alerts_are_not_listed(store: DynamoStore, clock: ShiftedClock) -> None:
    store.put_alert(Alert(level=AlertLevel.ERROR, pipeline_id="ct-al", message="old", timestamp=now()))
    clock.advance(timedelta(days=8))  # past the 7-day retention, not yet swept by DynamoDB
    store.put_alert(Alert(level=AlertLevel.ERROR, pipeline_id="ct-al", message="new", timestamp=clock.now()))
    assert [a.message for a in store.list_alerts("ct-al", 10)] == ["new"]
    assert [a.message for a in store.list_all_alerts(10)] == ["new"]


def test_runs_list_in_time_order_whatever_the_fraction_digits(store: DynamoStore) -> None:
    # The reference's RFC3339Nano sort keys put "...:00Z" after "...:00.1Z"; fixed-width keys do not.
    whole = datetime(2026, 2, 21, 12, 0, 0, tzinfo=UTC)
    store.put_run(run("ct-later", "ct-frac", created=whole + timedelta(milliseconds=100)))
    store.put_run(run("ct-earlier", "ct-frac", created=whole))
    assert [r.run_id for r in store.list_runs("ct-frac")] == ["ct-later", "ct-earlier"]


# -- compare-and-swap races: exactly one winner --------------------------------------------------------------


def test_ten_threads_racing_one_cas_make_one_winner_and_one_change(store: DynamoStore) -> None:
    original = run("ct-race", "ct-race-pipe")
    store.put_run(original)

    def attempt(i: int) -> bool:
        new = original.model_copy(update={"status": RunStatus.TRIGGERING, "version": 2, "metadata": {"winner": i}})
        return store.cas_run("ct-race", 1, new)

    results = race(10, attempt)
    assert results.count(True) == 1
    changes = store.read_changes()
    assert [c.data["status"] for c in changes] == ["PENDING", "TRIGGERING"]
    assert changes[1].data["metadata"] == {"winner": results.index(True)}


def test_a_second_claim_returns_the_recorded_run_and_never_resets_it(store: DynamoStore) -> None:
    # A retried trigger must not reset the run to PENDING v1 and start the job again.
    first, won = store.claim("orders:daily:2026-02-21", run("run-a", "orders", RunStatus.TRIGGERING))
    assert won
    advanced = first.model_copy(update={"status": RunStatus.RUNNING, "version": 2})
    assert store.cas_run("run-a", 1, advanced)
    owner, won_again = store.claim("orders:daily:2026-02-21", run("run-b", "orders", RunStatus.TRIGGERING))
    assert not won_again
    assert (owner.run_id, owner.status, owner.version) == ("run-a", RunStatus.RUNNING, 2)
    with pytest.raises(UnknownRun):
        store.get_run("run-b")


def test_a_claim_can_be_taken_again_once_it_has_expired(store: DynamoStore, clock: ShiftedClock) -> None:
    assert store.claim("k", run("run-1", "p"))[1]
    clock.advance(timedelta(days=8))  # past retention; DynamoDB has not swept the item yet
    owner, won = store.claim("k", run("run-2", "p"))
    assert won and owner.run_id == "run-2"


def test_ten_threads_appending_events_get_distinct_numbers_and_a_gapless_ordered_feed(store: DynamoStore) -> None:
    def append(i: int) -> list[str]:
        return [store.append_event(event(f"ct-par-{i % 3}", EventKind.TRAIT_EVALUATED, message=f"{i}-{j}"))
                for j in range(5)]

    ids = [(f"ct-par-{i % 3}", cursor) for i, batch in enumerate(race(10, append)) for cursor in batch]
    assert len(set(ids)) == 50  # numbers are distinct within each pipeline
    changes = store.read_changes()
    by_shard: dict[str, list[int]] = {}
    for c in changes:
        shard, _, seq = c.id.partition("-")
        by_shard.setdefault(shard, []).append(int(seq))
    # Each shard's changes were committed in number order, none missing.
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_shard.values())
    assert sorted((c.data["pipelineId"], c.ref) for c in changes) == sorted(ids)
    feed = store.read_all_events("", 100)
    assert len(feed) == 50
    for pipeline_id in {r.event.pipeline_id for r in feed}:  # each pipeline's list is in number order
        numbers = [r.stream_id for r in store.list_events(pipeline_id, 50)]
        assert numbers == sorted(numbers)


def test_a_stale_change_number_is_retried_not_lost(spec: dict[str, Any], store: DynamoStore) -> None:
    other = open_spec(spec)
    store.append_event(event("ct-seq", message="a"))
    other.append_event(event("ct-seq", message="b"))  # ``other`` starts from a stale guess of the counter
    store.append_event(event("ct-seq", message="c"))  # and so does ``store`` now
    assert [c.data["message"] for c in store.read_changes()] == ["a", "b", "c"]


def test_ten_threads_racing_one_lock_get_one_holder_and_growing_fences(store: DynamoStore) -> None:
    locks = race(10, lambda i: store.acquire_lock("ct-lock", 30))
    held = [lock for lock in locks if lock is not None]
    assert len(held) == 1
    assert store.release_lock(held[0])
    again = store.acquire_lock("ct-lock", 30)
    assert again is not None and again.fence == held[0].fence + 1


# -- locks: the right token only ---------------------------------------------------------------------------


def test_release_with_a_wrong_token_is_refused_and_the_lock_stays_held(store: DynamoStore) -> None:
    lock = store.acquire_lock("eval:orders:daily", 300)
    assert lock is not None
    assert not store.release_lock(Lock(lock.key, "", 0))  # the reference's state machine sent ""
    assert not store.release_lock(Lock(lock.key, f"{lock.fence}:someone-else", lock.fence))
    assert store.acquire_lock("eval:orders:daily", 300) is None
    assert store.release_lock(lock)
    assert store.acquire_lock("eval:orders:daily", 300) is not None


def test_a_heartbeat_keeps_a_long_lock_and_a_stale_holder_cannot_extend(store: DynamoStore,
                                                                       clock: ShiftedClock) -> None:
    lock = store.acquire_lock("eval:long:daily", 300)
    assert lock is not None
    for _ in range(3):  # an execution far longer than the lock's TTL, renewing it as it goes
        clock.advance(timedelta(seconds=200))
        assert store.extend_lock(lock, 300)
    assert store.acquire_lock("eval:long:daily", 300) is None
    clock.advance(timedelta(seconds=301))
    assert not store.extend_lock(lock, 300)  # expired: someone else may hold it now
    assert store.acquire_lock("eval:long:daily", 300) is not None


# -- the rest of the coordination surface -----------------------------------------------------------------------


def test_breaker_opens_at_the_threshold_once_and_probes_after_the_cooldown(store: DynamoStore) -> None:
    policy = BreakerPolicy(threshold=3, window=60, cooldown=30)
    trips = [store.breaker("svc", BreakerOp.FAILURE, T0 + timedelta(seconds=i), policy) for i in range(4)]
    assert trips == [(False, "CLOSED"), (False, "CLOSED"), (True, "OPEN"), (False, "OPEN")]
    assert store.breaker("svc", BreakerOp.ALLOW, T0 + timedelta(seconds=10), policy) == (False, "OPEN")
    probes = race(5, lambda i: store.breaker("svc", BreakerOp.ALLOW, T0 + timedelta(seconds=40), policy))
    assert probes.count((True, "HALF_OPEN")) == 1  # one probe at a time, even when callers race
    assert store.breaker("svc", BreakerOp.SUCCESS, T0 + timedelta(seconds=41), policy) == (True, "CLOSED")
    assert store.breaker("svc", BreakerOp.ALLOW, T0 + timedelta(seconds=42), policy) == (True, "CLOSED")


def test_mark_once_under_a_race_is_true_exactly_once(store: DynamoStore) -> None:
    assert race(10, lambda i: store.mark_once("alert:missed:orders:2026-02-21", 3600)).count(True) == 1


def test_counts_add_up_across_threads(store: DynamoStore) -> None:
    race(10, lambda i: store.count({"triggers": 1, "seconds": 0.5}))
    assert store.counts() == {"triggers": 10.0, "seconds": 5.0}


def test_due_reports_only_what_the_item_still_says(store: DynamoStore) -> None:
    at = now() - timedelta(seconds=1)
    store.set_due("run:r1", at)
    assert store.clear_due("run:r1", only_if_at=at)
    assert not store.clear_due("run:r1", only_if_at=at)  # already gone
    assert not store.clear_due("run:never")
    assert store.due(now()) == []


def test_registered_at_survives_re_registration(store: DynamoStore, clock: ShiftedClock) -> None:
    store.register_pipeline(PipelineConfig.model_validate({"name": "ct-reg", "archetype": "a"}))
    first = store.registered_at("ct-reg")
    clock.advance(timedelta(hours=1))
    store.register_pipeline(PipelineConfig.model_validate({"name": "ct-reg", "archetype": "b"}))
    assert store.registered_at("ct-reg") == first
    assert store.get_pipeline("ct-reg").archetype == "b"


def test_trimming_the_change_feed_keeps_later_changes(store: DynamoStore) -> None:
    for i in range(30):
        store.append_event(event("ct-trim", message=str(i), status=TraitStatus.PASS.value))
    changes = store.read_changes("", 10)
    assert [c.kind for c in changes] == [ChangeKind.EVENT] * 10
    assert store.trim_changes(changes[-1].resume_from) == 10
    rest = store.read_changes()
    assert [c.data["message"] for c in rest] == [str(i) for i in range(10, 30)]
    with pytest.raises(ValueError, match="not a cursor"):
        store.read_changes("1700000000000-0")
