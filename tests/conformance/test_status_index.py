"""The operator-state index (interlock.store.status) on every backend: states, counts, paging, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from interlock.model import PipelineConfig, ReadinessResult, ReadinessStatus, RunLogEntry, RunStatus
from interlock.store.status import STATES
from tests.conformance.backends import ShiftedClock

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def pipeline(name: str, **extra: Any) -> PipelineConfig:
    return PipelineConfig.model_validate({"name": name, "archetype": "batch-ingestion", **extra})


def verdict(name: str, period: str, blocking: list[str] | None = None, schedule: str = "daily") -> ReadinessResult:
    return ReadinessResult(pipeline_id=name, schedule_id=schedule, period=period,
                           status=ReadinessStatus.NOT_READY if blocking else ReadinessStatus.READY,
                           blocking=blocking or [], evaluated_at=T0)


def log(name: str, period: str, status: RunStatus, schedule: str = "daily") -> RunLogEntry:
    return RunLogEntry(pipeline_id=name, date=period, schedule_id=schedule, status=status, attempt_number=1,
                       run_id=f"{name}-{period}", started_at=T0, updated_at=T0)


def state(store: Any, name: str) -> str:
    (row,) = [r for r in store.list_statuses(after="", limit=1000) if r.name == name]
    return str(row.state)


def test_a_registered_pipeline_waits_and_follows_its_verdicts_and_runs(store: Any) -> None:
    store.register_pipeline(pipeline("orders"))
    assert state(store, "orders") == "waiting"
    store.put_readiness(verdict("orders", "2026-03-02", ["ready-marker"]), 3600)
    assert state(store, "orders") == "blocked"
    store.put_run_log(log("orders", "2026-03-02", RunStatus.RUNNING))
    assert state(store, "orders") == "running"
    store.put_run_log(log("orders", "2026-03-02", RunStatus.FAILED))
    assert state(store, "orders") == "failed"
    # A verdict for the period that already has a run does not hide the failure ...
    store.put_readiness(verdict("orders", "2026-03-02", ["ready-marker"]), 3600)
    assert state(store, "orders") == "failed"
    # ... nor does a late update of an older period; the next period's first verdict replaces it.
    store.put_run_log(log("orders", "2026-03-01", RunStatus.COMPLETED))
    assert state(store, "orders") == "failed"
    store.put_readiness(verdict("orders", "2026-03-03"), 3600)
    assert state(store, "orders") == "waiting"


def test_the_worst_schedule_decides(store: Any) -> None:
    store.register_pipeline(pipeline("multi", schedules=[{"name": "morning"}, {"name": "evening"}]))
    store.put_run_log(log("multi", "2026-03-02", RunStatus.COMPLETED, "morning"))
    assert state(store, "multi") == "completed"
    store.put_readiness(verdict("multi", "2026-03-02", ["x"], "evening"), 3600)
    assert state(store, "multi") == "blocked"
    # Re-registered without "evening": that schedule's state is forgotten.
    store.register_pipeline(pipeline("multi", schedules=[{"name": "morning"}]))
    assert state(store, "multi") == "completed"


def test_counts_follow_registrations_states_and_deletions(store: Any) -> None:
    assert store.state_counts() == dict.fromkeys(STATES, 0)
    for name in ("aa", "bb", "cc"):
        store.register_pipeline(pipeline(name))
    store.put_run_log(log("aa", "2026-03-02", RunStatus.FAILED))
    store.put_readiness(verdict("bb", "2026-03-02", ["x"]), 3600)
    assert store.state_counts() == {**dict.fromkeys(STATES, 0), "failed": 1, "blocked": 1, "waiting": 1}
    store.delete_pipeline("aa")
    assert store.state_counts() == {**dict.fromkeys(STATES, 0), "blocked": 1, "waiting": 1}
    assert [r.name for r in store.list_statuses(states=["failed"])] == []


def test_unregistered_pipelines_are_not_indexed(store: Any) -> None:
    store.put_run_log(log("ghost", "2026-03-02", RunStatus.FAILED))
    store.put_readiness(verdict("ghost", "2026-03-02", ["x"]), 3600)
    assert store.state_counts()["failed"] == 0
    assert store.list_statuses() == []


def test_paging_by_name_meets_every_pipeline_once_even_while_more_are_added(store: Any) -> None:
    names = [f"p{i:03d}" for i in range(0, 60, 2)]
    for name in names:
        store.register_pipeline(pipeline(name))
    seen: list[str] = []
    after = ""
    added: list[str] = []
    while True:
        page = store.list_statuses(after=after, limit=7)
        seen += [r.name for r in page]
        if len(page) < 7:
            break
        after = page[-1].name
        # Between pages: one before the cursor (not seen: it sorts before), one after it (seen once).
        for extra in (f"{after[:-1]}0a" if after > "p000" else "a-first", f"{after}z"):
            store.register_pipeline(pipeline(extra))
            added.append(extra)
    assert len(seen) == len(set(seen))
    assert set(names) <= set(seen)
    assert seen == sorted(seen)
    assert {n for n in added if n > "p"} - {n for n in added if n.endswith("0a")} <= set(seen)


def test_filters_by_states_and_name_substring(store: Any) -> None:
    for name in ("sales-daily", "sales-hourly", "orders-daily", "orders-hourly"):
        store.register_pipeline(pipeline(name))
    store.put_run_log(log("sales-daily", "2026-03-02", RunStatus.FAILED))
    store.put_readiness(verdict("orders-hourly", "2026-03-02", ["x"]), 3600)
    assert [r.name for r in store.list_statuses(states=["failed", "blocked"])] == ["orders-hourly", "sales-daily"]
    assert [r.name for r in store.list_statuses(contains="hourly")] == ["orders-hourly", "sales-hourly"]
    assert [r.name for r in store.list_statuses(states=["waiting"], contains="daily")] == ["orders-daily"]
    assert [r.name for r in store.list_statuses(states=["blocked", "failed"], after="orders-hourly")] == [
        "sales-daily"]
    assert [r.name for r in store.list_statuses(limit=1)] == ["orders-daily"]


def test_oldest_in_state_orders_by_time_in_the_state(store: Any, clock: ShiftedClock) -> None:
    for name in ("late", "early", "middle"):
        store.register_pipeline(pipeline(name))
    start = clock.now()
    for name in ("early", "middle", "late"):
        store.put_readiness(verdict(name, "2026-03-02", ["x"]), 3600)
        clock.advance(timedelta(minutes=10))
    # Still blocked in a new period: the time in the state keeps counting from when it began.
    store.put_readiness(verdict("early", "2026-03-03", ["x"]), 3600)
    assert [r.name for r in store.oldest_in_state("blocked", 10)] == ["early", "middle", "late"]
    assert [r.name for r in store.oldest_in_state("blocked", 2)] == ["early", "middle"]
    cutoff = start + timedelta(minutes=15)
    assert [r.name for r in store.oldest_in_state("blocked", 10, before=cutoff)] == ["early", "middle"]
    (row,) = store.oldest_in_state("blocked", 1)
    assert row.since is not None and abs((row.since - start).total_seconds()) < 5
