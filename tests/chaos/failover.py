"""The failover scenario: the Redis primary SIGKILLed twice under load, Sentinel promoting the replica.

The same project and trigger target as the chaos scenario (tests/chaos/scenario.py): N pipelines
READY once their marker is pushed, each appending ``<pipeline> <period> <run id>`` to ``fired.log``
when triggered, a few ("flaky-*") failing every time, retried once and then alerting once.

Redis is a Sentinel group of the test's own (tests/chaos/faults.py, SentinelGroup): a primary, a
replica, three sentinels. The workers and Beat find the primary through ``redis.sentinel`` in
interlock.yaml; the test itself (the pusher, the judge) through the ``sentinel://`` form of
``$INTERLOCK_REDIS_URL``. ``redis.minReplicasAcked: 1``: a claim must be on the replica before its
job starts (docs/reliability.md, "Redis failover").

While the markers are pushed, the primary is SIGKILLed (``failover_at``, fractions of
``push_seconds``); the sentinels promote the replica; the killed node is started again as a replica
of the new primary; later the new primary is SIGKILLed the same way. Writes the primary had not
passed on to the replica when it died are lost — messages in the broker's queues, due entries,
run logs — and the system must find its way back by itself. Then every period must be COMPLETED
(the flaky ones FAILED with one alert each), triggered exactly once at the target.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery

from interlock.config import load_project
from interlock.demo.stack import Stack
from interlock.steps.deps import Deps
from interlock.store.redis import RedisStore
from tests.chaos.faults import Fleet, SentinelGroup, wait_until
from tests.chaos.scenario import (
    ChaosConfig,
    Outcome,
    Pusher,
    judge,
    noon_zone,
    overdue,
    pipeline_names,
    reply_host,
    sleep_until,
    unsettled,
    write_project,
)
from workers.config import celery_config
from workers.context import CeleryDispatcher


@dataclass
class FailoverConfig(ChaosConfig):
    push_seconds: float = 50.0
    failover_at: tuple[float, ...] = (0.3, 0.7)  # fractions of push_seconds: one primary SIGKILL each
    min_replicas_acked: int = 1
    replica_ack_timeout: str = "500ms"
    settle_timeout: float = 120.0  # the stated bound: settled this long after the pushes and failovers


@dataclass
class FailoverOutcome(Outcome):
    failovers: list[dict[str, float]] = field(default_factory=list)
    primary_kills: int = 0
    claims_withdrawn: int = 0  # no replica acknowledged them (the window with no replica after a kill)
    settled: bool = False
    settle_after_last_failover_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return super().ok and self.settled and self.stuck_reported == 0


def run_failover(config: FailoverConfig, workdir: Path, log: Any = print) -> FailoverOutcome:
    """Run the scenario in ``workdir``; every process it starts is stopped before it returns."""
    wall = time.monotonic()
    outcome = FailoverOutcome(config={**asdict(config), "kill_every": None}, workdir=str(workdir))
    stack = Stack()
    store: RedisStore | None = None
    beat_state: Path | None = None
    try:
        group = SentinelGroup(stack, workdir / "redis")
        group.start()
        prefix = f"interlock-failover-{uuid.uuid4().hex[:8]}:"
        zone = noon_zone(datetime.now(UTC))
        sentinels = ", ".join(f"'{a}'" for a in group.sentinel_addrs)
        path = write_project(workdir, "redis://unused:0", prefix, config, zone, redis_settings=(
            f"sentinel: {{masterName: interlock, sentinels: [{sentinels}]}}, "
            f"minReplicasAcked: {config.min_replicas_acked}, replicaAckTimeout: {config.replica_ack_timeout}"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env["INTERLOCK_CONFIG"] = str(path)  # the workers and Beat: redis.sentinel in the file
        project = load_project(path, env={"INTERLOCK_REDIS_URL": group.url()})  # the test: the URL form
        assert project.settings.redis_sentinel is not None
        store = RedisStore.from_settings(project.settings)
        app = Celery("failover-pusher")
        app.conf.update(celery_config(project))
        beat_state = Path(app.conf.beat_schedule_filename)
        deps = Deps(project, store, dispatch=CeleryDispatcher(app))
        names = pipeline_names(config)
        random.Random(config.seed).shuffle(names)
        outcome.periods = len(names)

        fleet = Fleet(stack, workdir, env)
        fleet.start_all()
        wait_until(fleet.all_ready, 120, "every worker and Beat to start")
        wait_until(lambda: len(store.list_pipelines()) == len(names), 60, "the pipelines to be registered")
        log(f"failover: {len(names)} pipelines, seed {config.seed}, zone {zone}, workdir {workdir}")

        started = time.monotonic()
        pusher = Pusher(deps, names, config.push_seconds)
        pusher.start()
        last_kill = started
        for fraction in config.failover_at:
            sleep_until(started + fraction * config.push_seconds)
            last_kill = time.monotonic()
            failover = group.fail_over()
            outcome.failovers.append({"at_s": round(last_kill - started, 1), **failover})
            log(f"failover: t={last_kill - started:.0f}s primary {failover['killed_port']} SIGKILLed, "
                f"{failover['promoted_port']} promoted after {failover['promoted_after_s']}s, killed node back as "
                f"replica after {failover['replica_back_after_s']}s")
        outcome.primary_kills = len(outcome.failovers)
        pusher.join(config.push_seconds + 120)
        if pusher.error is not None:
            raise pusher.error
        outcome.pushes = pusher.pushed
        log(f"failover: t={time.monotonic() - started:.0f}s every marker pushed; settling")

        settling = time.monotonic()
        with contextlib.suppress(AssertionError):  # judged below: what did not settle is counted, by name
            wait_until(lambda: not fleet.revive() and not unsettled(store, workdir, names, zone),
                       config.settle_timeout, "every period to complete", every=1.0)
            outcome.settled = True
        outcome.settle_seconds = round(time.monotonic() - settling, 1)
        outcome.settle_after_last_failover_seconds = round(time.monotonic() - last_kill, 1)
        time.sleep(config.quiet_seconds)  # a late duplicate would show up here (checked below, not a timing)
        fleet.revive()
        outcome.crashes = [f"{c.process} exited {c.returncode} (see {c.log})" for c in fleet.crashes]
        outcome.workers_answering = sorted({reply_host(r) for r in app.control.ping(timeout=5.0)})
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not overdue(store), 60, "the reconcile loop to dispatch what is due", every=1.0)
        outcome.overdue_after_settle = len(overdue(store))
        outcome.claims_withdrawn = int(store.counts().get("interlock_claims_unconfirmed_total", 0))
        judge(outcome, store, workdir, names, zone)
    finally:
        stack.stop()
        if store is not None:
            store.close()
        if beat_state is not None:  # Beat's bookkeeping file(s), outside the work folder
            for leftover in beat_state.parent.glob(beat_state.name + "*"):
                leftover.unlink(missing_ok=True)
    outcome.wall_seconds = round(time.monotonic() - wall, 1)
    return outcome


ROWS = [
    ("pipeline periods", "periods"), ("markers pushed", "pushes"), ("primary SIGKILLs (failovers)", "primary_kills"),
    ("triggers counted at target", "triggers_counted"), ("periods COMPLETED", "completed"),
    ("flaky periods FAILED + alerted", "failed_as_expected"), ("duplicates", "duplicates"), ("lost", "lost"),
    ("stuck, reported by watchdog", "stuck_reported"), ("alerts delivered", "alerts"),
    ("alerts duplicated", "alerts_duplicated"), ("exhausted alerts missing", "exhausted_alerts_missing"),
    ("claims withdrawn (no replica ack)", "claims_withdrawn"), ("settled", "settled"),
    ("settle time after last push (s)", "settle_seconds"),
    ("settled after last failover (s)", "settle_after_last_failover_seconds"), ("wall time (s)", "wall_seconds"),
]


def report(outcome: FailoverOutcome) -> str:
    """The figures as a table, each failover's timings, then whatever went wrong, by name."""
    figures = outcome.figures()
    lines = [f"{'failover figure':<36}{'value':>10}", "-" * 46]
    lines += [f"{label:<36}{figures[key]!s:>10}" for label, key in ROWS]
    for i, f in enumerate(outcome.failovers, 1):
        lines.append(f"failover {i}: t={f['at_s']}s, promoted after {f['promoted_after_s']}s, "
                     f"old primary back as replica after {f['replica_back_after_s']}s")
    lines.append(f"{'workers answering ping':<36}{','.join(outcome.workers_answering):>10}")
    for title, details in (("crashes", outcome.crashes), ("duplicates", outcome.duplicate_details),
                           ("lost", outcome.lost_details), ("stuck", outcome.stuck_details),
                           ("alerts duplicated", outcome.alert_duplicate_details)):
        if details:
            lines.append(f"{title}: " + "; ".join(details[:20]))
    return "\n".join(lines)
