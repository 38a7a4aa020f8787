"""The storage contract: every backend must pass every test here.

C1-C25 are the reference's contract tests (those whose records this store keeps), then the
extras the reference recommended, with their fixes, then the races and feeds the lifecycle relies on.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.errors import UnknownPipeline, UnknownRun
from interlock.model import (
    Alert,
    AlertLevel,
    Event,
    EventKind,
    PipelineConfig,
    ReadinessResult,
    ReadinessStatus,
    RerunRecord,
    RunLogEntry,
    RunState,
    RunStatus,
    TraitEvaluation,
    TraitStatus,
)
from interlock.store.base import ChangeKind, Epoch, EpochChanged, SensorReading, TraitSource
from interlock.store.redis import RedisStore
from tests.conformance.backends import SERVICE_BACKENDS, SHARED_BACKENDS, ShiftedClock, open_store

T0 = datetime(2026, 2, 21, 12, 0, tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def run(run_id: str, pipeline: str = "ct-pipe", status: RunStatus = RunStatus.PENDING, version: int = 1,
        created: datetime | None = None, **metadata: Any) -> RunState:
    at = created or now()
    return RunState(run_id=run_id, pipeline_id=pipeline, status=status, version=version,
                    created_at=at, updated_at=at, metadata=metadata)


def trait(pipeline: str, trait_type: str, status: TraitStatus = TraitStatus.PASS,
          at: datetime | None = None, reason: str | None = None) -> TraitEvaluation:
    return TraitEvaluation(pipeline_id=pipeline, trait_type=trait_type, status=status,
                           evaluated_at=at or now(), reason=reason)


def event(pipeline: str, kind: EventKind = EventKind.TRAIT_EVALUATED, **fields: Any) -> Event:
    return Event(kind=kind, pipeline_id=pipeline, timestamp=fields.pop("timestamp", now()), **fields)


def run_log(pipeline: str, date: str, schedule: str, status: RunStatus, run_id: str,
            started: datetime | None = None) -> RunLogEntry:
    at = started or now()
    return RunLogEntry(pipeline_id=pipeline, date=date, schedule_id=schedule, status=status, attempt_number=1,
                       run_id=run_id, started_at=at, updated_at=at)


def pipeline(name: str, archetype: str = "batch-ingestion", **extra: Any) -> PipelineConfig:
    return PipelineConfig.model_validate({"name": name, "archetype": archetype, **extra})


# -- C1-C25 -----------------------------------------------------------------------------------------


def test_c1_pipeline_crud(store: RedisStore) -> None:
    store.register_pipeline(pipeline("ct-pipeline", tier=2))
    got = store.get_pipeline("ct-pipeline")
    assert (got.name, got.archetype, got.tier) == ("ct-pipeline", "batch-ingestion", 2)
    assert len(store.list_pipelines()) == 1
    store.register_pipeline(pipeline("ct-pipeline-2", "streaming"))
    assert {p.name for p in store.list_pipelines()} == {"ct-pipeline", "ct-pipeline-2"}
    store.delete_pipeline("ct-pipeline")
    with pytest.raises(UnknownPipeline, match="unknown pipeline 'ct-pipeline'"):
        store.get_pipeline("ct-pipeline")
    store.delete_pipeline("never-existed")  # deleting a missing pipeline is fine


def test_c2_trait_put_get(store: RedisStore) -> None:
    store.put_trait(trait("ct-trait-pg", "freshness"), ttl=3600)
    got = store.get_trait("ct-trait-pg", "freshness")
    assert got is not None and got.status is TraitStatus.PASS
    assert len(store.get_traits("ct-trait-pg")) == 1
    store.put_trait(trait("ct-trait-pg", "completeness", TraitStatus.FAIL, reason="missing rows"), ttl=3600)
    assert {t.trait_type for t in store.get_traits("ct-trait-pg")} == {"freshness", "completeness"}


def test_c3_trait_expires_after_its_ttl(store: RedisStore, clock: ShiftedClock) -> None:
    store.put_trait(trait("ct-trait-ttl", "freshness", at=clock.now()), ttl=2)
    assert store.get_trait("ct-trait-ttl", "freshness") is not None
    clock.advance(timedelta(seconds=3))
    assert store.get_trait("ct-trait-ttl", "freshness") is None
    assert store.get_traits("ct-trait-ttl") == []


def test_c4_run_put_get(store: RedisStore) -> None:
    store.put_run(run("ct-run-pg"))
    got = store.get_run("ct-run-pg")
    assert (got.run_id, got.status) == ("ct-run-pg", RunStatus.PENDING)
    with pytest.raises(UnknownRun, match="unknown run 'ct-nonexistent-run'"):
        store.get_run("ct-nonexistent-run")


def test_c5_runs_list_newest_first(store: RedisStore) -> None:
    for i in range(5):
        store.put_run(run(f"ct-list-{i}", "ct-list-pipe", RunStatus.COMPLETED, created=T0 + timedelta(seconds=i)))
    assert [r.run_id for r in store.list_runs("ct-list-pipe", 3)] == ["ct-list-4", "ct-list-3", "ct-list-2"]


def test_c6_compare_and_swap(store: RedisStore) -> None:
    original = run("ct-cas")
    store.put_run(original)
    assert store.cas_run("ct-cas", 1, original.model_copy(update={"status": RunStatus.TRIGGERING, "version": 2}))
    assert not store.cas_run("ct-cas", 1, original.model_copy(update={"status": RunStatus.RUNNING, "version": 2}))
    got = store.get_run("ct-cas")
    assert (got.status, got.version) == (RunStatus.TRIGGERING, 2)


def test_c7_ten_threads_racing_one_cas_exactly_one_wins(store: RedisStore) -> None:
    original = run("ct-race")
    store.put_run(original)
    barrier = threading.Barrier(10)

    def attempt(i: int) -> bool:
        barrier.wait()
        new = original.model_copy(update={"status": RunStatus.TRIGGERING, "version": 2, "metadata": {"winner": i}})
        return store.cas_run("ct-race", 1, new)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert results.count(True) == 1
    assert store.get_run("ct-race").metadata["winner"] == results.index(True)


def test_c8_run_lookup_by_id_alone(store: RedisStore) -> None:
    store.put_run(run("ct-direct", "ct-pipe", RunStatus.RUNNING))
    got = store.get_run("ct-direct")
    assert (got.run_id, got.pipeline_id, got.status) == ("ct-direct", "ct-pipe", RunStatus.RUNNING)


def test_c9_readiness_put_get(store: RedisStore) -> None:
    assert store.get_readiness("ct-readiness") is None
    store.put_readiness(ReadinessResult(pipeline_id="ct-readiness", status=ReadinessStatus.READY,
                                        traits=[trait("ct-readiness", "freshness")], evaluated_at=now()), ttl=300)
    got = store.get_readiness("ct-readiness")
    assert got is not None and got.status is ReadinessStatus.READY and len(got.traits) == 1


def test_c10_run_log_crud(store: RedisStore) -> None:
    store.put_run_log(run_log("ct-runlog", "2026-02-21", "daily", RunStatus.COMPLETED, "ct-rl-run-1"))
    got = store.get_run_log("ct-runlog", "2026-02-21", "daily")
    assert got is not None and (got.run_id, got.schedule_id) == ("ct-rl-run-1", "daily")
    store.put_run_log(run_log("ct-runlog", "2026-02-21", "morning", RunStatus.RUNNING, "ct-rl-run-2"))
    assert len(store.list_run_logs("ct-runlog", 10)) == 2
    assert store.get_run_log("ct-runlog", "2026-01-01", "daily") is None
    store.put_run_log(run_log("ct-runlog", "2026-02-22", "", RunStatus.PENDING, "ct-rl-run-3"))
    got = store.get_run_log("ct-runlog", "2026-02-22", "daily")
    assert got is not None and got.schedule_id == "daily"


def test_cron_period_keys_address_run_logs_and_claims_apart(store: RedisStore) -> None:
    # The two 01:00 periods of a fall-back night, and an ordinary hour: three keys, three records.
    keys = ("2026-10-25T0100", "2026-10-25T0100p0000", "2026-10-25T0200")
    for hour, key in enumerate(keys, start=1):
        store.put_run_log(run_log("ct-cron", key, "hourly", RunStatus.COMPLETED, f"ct-cron-hourly-{key}-1",
                                  started=datetime(2026, 10, 25, hour, tzinfo=UTC)))
    for key in keys:
        got = store.get_run_log("ct-cron", key, "hourly")
        assert got is not None and got.run_id == f"ct-cron-hourly-{key}-1"
    assert [e.date for e in store.list_run_logs("ct-cron", 10)] == list(reversed(keys))
    assert store.get_run_log("ct-cron", "2026-10-25", "hourly") is None
    now = datetime(2026, 10, 25, 1, tzinfo=UTC)
    runs = [RunState(run_id=f"ct-cron-hourly-{key}-1", pipeline_id="ct-cron", status=RunStatus.TRIGGERING, version=1,
                     created_at=now, updated_at=now, schedule_id="hourly", period=key, attempt=1) for key in keys[:2]]
    assert [store.claim(f"ct-cron:hourly:{r.period}:1", r)[1] for r in runs] == [True, True]
    assert store.claim(f"ct-cron:hourly:{keys[0]}:1", runs[1])[1] is False
    assert store.get_run(runs[1].run_id).period == keys[1]


def test_c11_rerun_crud(store: RedisStore) -> None:
    def rerun(rid: str, pipe: str, reason: str, status: RunStatus, at: datetime) -> RerunRecord:
        return RerunRecord(rerun_id=rid, pipeline_id=pipe, original_date="2026-02-20", original_run_id="ct-orig-run-1",
                           reason=reason, status=status, requested_at=at)

    store.put_rerun(rerun("ct-rerun-1", "ct-rerun-pipe", "late data", RunStatus.PENDING, T0))
    got = store.get_rerun("ct-rerun-1")
    assert got is not None and (got.pipeline_id, got.reason) == ("ct-rerun-pipe", "late data")
    store.put_rerun(rerun("ct-rerun-2", "ct-rerun-pipe", "correction", RunStatus.COMPLETED, T0 + timedelta(seconds=1)))
    assert [r.rerun_id for r in store.list_reruns("ct-rerun-pipe", 10)] == ["ct-rerun-2", "ct-rerun-1"]
    store.put_rerun(rerun("ct-rerun-3", "ct-rerun-pipe2", "x", RunStatus.PENDING, T0 + timedelta(seconds=2)))
    assert [r.rerun_id for r in store.list_all_reruns(50)] == ["ct-rerun-3", "ct-rerun-2", "ct-rerun-1"]
    assert store.get_rerun("ct-nonexistent-rerun") is None


def test_c12_locking(store: RedisStore) -> None:
    t1 = store.acquire_lock("ct-lock:pipe1:daily", 30)
    assert t1 is not None and t1.token
    assert store.acquire_lock("ct-lock:pipe1:daily", 30) is None
    assert store.acquire_lock("ct-lock:pipe2:daily", 30) is not None
    assert store.release_lock(t1)
    t4 = store.acquire_lock("ct-lock:pipe1:daily", 30)
    assert t4 is not None
    assert not store.release_lock(t1)  # stale token: changes nothing
    assert store.acquire_lock("ct-lock:pipe1:daily", 30) is None
    assert t4.fence > t1.fence


def test_c13_lock_expires(store: RedisStore) -> None:
    assert store.acquire_lock("ct-expiring-lock", 0.3) is not None
    assert store.acquire_lock("ct-expiring-lock", 30) is None
    time.sleep(0.5)
    assert store.acquire_lock("ct-expiring-lock", 30) is not None


def test_c14_events_list_oldest_first(store: RedisStore) -> None:
    for i in range(5):
        store.append_event(event("ct-event-al", trait_type=f"trait-{i}", status="PASS",
                                 timestamp=T0 + timedelta(seconds=i)))
    records = store.list_events("ct-event-al", 10)
    assert [r.event.trait_type for r in records] == [f"trait-{i}" for i in range(5)]


def test_c15_read_events_since_a_cursor(store: RedisStore) -> None:
    for i in range(5):
        store.append_event(event("ct-event-rs", EventKind.PIPELINE_COMPLETED, run_id=f"ct-ev-run-{i}",
                                 status="COMPLETED"))
    records = store.read_events("ct-event-rs", "", 100)
    assert len(records) == 5
    after = store.read_events("ct-event-rs", records[1].stream_id, 100)
    assert [r.event.run_id for r in after] == ["ct-ev-run-2", "ct-ev-run-3", "ct-ev-run-4"]
    assert len(store.read_events("ct-event-rs", "0-0", 100)) == 5


def test_c19_alerts_put_list_newest_first(store: RedisStore) -> None:
    t = now()
    for level, pipe, minutes in ((AlertLevel.ERROR, "pipe-alert-test", -2), (AlertLevel.WARNING, "pipe-alert-test", -1),
                                 (AlertLevel.INFO, "pipe-alert-other", 0)):
        store.put_alert(Alert(level=level, pipeline_id=pipe, message=f"{level}",
                              timestamp=t + timedelta(minutes=minutes)))
    mine = store.list_alerts("pipe-alert-test", 10)
    assert [a.level for a in mine] == [AlertLevel.WARNING, AlertLevel.ERROR]
    assert len(store.list_all_alerts(10)) == 3


def test_c20_sensor_put_get(store: RedisStore) -> None:
    store.put_sensor(SensorReading("pipe-sensor-test", "record-count", {"count": 42}, now()))
    got = store.get_sensor("pipe-sensor-test", "record-count")
    assert got is not None and got.pipeline_id == "pipe-sensor-test" and got.value == {"count": 42}
    assert store.get_sensor("pipe-sensor-test", "nonexistent") is None


def test_c21_dependents_follow_registered_upstreams(store: RedisStore) -> None:
    def downstream(name: str, *upstreams: str) -> PipelineConfig:
        traits = {f"up-{i}": {"config": {"upstreamPipeline": u}} for i, u in enumerate(upstreams)}
        return pipeline(name, traits=traits)

    store.register_pipeline(downstream("downstream-1", "upstream-a"))
    store.register_pipeline(downstream("downstream-2", "upstream-a"))
    assert store.list_dependents("upstream-a") == ["downstream-1", "downstream-2"]
    store.register_pipeline(downstream("downstream-1"))  # re-registered without the upstream
    assert store.list_dependents("upstream-a") == ["downstream-2"]
    store.delete_pipeline("downstream-2")
    assert store.list_dependents("upstream-a") == []
    assert store.list_dependents("nonexistent-upstream") == []


# -- the reference's recommended extras, with their fixes ---------------------------------------------


def test_list_events_returns_the_latest_n_oldest_first(store: RedisStore) -> None:
    for i in range(1, 13):
        store.append_event(event("ct-latest", message=str(i)))
    assert [r.event.message for r in store.list_events("ct-latest", 5)] == ["8", "9", "10", "11", "12"]


def test_event_paging_yields_every_event_once_in_order(store: RedisStore) -> None:
    for i in range(257):
        store.append_event(event("ct-paging", message=str(i)))
    seen: list[str] = []
    cursor = ""
    while page := store.read_events("ct-paging", cursor, 10):
        assert len(page) <= 10
        seen.extend(r.event.message or "" for r in page)
        cursor = page[-1].stream_id
    assert seen == [str(i) for i in range(257)]


def test_global_event_feed_pages_across_pipelines(store: RedisStore) -> None:
    for i in range(30):
        store.append_event(event(f"ct-global-{i % 3}", message=str(i)))
    seen: list[tuple[str, str]] = []
    cursor = ""
    while page := store.read_all_events(cursor, 7):
        seen.extend((r.event.pipeline_id, r.event.message or "") for r in page)
        cursor = page[-1].stream_id
    assert seen == [(f"ct-global-{i % 3}", str(i)) for i in range(30)]


def test_cas_on_a_missing_run_is_false(store: RedisStore) -> None:
    assert not store.cas_run("ct-missing", 1, run("ct-missing", version=2))


def test_cas_requires_the_next_version(store: RedisStore) -> None:
    store.put_run(run("ct-version"))
    with pytest.raises(ValueError, match="new version must be 2"):
        store.cas_run("ct-version", 1, run("ct-version", version=5))
    assert store.get_run("ct-version").version == 1


def test_trait_without_ttl_never_expires_and_has_no_expiry(store: RedisStore, clock: ShiftedClock) -> None:
    store.put_trait(trait("ct-forever", "t"), ttl=0)
    clock.advance(timedelta(days=30))
    got = store.get_trait("ct-forever", "t")
    assert got is not None and got.expires_at is None


def test_trait_past_its_expiry_is_absent_on_read(store: RedisStore) -> None:
    store.put_trait(trait("ct-old", "t", at=now() - timedelta(hours=2)), ttl=60)
    assert store.get_trait("ct-old", "t") is None


def test_traits_of_a_pipeline_whose_name_prefixes_another_stay_apart(store: RedisStore) -> None:
    store.put_trait(trait("a", "t1"), ttl=0)
    store.put_trait(trait("a.b", "t2"), ttl=0)
    assert [t.trait_type for t in store.get_traits("a")] == ["t1"]


def test_pushed_and_evaluated_results_are_kept_apart(store: RedisStore) -> None:
    store.put_trait(trait("ct-push", "marker", TraitStatus.FAIL), ttl=0)
    store.put_trait(trait("ct-push", "marker", TraitStatus.PASS), ttl=0, source=TraitSource.PUSH)
    evaluated = store.get_trait("ct-push", "marker")
    pushed = store.get_trait("ct-push", "marker", TraitSource.PUSH)
    assert evaluated is not None and evaluated.status is TraitStatus.FAIL and evaluated.source == "evaluator"
    assert pushed is not None and pushed.status is TraitStatus.PASS and pushed.source == "push"


def test_putting_the_same_run_twice_lists_it_once(store: RedisStore) -> None:
    store.put_run(run("ct-dup", "ct-dup-pipe"))
    store.put_run(run("ct-dup", "ct-dup-pipe", RunStatus.TRIGGERING))
    assert [r.run_id for r in store.list_runs("ct-dup-pipe", 0)] == ["ct-dup"]


def test_run_index_keeps_the_newest_runs(spec: dict[str, Any]) -> None:
    small = open_store({**spec, "run_index_limit": 3})
    for i in range(6):
        small.put_run(run(f"ct-idx-{i}", "ct-idx", created=T0 + timedelta(seconds=i)))
    assert [r.run_id for r in small.list_runs("ct-idx", 10)] == ["ct-idx-5", "ct-idx-4", "ct-idx-3"]


def test_readiness_expires_after_its_ttl(store: RedisStore) -> None:
    store.put_readiness(ReadinessResult(pipeline_id="ct-rdy", status=ReadinessStatus.READY, evaluated_at=now()), ttl=1)
    time.sleep(1.2)
    assert store.get_readiness("ct-rdy") is None


def test_releasing_an_expired_or_never_held_lock_is_harmless(store: RedisStore) -> None:
    lock = store.acquire_lock("ct-short", 0.1)
    assert lock is not None
    time.sleep(0.25)
    assert not store.release_lock(lock)
    assert not store.release_lock(type(lock)("ct-never", "1:x", 1))
    with pytest.raises(ValueError, match="must be > 0"):
        store.acquire_lock("ct-zero", 0)


def test_extend_lock_only_for_its_holder(store: RedisStore) -> None:
    lock = store.acquire_lock("ct-extend", 0.3)
    assert lock is not None
    assert store.extend_lock(lock, 5)
    time.sleep(0.5)
    assert store.acquire_lock("ct-extend", 5) is None  # extended, so still held
    assert not store.extend_lock(type(lock)("ct-extend", "0:stale", 0), 5)


def test_alert_id_defaults_to_its_timestamp_in_ms(store: RedisStore) -> None:
    at = datetime(2026, 3, 1, 8, 0, 0, 123000, tzinfo=UTC)
    stored = store.put_alert(Alert(level=AlertLevel.INFO, message="m", timestamp=at))
    assert stored.alert_id == str(int(at.timestamp() * 1000))


def test_run_logs_list_newest_first_by_start(store: RedisStore) -> None:
    for day, hour in (("2026-02-01", 3), ("2026-02-03", 1), ("2026-02-02", 2)):
        store.put_run_log(run_log("ct-rl-order", day, "daily", RunStatus.COMPLETED, day,
                                  started=datetime.fromisoformat(f"{day}T0{hour}:00:00+00:00")))
    assert [e.date for e in store.list_run_logs("ct-rl-order", 0)] == ["2026-02-03", "2026-02-02", "2026-02-01"]


def test_events_older_than_retention_are_dropped_at_the_next_append(spec: dict[str, Any]) -> None:
    short = open_store({**spec, "retention_seconds": 1})
    short.append_event(event("ct-retention", message="old"))
    time.sleep(1.3)
    short.append_event(event("ct-retention", message="new"))
    assert [r.event.message for r in short.list_events("ct-retention", 10)] == ["new"]


def test_a_pipeline_named_all_does_not_collide_with_global_indexes(store: RedisStore) -> None:
    store.put_rerun(RerunRecord(rerun_id="r-other", pipeline_id="other", original_date="2026-01-01", reason="x",
                                status=RunStatus.PENDING, requested_at=now()))
    assert store.list_reruns("all", 10) == []
    assert [r.rerun_id for r in store.list_all_reruns(10)] == ["r-other"]


# -- what the lifecycle adds -----------------------------------------------------------------------------


def test_ten_threads_claiming_one_period_make_one_run(store: RedisStore) -> None:
    barrier = threading.Barrier(10)

    def attempt(i: int) -> tuple[str, bool]:
        barrier.wait()
        owner, won = store.claim("orders:daily:2026-02-21", run(f"orders-run-{i}", "orders", RunStatus.TRIGGERING))
        return owner.run_id, won

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(attempt, range(10)))
    winners = [rid for rid, won in results if won]
    assert len(winners) == 1
    assert {rid for rid, _ in results} == set(winners)  # the losers are told who owns it
    assert [r.run_id for r in store.list_runs("orders", 20)] == winners


def _race_lock(spec: dict[str, Any], key: str, start: Any, results: Any) -> None:
    store = open_store(spec)
    start.wait()
    lock = store.acquire_lock(key, 30)
    results.put(None if lock is None else (lock.token, lock.fence))


# Every backend but memory: a memory store is one process's own.
@pytest.mark.parametrize("spec", [pytest.param(b, marks=pytest.mark.integration) for b in SHARED_BACKENDS],
                         indirect=True)
def test_two_processes_racing_one_lock_get_one_owner(spec: dict[str, Any], store: RedisStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race_lock, args=(spec, "ct-proc-lock", start, results)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    outcomes = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    owners = [o for o in outcomes if o is not None]
    assert len(owners) == 1
    token, fence = owners[0]
    from interlock.store.base import Lock

    stale = Lock("ct-proc-lock", f"{fence - 1}:stale", fence - 1)
    assert not store.release_lock(stale)
    assert store.acquire_lock("ct-proc-lock", 30) is None  # still owned
    assert store.release_lock(Lock("ct-proc-lock", token, fence))


def test_mark_once_is_true_only_the_first_time(store: RedisStore) -> None:
    assert store.mark_once("alert:schedule_missed:orders:daily:2026-02-21", 3600)
    assert not store.mark_once("alert:schedule_missed:orders:daily:2026-02-21", 3600)
    assert store.mark_once("alert:schedule_missed:orders:daily:2026-02-22", 3600)


def test_due_index_returns_exactly_the_due_items(store: RedisStore) -> None:
    base = now()
    for i in range(20):
        store.set_due(f"eval:p{i}:daily", base + timedelta(seconds=i - 10))  # p0..p9 due, p10 at base
    due = store.due(base)
    assert [d.key for d in due] == [f"eval:p{i}:daily" for i in range(11)]
    assert store.due(base, limit=3)[-1].key == "eval:p2:daily"
    store.set_due("eval:p0:daily", base + timedelta(hours=1))  # rescheduled, no longer due
    assert "eval:p0:daily" not in [d.key for d in store.due(base)]


def test_clear_due_with_a_time_leaves_a_rescheduled_item(store: RedisStore) -> None:
    at = now()
    store.set_due("run:r1", at)
    later = at + timedelta(seconds=30)
    store.set_due("run:r1", later)
    assert not store.clear_due("run:r1", only_if_at=at)
    assert store.due_at("run:r1") == datetime.fromtimestamp(int(later.timestamp() * 1000) / 1000, UTC)
    assert store.clear_due("run:r1", only_if_at=later)
    assert store.due_at("run:r1") is None


def test_change_stream_records_every_archived_write_in_order(store: RedisStore) -> None:
    r = run("ct-ch-run", "ct-ch")
    store.put_run(r)
    store.cas_run("ct-ch-run", 1, r.model_copy(update={"status": RunStatus.TRIGGERING, "version": 2}))
    store.put_run_log(run_log("ct-ch", "2026-02-21", "daily", RunStatus.TRIGGERING, "ct-ch-run"))
    store.append_event(event("ct-ch", EventKind.TRIGGER_FIRED))
    store.put_alert(Alert(level=AlertLevel.ERROR, pipeline_id="ct-ch", message="x", timestamp=now()))
    store.put_rerun(RerunRecord(rerun_id="ct-ch-rr", pipeline_id="ct-ch", original_date="2026-02-20", reason="r",
                                status=RunStatus.PENDING, requested_at=now()))
    store.claim("ct-ch:daily:2026-02-22", run("ct-ch-run-2", "ct-ch"))
    changes = store.read_changes()
    assert [c.kind for c in changes] == [ChangeKind.RUN, ChangeKind.RUN, ChangeKind.RUN_LOG, ChangeKind.EVENT,
                                         ChangeKind.ALERT, ChangeKind.RERUN, ChangeKind.RUN]
    assert changes[1].data["status"] == "TRIGGERING"
    assert changes[3].ref == store.list_events("ct-ch")[0].stream_id
    assert [c.id for c in store.read_changes(changes[4].resume_from)] == [changes[5].id, changes[6].id]
    store.trim_changes(changes[4].resume_from)
    assert [c.id for c in store.read_changes()] == [changes[5].id, changes[6].id]


def test_a_corrupt_value_is_reported_with_its_key_and_skipped(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.register_pipeline(pipeline("ct-good"))
    store.r.set(store.k("pipeline", "ct-bad"), "{not json")
    store.r.sadd(store.k("pipelines"), "ct-bad")
    store.put_run(run("ct-ok", "ct-corrupt"))
    store.put_run(run("ct-broken", "ct-corrupt"))
    store.r.set(store.k("run", "ct-broken"), '{"runId": "ct-broken"}')  # valid JSON, wrong shape
    with caplog.at_level(logging.WARNING):
        assert [p.name for p in store.list_pipelines()] == ["ct-good"]
        assert [r.run_id for r in store.list_runs("ct-corrupt")] == ["ct-ok"]
    assert f"corrupt value at {store.k('pipeline', 'ct-bad')}" in caplog.text
    assert f"corrupt value at {store.k('run', 'ct-broken')}" in caplog.text
    with pytest.raises(UnknownRun):
        store.get_run("ct-broken")


def test_set_due_many_schedules_every_key_at_once(store: RedisStore) -> None:
    at = now()
    store.set_due_many(["advance:a:daily", "advance:b:daily"], at)
    store.set_due_many([], at)  # nothing to do is fine
    assert [d.key for d in store.due(at)] == ["advance:a:daily", "advance:b:daily"]


def test_add_due_many_schedules_only_the_keys_with_no_time_and_counts_them(store: RedisStore) -> None:
    at = now().replace(microsecond=0)  # stores keep milliseconds
    store.set_due("advance:a:daily", at - timedelta(minutes=5))
    keys = ["advance:a:daily", "advance:b:daily", "sla:b:daily", "advance:b:daily"]  # b listed twice
    assert store.add_due_many(keys, at) == 2
    assert store.due_at("advance:a:daily") == at - timedelta(minutes=5)  # kept its earlier time
    assert store.due_at("advance:b:daily") == store.due_at("sla:b:daily") == at
    assert store.add_due_many(keys, at + timedelta(minutes=1)) == 0
    assert store.due_at("advance:b:daily") == at
    assert store.add_due_many([], at) == 0


def test_a_new_store_has_no_epoch_and_the_first_writer_of_one_wins(store: RedisStore) -> None:
    assert store.get_epoch() is None
    first, second = Epoch("epoch-a", T0), Epoch("epoch-b", T0 + timedelta(seconds=1))
    assert store.swap_epoch(None, first)
    assert not store.swap_epoch(None, second)  # a second "first start" keeps the first one's epoch
    assert store.get_epoch() == first


def test_an_epoch_is_replaced_only_by_who_expects_the_stored_one(store: RedisStore) -> None:
    store.swap_epoch(None, Epoch("epoch-a", T0))
    healed = Epoch("epoch-c", T0 + timedelta(hours=1), reset_at=T0 + timedelta(hours=1), previous="epoch-a")
    assert not store.swap_epoch("epoch-x", healed)  # not the stored epoch: nothing changes
    assert store.get_epoch() == Epoch("epoch-a", T0)
    assert store.swap_epoch("epoch-a", healed)
    assert store.get_epoch() == healed
    assert not store.swap_epoch("epoch-a", Epoch("epoch-d", T0))  # the old id no longer matches


def test_ten_threads_healing_one_epoch_make_one_winner(store: RedisStore) -> None:
    store.swap_epoch(None, Epoch("epoch-a", T0))
    with ThreadPoolExecutor(10) as pool:
        won = list(pool.map(lambda i: store.swap_epoch("epoch-a", Epoch(f"epoch-{i}", T0, reset_at=T0)), range(10)))
    assert won.count(True) == 1
    epoch = store.get_epoch()
    assert epoch is not None and epoch.id == f"epoch-{won.index(True)}"


def test_an_epoch_needs_an_id(store: RedisStore) -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        store.swap_epoch(None, Epoch("", T0))
    assert store.get_epoch() is None


def test_the_epoch_does_not_expire(store: RedisStore, clock: ShiftedClock) -> None:
    store.swap_epoch(None, Epoch("epoch-a", T0))
    clock.advance(timedelta(days=400))
    assert store.get_epoch() == Epoch("epoch-a", T0)


def _damage_epoch(store: RedisStore, how: str) -> None:
    if isinstance(store, RedisStore):
        key = store.k("epoch")
        store.r.delete(key)
        if how == "wrong type":
            store.r.set(key, "not a hash")
        else:
            store.r.hset(key, mapping={"id": "", "createdAt": "yesterday"})
    else:
        attribute = {"N": "7"} if how == "wrong type" else {"S": ""}
        store.c.put_item(TableName=store.table, Item={"PK": {"S": "EPOCH"}, "SK": {"S": "EPOCH"}, "id": attribute})


# Stored bytes damaged by hand: a memory store keeps the epoch as an object, never as bytes.
@pytest.mark.parametrize("spec", [pytest.param(b, marks=pytest.mark.integration) for b in sorted(SERVICE_BACKENDS)],
                         indirect=True)
@pytest.mark.parametrize("how", ["wrong type", "empty id"])
def test_a_damaged_epoch_reads_as_none_and_a_heal_can_replace_it(store: RedisStore, how: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    _damage_epoch(store, how)
    assert store.get_epoch() is None
    assert store.swap_epoch(None, Epoch("epoch-new", T0, reset_at=T0))
    assert store.get_epoch() == Epoch("epoch-new", T0, reset_at=T0)


# Stored bytes damaged by hand: a memory store keeps the epoch as an object, never as bytes.
@pytest.mark.parametrize("spec", [pytest.param(b, marks=pytest.mark.integration) for b in sorted(SERVICE_BACKENDS)],
                         indirect=True)
def test_an_epoch_with_an_unreadable_time_keeps_its_id(store: RedisStore, caplog: pytest.LogCaptureFixture) -> None:
    if isinstance(store, RedisStore):
        store.r.hset(store.k("epoch"), mapping={"id": "epoch-a", "createdAt": "not a time"})
    else:
        store.c.put_item(TableName=store.table, Item={"PK": {"S": "EPOCH"}, "SK": {"S": "EPOCH"},
                                                      "id": {"S": "epoch-a"}, "createdAt": {"S": "not a time"}})
    with caplog.at_level(logging.WARNING):
        epoch = store.get_epoch()
    assert epoch is not None and epoch.id == "epoch-a" and epoch.created_at == datetime.fromtimestamp(0, UTC)
    assert "unreadable createdAt" in caplog.text


def test_a_claim_in_another_epoch_claims_nothing(store: RedisStore) -> None:
    # No epoch at all (a wiped store): the claim that names the epoch its process saw is refused.
    with pytest.raises(EpochChanged) as missing:
        store.claim("orders:daily:2026-02-21", run("orders-run-1", "orders", RunStatus.TRIGGERING), "epoch-a")
    assert missing.value.found is None
    store.swap_epoch(None, Epoch("epoch-b", T0))
    with pytest.raises(EpochChanged) as other:
        store.claim("orders:daily:2026-02-21", run("orders-run-1", "orders", RunStatus.TRIGGERING), "epoch-a")
    assert other.value.found == "epoch-b"
    assert store.list_runs("orders", 10) == []
    # In its own epoch the claim works as without one, once.
    owner, won = store.claim("orders:daily:2026-02-21", run("orders-run-1", "orders", RunStatus.TRIGGERING), "epoch-b")
    assert won and owner.run_id == "orders-run-1"
    owner, won = store.claim("orders:daily:2026-02-21", run("orders-run-2", "orders", RunStatus.TRIGGERING), "epoch-b")
    assert not won and owner.run_id == "orders-run-1"


def test_writes_in_a_batch_are_seen_by_reads_inside_it_and_stored_after(store: RedisStore) -> None:
    due = datetime(2026, 2, 21, 12, tzinfo=UTC)
    with store.batch():
        store.put_value("marker", "1")
        store.set_due("advance:orders:daily", due)
        store.append_event(Event(kind=EventKind.TRAIT_PUSHED, pipeline_id="orders", timestamp=due))
        assert store.get_value("marker") == "1"  # a read sends what was queued before it
        store.set_due("check:orders-run-1", due)
    assert store.due_at("check:orders-run-1") == due and store.due_at("advance:orders:daily") == due
    assert [r.event.kind for r in store.list_events("orders", 10)] == [EventKind.TRAIT_PUSHED]


def test_an_alert_with_its_outbox_entry_makes_the_delivery_due_and_its_value_readable(store: RedisStore) -> None:
    from interlock.store.base import OutboxEntry

    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    entry = OutboxEntry("outbox:d1", '{"alert":{}}', 3600, "deliver:d1", at)
    store.put_alert(Alert(level=AlertLevel.INFO, message="m", timestamp=at), entry)
    assert store.get_value("outbox:d1") == '{"alert":{}}'
    assert [(i.key, i.due_at) for i in store.due(at)] == [("deliver:d1", at)]
    assert [a.message for a in store.list_all_alerts()] == ["m"]


def test_delivery_attempts_list_newest_first_and_failed_apart(store: RedisStore) -> None:
    from interlock.model import AlertDelivery

    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n, ok in ((1, False), (2, False), (3, True)):
        store.record_delivery(AlertDelivery(delivery_id="d1", sink="webhook", attempt=n, ok=ok, seconds=0.1,
                                            error=None if ok else "status 503", at=at + timedelta(minutes=n)))
    assert [(d.attempt, d.ok) for d in store.list_deliveries()] == [(3, True), (2, False), (1, False)]
    assert [d.attempt for d in store.list_deliveries(failed=True)] == [2, 1]
    assert [d.attempt for d in store.list_deliveries(limit=1)] == [3]


def test_the_change_backlog_is_what_was_not_trimmed(store: RedisStore) -> None:
    assert store.change_backlog() == 0
    for i in range(3):
        store.put_alert(Alert(level=AlertLevel.INFO, message=f"m{i}", timestamp=datetime(2026, 3, 1, tzinfo=UTC)))
    changes = store.read_changes()
    assert store.change_backlog() == 3
    store.trim_changes(changes[1].resume_from)
    assert store.change_backlog() == 1
