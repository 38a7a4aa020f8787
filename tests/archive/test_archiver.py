"""The archiver: every record reaches Postgres exactly once, even when killed half way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from interlock.archive.archiver import Archiver, apply_changes
from interlock.archive.queries import events_by_kind, runs_between
from interlock.model import (
    Alert,
    AlertLevel,
    Event,
    EventKind,
    RerunRecord,
    RunLogEntry,
    RunState,
    RunStatus,
)
from interlock.scaffold import init_project
from interlock.store.redis import RedisStore
from tests.conformance.backends import REDIS_URL, destroy, new_spec, open_store
from tests.conftest import with_key_prefix

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def spec() -> Iterator[dict[str, Any]]:
    s = new_spec("redis")
    yield s
    destroy(s)


@pytest.fixture
def store(spec: dict[str, Any]) -> RedisStore:
    return open_store(spec)


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("runs", "run_logs", "reruns", "events", "trait_evaluations", "alerts")}


EXPECTED = {"runs": 1000, "run_logs": 1000, "reruns": 500, "events": 2000, "trait_evaluations": 1000, "alerts": 500}


def write_mixed_records(store: RedisStore) -> None:
    """5 000 records: 1 000 runs (each moved twice), 1 000 run logs, 2 000 events, 500 reruns, 500 alerts."""
    for i in range(1000):
        at = T0 + timedelta(minutes=i)
        r = RunState(run_id=f"run-{i}", pipeline_id=f"p{i % 10}", status=RunStatus.PENDING, version=1,
                     created_at=at, updated_at=at)
        store.put_run(r)
        r = r.model_copy(update={"status": RunStatus.TRIGGERING, "version": 2})
        assert store.cas_run(r.run_id, 1, r)
        assert store.cas_run(r.run_id, 2, r.model_copy(update={"status": RunStatus.COMPLETED, "version": 3}))
        store.put_run_log(RunLogEntry(pipeline_id=f"p{i % 10}", date=f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}",
                                      schedule_id=f"s{i // 336}", status=RunStatus.COMPLETED, attempt_number=1,
                                      run_id=f"run-{i}", started_at=at, updated_at=at))
    for i in range(2000):
        kind = EventKind.TRAIT_EVALUATED if i % 2 == 0 else EventKind.READINESS_CHECKED
        store.append_event(Event(kind=kind, pipeline_id=f"p{i % 10}", trait_type="freshness" if i % 2 == 0 else None,
                                 status="PASS", message=f"e{i}", timestamp=T0 + timedelta(seconds=i),
                                 details={"value": {"lag": i}, "reason": f"r{i}"}))
    for i in range(500):
        store.put_rerun(RerunRecord(rerun_id=f"rerun-{i}", pipeline_id=f"p{i % 10}", original_date="2026-01-31",
                                    reason="late data", status=RunStatus.PENDING, requested_at=T0))
        store.put_alert(Alert(level=AlertLevel.WARNING, alert_type="stuck_run", pipeline_id=f"p{i % 10}",
                              message=f"a{i}", timestamp=T0 + timedelta(milliseconds=i)))


def test_5000_mixed_records_each_reach_the_archive_exactly_once(
    store: RedisStore, migrated: Engine, spec: dict[str, Any]
) -> None:
    write_mixed_records(store)
    archiver = Archiver(store, migrated, spec["prefix"] + "changes", batch_size=500)
    result = archiver.run_once()
    assert result.records == 3000 + 1000 + 2000 + 500 + 500  # every change, runs moved twice
    assert counts(migrated) == EXPECTED
    with migrated.connect() as conn:
        statuses = conn.execute(text("SELECT DISTINCT status, version FROM runs")).all()
        reasons = conn.execute(text("SELECT count(*) FROM trait_evaluations WHERE reason LIKE 'r%'")).scalar_one()
    assert statuses == [("COMPLETED", 3)]
    assert reasons == 1000
    assert archiver.run_once().records == 0  # nothing new: nothing applied again
    assert store.read_changes() == []  # committed changes are trimmed from the store
    assert counts(migrated) == EXPECTED


def test_replaying_a_batch_changes_nothing_and_never_moves_a_run_back(store: RedisStore, migrated: Engine) -> None:
    r = RunState(run_id="r1", pipeline_id="p", status=RunStatus.PENDING, version=1, created_at=T0, updated_at=T0)
    store.put_run(r)
    store.cas_run("r1", 1, r.model_copy(update={"status": RunStatus.RUNNING, "version": 2}))
    store.append_event(Event(kind=EventKind.TRAIT_EVALUATED, pipeline_id="p", trait_type="t", status="PASS",
                             timestamp=T0))
    changes = store.read_changes()
    with migrated.begin() as conn:
        apply_changes(conn, changes)
    with migrated.begin() as conn:
        apply_changes(conn, changes)
        apply_changes(conn, changes[:1])  # an old version of the run arrives again
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT status, version FROM runs")).all() == [("RUNNING", 2)]
    assert counts(migrated)["events"] == 1 and counts(migrated)["trait_evaluations"] == 1


def archiver_process(project: Path, spec: dict[str, Any], database_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "INTERLOCK_CONFIG": str(project / "interlock.yaml"), "INTERLOCK_REDIS_URL": REDIS_URL,
           "INTERLOCK_DATABASE_URL": database_url}
    return subprocess.Popen([sys.executable, "-m", "interlock.cli", "archive", "--batch-size", "50",
                             "--throttle", "0.02"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_archiver_killed_half_way_then_run_again_archives_everything_once(
    store: RedisStore, migrated: Engine, spec: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    init_project(project)
    config = project / "interlock.yaml"
    config.write_text(with_key_prefix(config.read_text(), spec["prefix"]))
    write_mixed_records(store)
    total = 7000

    def archived() -> int:
        with migrated.connect() as conn:
            return int(conn.execute(text("SELECT coalesce(sum(records), 0) FROM archive_cursors")).scalar_one())

    first = archiver_process(project, spec, database_url)
    deadline = time.monotonic() + 120
    while archived() < total * 0.2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    done_at_kill = archived()
    assert first.returncode == -signal.SIGKILL
    assert 0 < done_at_kill < total, "the kill must land half way for this test to mean anything"

    second = archiver_process(project, spec, database_url)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert f"archived {total - done_at_kill:,} changes" in out
    assert archived() == total
    assert counts(migrated) == EXPECTED


def test_history_queries_read_runs_in_a_range_and_events_by_kind(store: RedisStore, migrated: Engine,
                                                                   spec: dict[str, Any]) -> None:
    for i in range(10):
        at = T0 + timedelta(days=i)
        store.put_run(RunState(run_id=f"orders-{i}", pipeline_id="orders", status=RunStatus.COMPLETED, version=1,
                               created_at=at, updated_at=at))
        store.append_event(Event(kind=EventKind.TRIGGER_FIRED if i % 2 else EventKind.TRIGGER_FAILED,
                                 pipeline_id="orders", run_id=f"orders-{i}", timestamp=at))
    Archiver(store, migrated, spec["prefix"] + "changes").run_once()
    runs = runs_between(migrated, "orders", T0 + timedelta(days=2), T0 + timedelta(days=5))
    assert [r.run_id for r in runs] == ["orders-2", "orders-3", "orders-4"]
    failed = events_by_kind(migrated, EventKind.TRIGGER_FAILED, T0, T0 + timedelta(days=6))
    assert [e.run_id for e in failed] == ["orders-0", "orders-2", "orders-4"]
