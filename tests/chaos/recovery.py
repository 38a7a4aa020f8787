"""The recovery chaos scenario: trigger workers SIGKILLed between the claim and the job's start.

A project of N pipelines, each READY once its ``ready-marker`` is pushed, each triggering a DAG run
on a fake Airflow (interlock/demo/fake_airflow.py: a second start of one ``dag_run_id`` is a 409,
``GET dagRuns/{id}`` finds one) that this process serves on 127.0.0.1 and that counts every DAG run
it creates. The trigger worker runs through tests/chaos/kill_between.py: for ``kill_before``
pipelines its pool process SIGKILLs itself before asking Airflow (the job never started), for
``kill_after`` ones right after Airflow created the DAG run (the reply is lost). The rest of the
deployment (a worker per queue, Beat) runs as is, with ``watchdog.recoverAfter`` short, so Beat's
reconcile hands the abandoned TRIGGERING runs to the watchdog, which asks Airflow.

Judged after it settles: every period COMPLETED under its attempt-1 run id (none lost), exactly one
DAG run per period at the target (no duplicate), and a ``TRIGGER_RECOVERED`` event for every kill
that landed — ``restarted`` for a kill before the start, ``found`` for a kill after it.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery

from interlock.config import load_project
from interlock.demo.fake_airflow import FakeAirflow
from interlock.demo.stack import Stack
from interlock.errors import UnknownRun
from interlock.model import EventKind, RunStatus
from interlock.steps.deps import Deps
from interlock.steps.runs import run_id_for
from interlock.store.redis import RedisStore
from tests.chaos.faults import Fleet, PrivateRedis, wait_until
from tests.chaos.scenario import (
    ARCHETYPE,
    SCHEDULE,
    Pusher,
    noon_zone,
    overdue,
    period_now,
    read_alerts,
    reply_host,
    state_of,
)
from workers.config import celery_config
from workers.context import CeleryDispatcher

REPO = Path(__file__).resolve().parents[2]  # so the workers can import tests.chaos.kill_between


@dataclass
class RecoveryConfig:
    pipelines: int = 40
    kill_before: int = 8  # pipelines whose trigger worker dies before the DAG run is asked for
    kill_after: int = 8  # ... right after Airflow created it
    push_seconds: float = 15.0
    recover_after: str = "10s"  # watchdog.recoverAfter
    stuck_threshold: str = "5m"  # far above it: a stuck_run alert here means recovery did not happen
    settle_timeout: float = 150.0
    quiet_seconds: float = 5.0  # after settling: watch this long for a late (duplicate) DAG run
    seed: int = field(default_factory=lambda: random.SystemRandom().randrange(1 << 30))


@dataclass
class RecoveryOutcome:
    """What one recovery run did and found (the figures of the report)."""

    config: dict[str, Any]
    periods: int = 0
    pushes: int = 0
    kills_before_start: int = 0  # markers: the trigger process died before asking Airflow
    kills_after_start: int = 0  # ... after Airflow created the DAG run
    recovered_restarted: int = 0  # TRIGGER_RECOVERED events, recovered=restarted
    recovered_found: int = 0  # ... recovered=found
    recovered_without_kill: int = 0  # a start slower than recoverAfter (legitimate, counted)
    kills_not_recovered_as_expected: list[str] = field(default_factory=list)
    recovery_delay_median: float = 0.0  # seconds from the claim to the recovery event
    recovery_delay_max: float = 0.0
    dag_runs_created: int = 0
    distinct_dag_run_ids: int = 0
    starts_refused_409: int = 0
    completed: int = 0
    duplicates: int = 0
    duplicate_details: list[str] = field(default_factory=list)
    lost: int = 0
    lost_details: list[str] = field(default_factory=list)
    stuck_alerts: int = 0
    crashes: list[str] = field(default_factory=list)
    workers_answering: list[str] = field(default_factory=list)
    settle_seconds: float = 0.0
    wall_seconds: float = 0.0
    workdir: str = ""

    @property
    def kills_landed(self) -> bool:
        return self.kills_before_start >= 1 and self.kills_after_start >= 1

    @property
    def ok(self) -> bool:
        return (self.kills_landed and self.duplicates == 0 and self.lost == 0 and not self.crashes
                and not self.kills_not_recovered_as_expected and self.recovered_restarted >= 1
                and self.recovered_found >= 1 and len(self.workers_answering) == len(Fleet.NAMES) - 1)

    def figures(self) -> dict[str, Any]:
        return asdict(self)


def write_project(root: Path, redis_url: str, prefix: str, airflow_url: str, names: list[str],
                  config: RecoveryConfig, zone: str) -> Path:
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '{host_port}', keyPrefix: '{prefix}'}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
        "alerts:\n  - {type: file, path: alerts.jsonl}\n"
        "watcher: {defaultInterval: 10s, reconcileInterval: 1s}\n"
        f"watchdog: {{stuckRunThreshold: {config.stuck_threshold}, recoverAfter: {config.recover_after}}}\n"
        "engine: {defaultTimeout: 5s}\n")
    (root / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
    for name in names:
        (root / "pipelines" / f"{name}.yaml").write_text(
            f"name: {name}\narchetype: marked\nschedules:\n  - {{name: {SCHEDULE}, timezone: {zone}}}\n"
            f"trigger:\n  type: airflow\n  pollInterval: 1s\n"
            f"  airflow: {{url: '{airflow_url}', dag_id: chaos, apiVersion: 1}}\n")
    return root / "interlock.yaml"


def run_recovery(config: RecoveryConfig, workdir: Path, log: Any = print) -> RecoveryOutcome:
    """Run the scenario in ``workdir``; every process it starts is stopped before it returns."""
    wall = time.monotonic()
    rng = random.Random(config.seed)
    outcome = RecoveryOutcome(config=asdict(config), workdir=str(workdir))
    stack = Stack()
    airflow = FakeAirflow(polls_until_success=2).start()
    store: RedisStore | None = None
    beat_state: Path | None = None
    try:
        server = PrivateRedis(stack, workdir / "redis", persistent=False)
        server.start()
        names = [f"r{i:03d}" for i in range(config.pipelines)]
        doomed = rng.sample(names, config.kill_before + config.kill_after)
        before, after = doomed[:config.kill_before], doomed[config.kill_before:]
        zone = noon_zone(datetime.now(UTC))
        prefix = f"interlock-recovery-{uuid.uuid4().hex[:8]}:"
        path = write_project(workdir, server.url, prefix, airflow.url, names, config, zone)
        kills = workdir / "kills"
        kills.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "CHAOS_KILL_"))}
        env.update({"INTERLOCK_CONFIG": str(path), "INTERLOCK_REDIS_URL": server.url,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
                    "CHAOS_KILL_BEFORE": ",".join(before), "CHAOS_KILL_AFTER": ",".join(after),
                    "CHAOS_KILL_DIR": str(kills)})
        project = load_project(path, env={"INTERLOCK_REDIS_URL": server.url})
        store = RedisStore.from_settings(project.settings)
        app = Celery("chaos-recovery")
        app.conf.update(celery_config(project))
        beat_state = Path(app.conf.beat_schedule_filename)
        deps = Deps(project, store, dispatch=CeleryDispatcher(app))

        fleet = Fleet(stack, workdir, env, modules={"trigger": "tests.chaos.kill_between"})
        fleet.start_all()
        wait_until(fleet.all_ready, 120, "every worker and Beat to start")
        wait_until(lambda: len(store.list_pipelines()) == len(names), 60, "the pipelines to be registered")
        log(f"recovery: {len(names)} pipelines, {len(before)} killed before the start, {len(after)} after, "
            f"seed {config.seed}, workdir {workdir}")

        order = names[:]
        rng.shuffle(order)
        pusher = Pusher(deps, order, config.push_seconds)
        pusher.start()
        pusher.join(config.push_seconds + 120)
        if pusher.error is not None:
            raise pusher.error
        outcome.periods, outcome.pushes = len(names), pusher.pushed

        settling = time.monotonic()
        period = period_now(zone)
        try:
            wait_until(lambda: not fleet.revive() and all(
                state_of(store, name, period).status is RunStatus.COMPLETED for name in names),
                config.settle_timeout, "every period to complete", every=1.0)
        except AssertionError as exc:  # judged below: what did not complete is counted as lost, by name
            log(f"recovery: {exc}")
        outcome.settle_seconds = round(time.monotonic() - settling, 1)
        time.sleep(config.quiet_seconds)  # a late duplicate DAG run would show up here
        fleet.revive()
        outcome.crashes = [f"{c.process} exited {c.returncode} (see {c.log})" for c in fleet.crashes]
        outcome.workers_answering = sorted({reply_host(r) for r in app.control.ping(timeout=5.0)})
        with contextlib.suppress(AssertionError):  # what Beat's reconcile still has to hand out
            wait_until(lambda: not overdue(store), 30, "the reconcile loop to dispatch what is due", every=1.0)
        judge(outcome, store, airflow, workdir, names, period)
        log(f"recovery: settled in {outcome.settle_seconds}s")
    finally:
        stack.stop()
        airflow.stop()
        if store is not None:
            store.close()
        if beat_state is not None:  # Beat's bookkeeping file(s), outside the work folder
            for leftover in beat_state.parent.glob(beat_state.name + "*"):
                leftover.unlink(missing_ok=True)
    outcome.wall_seconds = round(time.monotonic() - wall, 1)
    return outcome


def judge(outcome: RecoveryOutcome, store: RedisStore, airflow: FakeAirflow, workdir: Path, names: list[str],
          period: str) -> None:
    """Count the kills that landed, the recoveries, the DAG runs at the target, duplicates and lost runs."""
    killed = {marker.stem: marker.suffix.lstrip(".") for marker in (workdir / "kills").iterdir()}
    outcome.kills_before_start = sum(when == "before" for when in killed.values())
    outcome.kills_after_start = sum(when == "after" for when in killed.values())

    expected = {run_id_for(name, SCHEDULE, period, 1): name for name in names}
    with airflow.lock:
        created, refused = list(airflow.created), list(airflow.refused)
    outcome.dag_runs_created, outcome.distinct_dag_run_ids = len(created), len(set(created))
    outcome.starts_refused_409 = len(refused)
    for run_id, n in sorted(Counter(created).items()):
        if run_id not in expected:  # a DAG run for a run no period should have (a second attempt, another day)
            outcome.duplicates += n
            outcome.duplicate_details.append(f"{run_id}: a DAG run nobody expected")
        elif n > 1:
            outcome.duplicates += n - 1
            outcome.duplicate_details.append(f"{run_id}: {n} DAG runs")

    delays = []
    for run_id, name in sorted(expected.items(), key=lambda item: item[1]):
        state = state_of(store, name, period)
        if state.status is RunStatus.COMPLETED and state.run_id == run_id and run_id in created:
            outcome.completed += 1
        else:
            outcome.lost += 1
            outcome.lost_details.append(f"{name}: {state.status.value if state.status else 'no run'} "
                                        f"({'a DAG run' if run_id in created else 'no DAG run'} at the target)")
        recovered = [r.event for r in store.list_events(name, 100) if r.event.kind is EventKind.TRIGGER_RECOVERED]
        how = [str((event.details or {}).get("recovered")) for event in recovered]
        outcome.recovered_restarted += how.count("restarted")
        outcome.recovered_found += how.count("found")
        if run_id not in killed:
            outcome.recovered_without_kill += len(how)
        elif how != [{"before": "restarted", "after": "found"}[killed[run_id]]]:
            outcome.kills_not_recovered_as_expected.append(f"{name} killed {killed[run_id]} the start: "
                                                           f"recovered {how or 'never'}")
        with contextlib.suppress(UnknownRun):
            claimed = store.get_run(run_id).created_at
            delays += [(event.timestamp - claimed).total_seconds() for event in recovered]
    if delays:
        outcome.recovery_delay_median = round(statistics.median(delays), 1)
        outcome.recovery_delay_max = round(max(delays), 1)
    outcome.stuck_alerts = sum(a.get("alertType") == "stuck_run" for a in read_alerts(workdir))


ROWS = [
    ("pipeline periods", "periods"), ("markers pushed", "pushes"),
    ("SIGKILLed before the start", "kills_before_start"), ("SIGKILLed after the start", "kills_after_start"),
    ("recovered: started again", "recovered_restarted"), ("recovered: found at target", "recovered_found"),
    ("recovered without a kill (slow start)", "recovered_without_kill"),
    ("claim to recovery, median (s)", "recovery_delay_median"), ("claim to recovery, max (s)", "recovery_delay_max"),
    ("DAG runs created at the target", "dag_runs_created"), ("distinct dag_run_ids", "distinct_dag_run_ids"),
    ("starts refused as duplicates (409)", "starts_refused_409"), ("periods COMPLETED", "completed"),
    ("duplicates", "duplicates"), ("lost", "lost"), ("stuck_run alerts", "stuck_alerts"),
    ("settle time after last push (s)", "settle_seconds"), ("wall time (s)", "wall_seconds"),
]


def report(outcome: RecoveryOutcome) -> str:
    """The figures as a table, then whatever went wrong, by name."""
    figures = outcome.figures()
    lines = [f"{'recovery figure':<40}{'value':>8}", "-" * 48]
    lines += [f"{label:<40}{figures[key]!s:>8}" for label, key in ROWS]
    lines.append(f"{'processes that exited by themselves':<40}{len(outcome.crashes):>8}")
    if not outcome.kills_landed:
        lines.append("NOT MEANINGFUL: a kill did not land between the claim and the start "
                     f"({outcome.kills_before_start} before, {outcome.kills_after_start} after)")
    for title, details in (("crashes", outcome.crashes), ("duplicates", outcome.duplicate_details),
                           ("lost", outcome.lost_details),
                           ("not recovered as expected", outcome.kills_not_recovered_as_expected)):
        if details:
            lines.append(f"{title}: " + "; ".join(details[:20]))
    return "\n".join(lines)
