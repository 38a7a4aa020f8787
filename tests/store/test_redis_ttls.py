"""Redis-specific retention: TTLs follow the record and, for runs, its status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interlock.model import RerunRecord, RunStatus
from interlock.store.redis import RedisStore
from tests.conformance.backends import destroy, new_spec, open_store
from tests.conformance.test_store_contract import now, run, run_log

pytestmark = pytest.mark.integration


@pytest.fixture
def store() -> Iterator[RedisStore]:
    spec = new_spec("redis")
    yield open_store(spec)
    destroy(spec)



def ttl_days(store: RedisStore, key: str) -> float:
    return int(store.r.pttl(key)) / 86_400_000


def test_run_ttl_follows_its_status(store: RedisStore) -> None:
    store.put_run(run("ct-ttl-done", status=RunStatus.COMPLETED))
    store.put_run(run("ct-ttl-active", status=RunStatus.RUNNING))
    assert ttl_days(store, store.k("run", "ct-ttl-done")) == pytest.approx(7, abs=0.001)
    assert ttl_days(store, store.k("run", "ct-ttl-active")) == pytest.approx(8, abs=0.001)
    active = store.get_run("ct-ttl-active")
    assert store.cas_run("ct-ttl-active", 1, active.model_copy(update={"status": RunStatus.COMPLETED, "version": 2}))
    assert ttl_days(store, store.k("run", "ct-ttl-active")) == pytest.approx(7, abs=0.001)
    store.put_run_log(run_log("ct-ttl", "2026-02-21", "daily", RunStatus.RUNNING, "x"))
    assert ttl_days(store, store.k("runlog", "ct-ttl", "2026-02-21", "daily")) == pytest.approx(7, abs=0.001)
    store.put_rerun(RerunRecord(rerun_id="ct-ttl-rr", pipeline_id="p", original_date="d", reason="r",
                                status=RunStatus.COMPLETED, requested_at=now()))
    assert ttl_days(store, store.k("rerun", "ct-ttl-rr")) == pytest.approx(7, abs=0.001)
