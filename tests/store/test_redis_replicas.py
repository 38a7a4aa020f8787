"""Claims and a replica (redis.minReplicasAcked): WAIT before a job starts, withdrawal when no replica answers.

A primary and a replica of the test's own (tests/chaos/faults.py, SentinelGroup without its
sentinels); a replica that does not acknowledge is a SIGSTOPped one. docs/reliability.md,
"Redis failover", cites these tests.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from interlock.demo.stack import Stack
from interlock.errors import ClaimNotReplicated
from interlock.model import RunState, RunStatus
from interlock.steps.deps import Deps
from interlock.steps.keys import advance_key
from interlock.steps.runs import UNCONFIRMED_RETRY, trigger
from interlock.store.redis import RedisStore
from tests.chaos.faults import SentinelGroup
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[SentinelGroup]:
    stack = Stack()
    group = SentinelGroup(stack, tmp_path / "redis")
    try:
        group.start_nodes()
        yield group
    finally:
        stack.stop()


def store_on(group: SentinelGroup, min_replicas_acked: int) -> RedisStore:
    client = redis.Redis(host="127.0.0.1", port=group.node_ports[0], decode_responses=True)
    return RedisStore(client, f"replicas-{uuid.uuid4().hex[:8]}:", min_replicas_acked=min_replicas_acked,
                      replica_ack_timeout=timedelta(milliseconds=200))


def fresh(store: RedisStore, run_id: str = "orders:daily:2026-03-01:1") -> RunState:
    now = store.clock.now()
    return RunState(run_id=run_id, pipeline_id="orders", status=RunStatus.TRIGGERING, version=1, created_at=now,
                    updated_at=now, period="2026-03-01", attempt=1)


class Stopped:
    """The replica SIGSTOPped for the block: connected, but it acknowledges nothing."""

    def __init__(self, group: SentinelGroup) -> None:
        self.proc = group.nodes[group.node_ports[1]]

    def __enter__(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def __exit__(self, *_: object) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


def test_a_claim_the_replica_acknowledged_is_confirmed_and_already_on_the_replica(pair: SentinelGroup) -> None:
    store = store_on(pair, 1)
    run, won = store.claim("orders:daily:2026-03-01:1", fresh(store))
    assert won and store.confirm_claim("orders:daily:2026-03-01:1", run)
    replica = pair.node(pair.node_ports[1])
    assert replica.get(store.k("claim", "orders:daily:2026-03-01:1")) == run.run_id  # no waiting: WAIT did


def test_a_claim_no_replica_acknowledges_is_withdrawn_and_can_be_claimed_again(pair: SentinelGroup) -> None:
    store = store_on(pair, 1)
    key = "orders:daily:2026-03-01:1"
    with Stopped(pair):
        run, won = store.claim(key, fresh(store))
        assert won
        assert store.confirm_claim(key, run) is False
        assert store.r.get(store.k("claim", key)) is None
        assert store.list_runs("orders") == []
    again, won = store.claim(key, fresh(store))
    assert won and store.confirm_claim(key, again)
    assert [r.run_id for r in store.list_runs("orders")] == [again.run_id]


def test_a_claim_lost_with_its_primary_and_claimed_afresh_is_neither_confirmed_nor_withdrawn(
        pair: SentinelGroup) -> None:
    """The claim went to a primary that died before replicating it; on the new one, another worker
    claimed the same key since: the first worker's confirmation must fail, and leave that claim alone."""
    store = store_on(pair, 1)
    key = "orders:daily:2026-03-01:1"
    mine = fresh(store)
    theirs = fresh(store).model_copy(update={"created_at": mine.created_at + timedelta(milliseconds=3)})
    store.claim(key, theirs)  # what the new primary holds: the same run id, claimed by someone else
    assert store.confirm_claim(key, mine) is False
    assert store.r.get(store.k("claim", key)) == theirs.run_id
    assert store.get_run(theirs.run_id) == theirs


def test_a_single_redis_sends_no_wait_and_no_probe(pair: SentinelGroup) -> None:
    store = store_on(pair, 0)
    run, _ = store.claim("orders:daily:2026-03-01:1", fresh(store))
    before = store.r.info("commandstats")
    with Stopped(pair):  # not even asked: a stopped replica changes nothing
        assert store.confirm_claim("orders:daily:2026-03-01:1", run)
    after = store.r.info("commandstats")
    ours = lambda stats: {k: v for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_replconf")}  # noqa: E731
    assert ours(after) == ours(before)  # not one command in between (REPLCONF: the replica's own acks)
    assert "cmdstat_wait" not in after


def test_scripts_are_loaded_again_on_a_primary_that_never_ran_them(pair: SentinelGroup) -> None:
    """A promoted replica has an empty script cache: EVALSHA answers NOSCRIPT and redis-py loads the script."""
    store = store_on(pair, 1)
    store.claim("orders:daily:2026-03-01:1", fresh(store))
    store.r.script_flush()
    run, won = store.claim("orders:daily:2026-03-02:1", fresh(store, "orders:daily:2026-03-02:1"))
    assert won and store.confirm_claim("orders:daily:2026-03-02:1", run)


def orders_on(pair: SentinelGroup, tmp_path: Path) -> tuple[RedisStore, Deps, Path]:
    """A store that needs one replica's ack, and a pipeline whose command appends a line to the returned file."""
    store = store_on(pair, 1)
    harness = Harness(tmp_path / "project", store)
    harness.archetype("marked", ["ready-marker"])
    fired = tmp_path / "fired.log"
    harness.pipeline("orders", "marked", {"ready-marker": None},
                     extra=f"trigger: {{type: command, command: {{command: 'echo x >> {fired}', shell: true}}}}\n")
    return store, harness.deps(), fired


def test_the_trigger_step_starts_no_job_until_the_replica_acknowledges_its_claim(
        tmp_path: Path, pair: SentinelGroup) -> None:
    store, deps, fired = orders_on(pair, tmp_path)
    with Stopped(pair), pytest.raises(ClaimNotReplicated):
        trigger(deps, "orders", "daily", "2026-03-01", 1)
    assert not fired.exists()
    assert store.list_runs("orders") == [] and store.get_run_log("orders", "2026-03-01", "daily") is None
    due = store.due_at(advance_key("orders", "daily"))
    assert due is not None and due <= deps.clock.now() + UNCONFIRMED_RETRY  # looked at again soon
    run = trigger(deps, "orders", "daily", "2026-03-01", 1)  # the replica answers again
    assert run.status is RunStatus.COMPLETED
    assert fired.read_text() == "x\n"
    assert trigger(deps, "orders", "daily", "2026-03-01", 1).run_id == run.run_id  # and once only
    assert fired.read_text() == "x\n"


def test_a_claim_whose_reply_was_lost_is_confirmed_on_the_replica_and_its_job_runs_once(
        tmp_path: Path, pair: SentinelGroup, monkeypatch: pytest.MonkeyPatch) -> None:
    # The claim ran and replicated, its reply was lost, the retry found it taken by this call's own
    # run (its claimId): the step confirms that run on the replica, as written, and starts the job.
    store, deps, fired = orders_on(pair, tmp_path)
    claim = store.claim

    def reply_lost(key: str, run: RunState, epoch: str | None = None) -> tuple[RunState, bool]:
        claim(key, run, epoch)
        return claim(key, run, epoch)

    monkeypatch.setattr(store, "claim", reply_lost)
    assert trigger(deps, "orders", "daily", "2026-03-01", 1).status is RunStatus.COMPLETED
    assert fired.read_text() == "x\n"
