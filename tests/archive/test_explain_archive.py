"""explain past the store's retention: with Redis emptied, the same answer comes from the Postgres archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from interlock.archive.archiver import Archiver
from interlock.clock import FrozenClock
from interlock.explain import explain
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import register_project_pipelines
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.prior_runs import ArchiveHistory
from interlock.store.redis import RedisStore
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

FAILING = ("trigger:\n  type: command\n  command: {command: 'false'}\n"
           "retry: {maxAttempts: 2, backoffSeconds: 60}\n")


def test_with_redis_emptied_explain_reads_the_archive_and_gives_the_same_answer(
        tmp_path: Path, store: RedisStore, migrated: Engine, database_url: str) -> None:
    harness = Harness(tmp_path / "project", store)
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=FAILING)
    clock = FrozenClock(datetime(2026, 3, 2, 6, tzinfo=UTC))
    deps = InlineDispatcher(harness.deps(clock), only={"trigger", "advance"}).deps
    deps.history = [ArchiveHistory(database_url)]
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.advance(timedelta(seconds=61))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED  # the second attempt fails too: gave up
    live = explain(deps, "orders", "2026-03-02")
    assert live.source == "store" and live.outcome == "failed"

    Archiver(store, migrated, f"{store.prefix}changes").run_once()
    store.purge()  # past retention: the store remembers nothing of the period, only the pipeline
    register_project_pipelines(deps.project, store)
    assert store.get_run_log("orders", "2026-03-02", "daily") is None

    archived = explain(deps, "orders", "2026-03-02")
    assert archived.source == "archive"
    assert archived.summary == live.summary == (
        "triggered at 06:00 (run orders-daily-2026-03-02-1), FAILED after 2 attempts: "
        "retry budget retry.maxAttempts exhausted after 2 attempts; last failure: command exited with status 1")
    assert [(e.at, e.kind, e.text) for e in archived.entries] == [(e.at, e.kind, e.text) for e in live.entries]
    assert "ALERT" in [e.kind for e in archived.entries]  # the retry_exhausted alert, from the archive too

    deps.history = []  # no archive configured: the empty store says where the records would be
    assert explain(deps, "orders", "2026-03-02").summary.startswith(
        "no records for 2026-03-02: nothing was evaluated, claimed or alerted for it in the store (older records "
        "are only kept in the archive, and none is configured)")
