"""Redis restarted empty under a running deployment: healed without a restart, no period fired twice.

A redis-server of the test's own (no AOF, no RDB: a restart comes back empty), a Postgres archive
database of its own, one worker for every queue and Beat, all started through the CLI.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from interlock.archive.models import RunLogRow
from interlock.demo import Stack
from interlock.model import RunStatus
from interlock.steps.keys import advance_key
from interlock.store.redis import RedisStore
from tests.archive.conftest import database_url, engine, migrated  # noqa: F401  (fixtures)
from tests.chaos.faults import PrivateRedis, wait_until

pytestmark = pytest.mark.integration

# The two ways a store loses everything under running processes: a restart without persistence
# (connections drop, then an empty server answers) and FLUSHALL (the connections stay).
WIPES = ["restart-empty", "flushall"]
ARCHETYPE = "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n"


def fired(name: str) -> str:
    """A command trigger that appends one line per run to fired/<name> (counted at the target)."""
    return (f"trigger:\n  type: command\n  command:\n    command: \"mkdir -p fired && echo $INTERLOCK_RUN_ID >> "
            f"fired/{name}\"\n    shell: true\n")


@dataclass
class Rig:
    root: Path
    stack: Stack
    server: PrivateRedis
    store: RedisStore
    archive: Engine
    env: dict[str, str]

    def start(self, *args: str, log: str) -> None:
        self.stack.start([sys.executable, "-m", "interlock.cli", *args], self.root / log, self.env, self.root)

    def cli(self, *args: str) -> str:
        import subprocess

        done = subprocess.run([sys.executable, "-m", "interlock.cli", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    def wipe(self, how: str) -> None:
        if how == "flushall":
            client = self.server.client()
            client.flushall()
            client.close()
        else:
            self.server.crash_and_restart()  # no AOF, no RDB: it comes back empty

    def log(self, name: str) -> str:
        return (self.root / name).read_text(errors="replace")

    def fired(self, name: str) -> list[str]:
        path = self.root / "fired" / name
        return path.read_text().split() if path.exists() else []

    def alerts(self, kind: str) -> list[dict[str, Any]]:
        path = self.root / "alerts.jsonl"  # a file sink: it outlives the store
        lines = path.read_text().splitlines() if path.exists() else []
        return [a for a in map(json.loads, lines) if a.get("alertType") == kind]

    def archived(self, pipeline: str) -> str | None:
        with Session(self.archive) as session:
            return session.scalar(select(RunLogRow.status).where(RunLogRow.pipeline_id == pipeline))


@pytest.fixture
def rig(tmp_path: Path, database_url: str, migrated: Engine) -> Iterator[Rig]:  # noqa: F811
    stack = Stack()
    server = PrivateRedis(stack, tmp_path / "redis", persistent=False)
    store: RedisStore | None = None
    try:
        server.start()
        prefix = f"wipe-{uuid.uuid4().hex[:8]}:"
        for folder in ("archetypes", "pipelines"):
            (tmp_path / folder).mkdir()
        (tmp_path / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
        for name in ("daily-load", "idle"):
            (tmp_path / "pipelines" / f"{name}.yaml").write_text(f"name: {name}\narchetype: marked\n{fired(name)}")
        (tmp_path / "interlock.yaml").write_text(
            f"provider: redis\nredis: {{addr: '127.0.0.1:{server.port}', keyPrefix: '{prefix}'}}\n"
            "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
            "alerts: [{type: file, path: alerts.jsonl}]\n"
            "watcher: {defaultInterval: 1s, reconcileInterval: 500ms}\n"
            f"archiver: {{enabled: true, interval: 1s, dsn: '{database_url}'}}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env["INTERLOCK_CONFIG"] = str(tmp_path / "interlock.yaml")
        store = RedisStore(server.client(), prefix)
        rig = Rig(tmp_path, stack, server, store, migrated, env)
        rig.start("worker", "--concurrency", "2", log="worker.log")
        rig.start("beat", log="beat.log")
        wait_until(lambda: "registered 2 pipelines" in rig.log("worker.log"), 60, "the worker to start")
        wait_until(lambda: all(store.due_at(advance_key(p, "daily")) for p in ("daily-load", "idle")), 30,
                   "every pipeline to get its due entry")
        yield rig
    finally:
        stack.stop()
        if store is not None:
            store.close()


def test_start_up_warns_that_redis_keeps_nothing_across_a_restart(rig: Rig) -> None:
    wait_until(lambda: "Redis has NO persistence" in rig.log("worker.log"), 30, "the worker's warning")
    wait_until(lambda: "Redis has NO persistence" in rig.log("beat.log"), 30, "Beat's warning")


@pytest.mark.parametrize("wipe", WIPES)
def test_a_period_that_ran_before_the_store_was_wiped_is_not_fired_again_by_the_same_markers(rig: Rig,
                                                                                              wipe: str) -> None:
    rig.cli("push", "daily-load", "ready-marker", "--status", "pass")
    wait_until(lambda: len(rig.fired("daily-load")) == 1, 30, "the first trigger")
    [run_id] = rig.fired("daily-load")
    wait_until(lambda: rig.archived("daily-load") == "COMPLETED", 30, "the archiver to copy the run log")

    rig.wipe(wipe)
    assert rig.store.list_pipelines() == []
    rig.cli("push", "daily-load", "ready-marker", "--status", "pass")  # the same marker, pushed again

    def restored() -> bool:
        logs = rig.store.list_run_logs("daily-load")
        return bool(logs) and logs[0].run_id == run_id and logs[0].status is RunStatus.COMPLETED

    wait_until(restored, 30, "the period's run log to be restored from the archive")
    time.sleep(3)  # several reconcile passes and re-checks: none may fire it again
    assert rig.fired("daily-load") == [run_id]
    assert len(rig.alerts("store_reset")) == 1
    kinds = [e["kind"] for e in json.loads(rig.cli("events", "daily-load", "--json"))]
    assert "STORE_RESET" in kinds and "RUN_RESTORED" in kinds


@pytest.mark.parametrize("wipe", WIPES)
def test_a_wiped_store_is_healed_by_the_next_reconcile_pass_without_restarting_anything(rig: Rig, wipe: str) -> None:
    processes = [(p.pid, p) for p in rig.stack.processes if p.args[0] == sys.executable]

    rig.wipe(wipe)

    def healed() -> bool:
        return all(rig.store.due_at(advance_key(p, "daily")) for p in ("daily-load", "idle"))

    wait_until(healed, 45, "the due entries to be re-armed")
    assert sorted(p.name for p in rig.store.list_pipelines()) == ["daily-load", "idle"]
    wait_until(lambda: rig.alerts("store_reset"), 10, "the store_reset alert")
    time.sleep(2)
    [alert] = rig.alerts("store_reset")
    assert "its epoch" in alert["message"] and "is gone" in alert["message"]
    assert all(p.poll() is None for _, p in processes)  # nothing restarted: same processes, still running
    # And the healed deployment works: a push gets the pipeline triggered.
    rig.cli("push", "idle", "ready-marker", "--status", "pass")
    wait_until(lambda: len(rig.fired("idle")) == 1, 30, "the trigger after the heal")
