"""The chaos scenario: a whole deployment under SIGKILLs, a Redis crash and a broker outage.

A project of N pipelines, each READY once its ``ready-marker`` is pushed, each triggering a command
that appends ``<pipeline> <period> <run id>`` to ``fired.log`` (O_APPEND: one short write per job,
so concurrent jobs never interleave) — the trigger target, counted after the fact. A few of them
("flaky-*") exit 1 every time: they retry once, then raise one ``retry_exhausted`` alert.

One worker per queue and Beat run through a relay in front of a private Redis. While the markers
are pushed (spread over ``push_seconds``, straight to Redis and the broker, as an outside client
would) a killer SIGKILLs a random worker process every few seconds; part-way, Redis is SIGKILLed
and restarted from its AOF; later the relay cuts the workers off Redis for ``outage_seconds``.
Then the faults stop and the system must settle by itself: every period COMPLETED (the flaky ones
FAILED with their alert), or still TRIGGERING and reported stuck by the watchdog.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from interlock.config import load_project
from interlock.demo.stack import Stack
from interlock.model import RunStatus, TraitStatus
from interlock.steps.deps import Deps
from interlock.steps.keys import advance_key
from interlock.steps.push import push_trait
from interlock.store.redis import RedisStore
from tests.chaos.faults import BrokerRelay, Fleet, PrivateRedis, wait_until
from workers.config import celery_config
from workers.context import CeleryDispatcher

SCHEDULE = "daily"
ARCHETYPE = "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n"
# Shell redirection with >> opens with O_APPEND; printf writes the short line in one write(2).
RECORD = 'printf "%s %s %s\\n" "$INTERLOCK_PIPELINE" "$INTERLOCK_PERIOD" "$INTERLOCK_RUN_ID" >> fired.log'
FLAKY_ATTEMPTS = 2


@dataclass
class ChaosConfig:
    pipelines: int = 200  # succeeding ones
    flaky: int = 12  # always failing: retried, then one alert each
    push_seconds: float = 60.0
    kill_every: tuple[float, float] = (2.0, 4.0)
    redis_crash_at: float = 0.3  # fraction of push_seconds
    outage_at: float = 0.6
    outage_seconds: float = 10.0
    chaos_tail: float = 10.0  # kills go on this long after the last push
    check_interval: str = "10s"  # watcher.defaultInterval: how soon a lost step is re-derived
    stuck_threshold: str = "15s"
    settle_timeout: float = 300.0
    quiet_seconds: float = 8.0  # after settling: watch this long for a late (duplicate) trigger
    seed: int = field(default_factory=lambda: random.SystemRandom().randrange(1 << 30))


@dataclass
class Outcome:
    """What one chaos run did and found (the figures of the report)."""

    config: dict[str, Any]
    periods: int = 0
    pushes: int = 0
    kills: int = 0
    kills_by_process: dict[str, int] = field(default_factory=dict)
    kills_main: int = 0
    kills_pool_child: int = 0
    redis_restarts: int = 0
    redis_down_seconds: float = 0.0
    broker_outage_seconds: float = 0.0
    triggers_counted: int = 0
    completed: int = 0
    failed_as_expected: int = 0
    duplicates: int = 0
    duplicate_details: list[str] = field(default_factory=list)
    lost: int = 0
    lost_details: list[str] = field(default_factory=list)
    stuck_reported: int = 0
    stuck_reported_job_ran: int = 0  # of those: the job had written its line (the worker died after starting it)
    stuck_details: list[str] = field(default_factory=list)
    alerts: int = 0
    alerts_duplicated: int = 0
    alert_duplicate_details: list[str] = field(default_factory=list)
    exhausted_alerts_missing: int = 0
    crashes: list[str] = field(default_factory=list)  # processes that exited by themselves
    kill_log: list[str] = field(default_factory=list)
    workers_answering: list[str] = field(default_factory=list)
    overdue_after_settle: int = 0
    settle_seconds: float = 0.0
    wall_seconds: float = 0.0
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return (self.duplicates == 0 and self.lost == 0 and self.alerts_duplicated == 0 and not self.crashes
                and self.overdue_after_settle == 0 and len(self.workers_answering) == len(Fleet.NAMES) - 1)

    def figures(self) -> dict[str, Any]:
        return asdict(self)


def noon_zone(now: datetime) -> str:
    """An Etc/GMT zone where it is about noon now, so no period boundary falls inside a run."""
    offset = max(-12, min(14, 12 - now.hour))
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted (POSIX)


def write_project(root: Path, relay_url: str, prefix: str, config: ChaosConfig, zone: str,
                  redis_settings: str | None = None) -> Path:
    """The project; ``redis_settings`` (flow-style YAML entries) replaces ``addr`` (tests/chaos/failover.py)."""
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    host_port = relay_url.split("//", 1)[1].split("/", 1)[0]
    where = redis_settings or f"addr: '{host_port}'"
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{{where}, keyPrefix: '{prefix}'}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
        "alerts:\n  - {type: file, path: alerts.jsonl}\n"
        f"watcher: {{defaultInterval: {config.check_interval}, reconcileInterval: 1s}}\n"
        f"watchdog: {{stuckRunThreshold: {config.stuck_threshold}}}\n"
        # Only pushed traits (no evaluator runs), so evaluations are short: an advance lock a killed
        # worker left behind then expires in 5 + 15 s.
        "engine: {defaultTimeout: 5s}\n")
    (root / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
    schedule = f"schedules:\n  - {{name: {SCHEDULE}, timezone: {zone}}}\n"
    for name in pipeline_names(config):
        command = RECORD + ("; exit 1" if name.startswith("flaky-") else "")
        retry = (f"retry: {{maxAttempts: {FLAKY_ATTEMPTS}, backoffSeconds: 1, backoffMultiplier: 1}}\n"
                 if name.startswith("flaky-") else "")
        (root / "pipelines" / f"{name}.yaml").write_text(
            f"name: {name}\narchetype: marked\n{schedule}{retry}trigger:\n  type: command\n  command:\n"
            f"    command: {json.dumps(command)}\n    shell: true\n")
    return root / "interlock.yaml"


def pipeline_names(config: ChaosConfig) -> list[str]:
    return [f"p{i:03d}" for i in range(config.pipelines)] + [f"flaky-{i:02d}" for i in range(config.flaky)]


def retrying(action: Any, what: str, timeout: float = 60.0) -> Any:
    """Run ``action`` until Redis lets it (the pusher is a client: it retries across a Redis restart)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except (redis.RedisError, OperationalError, OSError):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: Redis unreachable for {timeout:.0f}s") from None
            time.sleep(0.2)


class Pusher(threading.Thread):
    """Pushes every pipeline's marker like the API does: store the trait, mark it due, send `advance`."""

    def __init__(self, deps: Deps, names: list[str], seconds: float) -> None:
        super().__init__(name="pusher", daemon=True)
        self.deps, self.names, self.seconds = deps, names, seconds
        self.pushed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            began = time.monotonic()
            for i, name in enumerate(self.names):
                time.sleep(max(0.0, began + i * self.seconds / len(self.names) - time.monotonic()))
                retrying(lambda n=name: self._push(n), f"pushing {name}")
                self.pushed += 1
        except BaseException as exc:  # reported by the scenario
            self.error = exc

    def _push(self, name: str) -> None:
        push_trait(self.deps, name, "ready-marker", TraitStatus.PASS)
        self.deps.store.set_due(advance_key(name, SCHEDULE), self.deps.clock.now())
        self.deps.dispatch.send("advance", pipeline=name, schedule=SCHEDULE)


class Killer(threading.Thread):
    def __init__(self, fleet: Fleet, rng: random.Random, every: tuple[float, float], started: float) -> None:
        super().__init__(name="killer", daemon=True)
        self.fleet, self.rng, self.every, self.started = fleet, rng, every, started
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(*self.every)):
                self.fleet.revive()
                self.fleet.kill_random(self.rng, self.started)
        except BaseException as exc:
            self.error = exc


def fired_lines(root: Path) -> list[tuple[str, str, str]]:
    path = root / "fired.log"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def read_alerts(root: Path) -> list[dict[str, Any]]:
    path = root / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_chaos(config: ChaosConfig, workdir: Path, log: Any = print) -> Outcome:
    """Run the scenario in ``workdir``; every process it starts is stopped before it returns."""
    wall = time.monotonic()
    rng = random.Random(config.seed)
    outcome = Outcome(config={**asdict(config), "kill_every": list(config.kill_every)}, workdir=str(workdir))
    stack = Stack()
    relay: BrokerRelay | None = None
    killer: Killer | None = None
    store: RedisStore | None = None
    beat_state: Path | None = None
    try:
        server = PrivateRedis(stack, workdir / "redis")
        server.start()
        relay = BrokerRelay(server.port).start()
        prefix = f"interlock-chaos-{uuid.uuid4().hex[:8]}:"
        zone = noon_zone(datetime.now(UTC))
        path = write_project(workdir, relay.url, prefix, config, zone)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env.update({"INTERLOCK_CONFIG": str(path), "INTERLOCK_REDIS_URL": relay.url})
        # The test itself talks to Redis directly: it is the outside world, not cut off by the relay.
        project = load_project(path, env={"INTERLOCK_REDIS_URL": server.url})
        store = RedisStore.from_settings(project.settings)
        app = Celery("chaos-pusher")
        app.conf.update(celery_config(project))
        beat_state = Path(app.conf.beat_schedule_filename)
        deps = Deps(project, store, dispatch=CeleryDispatcher(app))
        names = pipeline_names(config)
        rng.shuffle(names)
        outcome.periods = len(names)

        fleet = Fleet(stack, workdir, env)
        fleet.start_all()
        wait_until(fleet.all_ready, 120, "every worker and Beat to start")
        wait_until(lambda: len(store.list_pipelines()) == len(names), 60, "the pipelines to be registered")
        log(f"chaos: {len(names)} pipelines, seed {config.seed}, zone {zone}, workdir {workdir}")

        started = time.monotonic()
        pusher = Pusher(deps, names, config.push_seconds)
        killer = Killer(fleet, rng, config.kill_every, started)
        pusher.start()
        killer.start()
        sleep_until(started + config.redis_crash_at * config.push_seconds)
        outcome.redis_down_seconds = round(server.crash_and_restart(), 2)
        outcome.redis_restarts = 1
        log(f"chaos: t={time.monotonic() - started:.0f}s redis SIGKILLed and restarted "
            f"({outcome.redis_down_seconds}s down)")
        sleep_until(started + config.outage_at * config.push_seconds)
        cut = time.monotonic()
        relay.cut()
        log(f"chaos: t={cut - started:.0f}s broker unreachable for {config.outage_seconds:.0f}s")
        sleep_until(cut + config.outage_seconds)
        relay.restore()
        outcome.broker_outage_seconds = round(time.monotonic() - cut, 1)
        pusher.join(config.push_seconds + 120)
        if pusher.error is not None:
            raise pusher.error
        outcome.pushes = pusher.pushed
        sleep_until(time.monotonic() + config.chaos_tail)
        killer.stop.set()
        killer.join(60)
        if killer.error is not None:
            raise killer.error
        outcome.kills = len(fleet.kills)
        outcome.kills_by_process = dict(Counter(k.process for k in fleet.kills))
        outcome.kills_main = sum(k.role == "main" for k in fleet.kills)
        outcome.kills_pool_child = outcome.kills - outcome.kills_main
        log(f"chaos: t={time.monotonic() - started:.0f}s faults over ({outcome.kills} kills); settling")

        # Settle: every period terminal, or still TRIGGERING and reported stuck by the watchdog.
        settling = time.monotonic()
        wait_until(lambda: fleet.revive() is not None and fleet.all_ready(), 120, "every worker and Beat to run again")
        try:
            wait_until(lambda: not fleet.revive() and not unsettled(store, workdir, names, zone), config.settle_timeout,
                       "every period to complete or be reported stuck", every=1.0)
        except AssertionError as exc:  # judged below: what did not settle is counted as lost, by name
            log(f"chaos: {exc}")
        outcome.settle_seconds = round(time.monotonic() - settling, 1)
        triggers_before = len(fired_lines(workdir))
        time.sleep(config.quiet_seconds)  # a late duplicate would show up here (checked below, not a timing)
        log(f"chaos: settled in {outcome.settle_seconds}s; {triggers_before} triggers; quiet for "
            f"{config.quiet_seconds:.0f}s")
        fleet.revive()
        outcome.crashes = [f"{c.process} exited {c.returncode} (see {c.log})" for c in fleet.crashes]
        outcome.kill_log = [f"t={k.at}s {k.process} {k.role} pid {k.pid}" for k in fleet.kills]
        outcome.workers_answering = sorted({reply_host(r) for r in app.control.ping(timeout=5.0)})
        # Beat and the schedule worker still reconcile: nothing stays overdue. (Within a deadline: a
        # schedule worker killed inside a pass leaves the reconcile lock to expire, up to 60 s.)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not overdue(store), 120, "the reconcile loop to dispatch what is due", every=1.0)
        outcome.overdue_after_settle = len(overdue(store))
        judge(outcome, store, workdir, names, zone)
    finally:
        if killer is not None:
            killer.stop.set()
        stack.stop()
        if relay is not None:
            relay.stop()
        if store is not None:
            store.close()
        if beat_state is not None:  # Beat's bookkeeping file(s), outside the work folder
            for leftover in beat_state.parent.glob(beat_state.name + "*"):
                leftover.unlink(missing_ok=True)
    outcome.wall_seconds = round(time.monotonic() - wall, 1)
    return outcome


def overdue(store: RedisStore) -> list[Any]:
    return store.due(datetime.now(UTC) - timedelta(seconds=5), 1000)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def reply_host(reply: dict[str, Any]) -> str:
    """``interlock-run_check-ab12cd@host`` -> ``run_check`` (the queue a worker consumes)."""
    name = next(iter(reply)).split("@", 1)[0]
    return name.removeprefix("interlock-").rsplit("-", 1)[0]


def period_now(zone: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(zone)).date().isoformat()


def _stuck_runs(workdir: Path) -> set[str]:
    return {a["details"]["runId"] for a in read_alerts(workdir) if a.get("alertType") == "stuck_run"}


@dataclass
class PeriodState:
    status: RunStatus | None
    run_id: str | None
    attempt: int


def state_of(store: RedisStore, name: str, period: str) -> PeriodState:
    """The period's latest run: from its run log, else from the run index (a run claimed before the
    worker could write its run log has no log)."""
    entry = store.get_run_log(name, period, SCHEDULE)
    if entry is not None:
        return PeriodState(entry.status, entry.run_id, entry.attempt_number)
    runs = [r for r in store.list_runs(name) if r.metadata.get("period") == period]
    if not runs:
        return PeriodState(None, None, 0)
    run = max(runs, key=lambda r: int(r.metadata.get("attempt", 1)))
    return PeriodState(run.status, run.run_id, int(run.metadata.get("attempt", 1)))


def _settled(state: PeriodState, stuck: set[str]) -> bool:
    if state.status is RunStatus.COMPLETED:
        return True
    if state.status is RunStatus.FAILED:
        return state.attempt >= FLAKY_ATTEMPTS
    return state.status is RunStatus.TRIGGERING and state.run_id in stuck


def unsettled(store: RedisStore, workdir: Path, names: list[str], zone: str) -> list[str]:
    period, stuck = period_now(zone), _stuck_runs(workdir)
    return [name for name in names if not _settled(state_of(store, name, period), stuck)]


def judge(outcome: Outcome, store: RedisStore, workdir: Path, names: list[str], zone: str) -> None:
    """Count triggers at the target, duplicates, lost and stuck runs, and repeated alerts."""
    period = period_now(zone)
    lines = fired_lines(workdir)
    outcome.triggers_counted = len(lines)
    for (_, day, run_id), n in sorted(Counter(lines).items()):
        if n > 1:  # one job started twice for one run (one claim)
            outcome.duplicates += n - 1
            outcome.duplicate_details.append(f"{run_id}: {n} triggers")
        if day != period:
            outcome.duplicates += n
            outcome.duplicate_details.append(f"{run_id}: fired for a period nobody pushed")
    runs_per_period: dict[tuple[str, str], set[str]] = {}
    for pipeline, day, run_id in lines:
        runs_per_period.setdefault((pipeline, day), set()).add(run_id)
    for (pipeline, day), run_ids in sorted(runs_per_period.items()):
        allowed = FLAKY_ATTEMPTS if pipeline.startswith("flaky-") else 1
        if len(run_ids) > allowed:  # more attempts than the retry policy allows: a second run for the period
            outcome.duplicates += len(run_ids) - allowed
            outcome.duplicate_details.append(f"{pipeline} {day}: runs {sorted(run_ids)}, at most {allowed} allowed")
    alerts = read_alerts(workdir)
    outcome.alerts = len(alerts)
    keys = Counter((a.get("alertType"), a.get("pipelineId"), (a.get("details") or {}).get("runId"),
                    (a.get("details") or {}).get("period"), (a.get("details") or {}).get("status")) for a in alerts)
    for key, n in keys.items():
        if n > 1:
            outcome.alerts_duplicated += n - 1
            outcome.alert_duplicate_details.append(f"{key}: delivered {n} times")
    stuck = _stuck_runs(workdir)
    exhausted = {a.get("pipelineId") for a in alerts if a.get("alertType") == "retry_exhausted"}
    for name in names:
        state = state_of(store, name, period)
        ran = state.run_id in runs_per_period.get((name, period), set())
        if state.status is RunStatus.COMPLETED and ran:
            outcome.completed += 1
        elif state.status is RunStatus.FAILED and name.startswith("flaky-") and \
                state.attempt >= FLAKY_ATTEMPTS and ran:
            outcome.failed_as_expected += 1
            outcome.exhausted_alerts_missing += name not in exhausted
        elif state.status is RunStatus.TRIGGERING and state.run_id in stuck:
            outcome.stuck_reported += 1
            outcome.stuck_reported_job_ran += ran
            outcome.stuck_details.append(f"{state.run_id} (job {'ran' if ran else 'not started'})")
        else:
            outcome.lost += 1
            what = state.status.value if state.status else "no run"
            outcome.lost_details.append(f"{name} {period}: {what} attempt {state.attempt}, "
                                        f"{'job ran' if ran else 'no trigger at the target'}")


ROWS = [
    ("pipeline periods", "periods"), ("markers pushed", "pushes"), ("SIGKILLs sent", "kills"),
    ("  of a main process (restarted)", "kills_main"), ("  of a pool child", "kills_pool_child"),
    ("Redis restarts (SIGKILL + AOF)", "redis_restarts"), ("Redis down (s)", "redis_down_seconds"),
    ("broker outage (s)", "broker_outage_seconds"), ("triggers counted at target", "triggers_counted"),
    ("periods COMPLETED", "completed"), ("flaky periods FAILED + alerted", "failed_as_expected"),
    ("duplicates", "duplicates"), ("lost", "lost"), ("stuck, reported by watchdog", "stuck_reported"),
    ("  of those, job had started", "stuck_reported_job_ran"), ("alerts delivered", "alerts"),
    ("alerts duplicated", "alerts_duplicated"), ("exhausted alerts missing", "exhausted_alerts_missing"),
    ("settle time after faults (s)", "settle_seconds"), ("wall time (s)", "wall_seconds"),
]


def report(outcome: Outcome) -> str:
    """The figures as a table, then whatever went wrong, by name."""
    figures = outcome.figures()
    lines = [f"{'chaos figure':<36}{'value':>10}", "-" * 46]
    lines += [f"{label:<36}{figures[key]!s:>10}" for label, key in ROWS]
    lines.append(f"{'workers answering ping':<36}{','.join(outcome.workers_answering):>10}")
    lines.append(f"{'processes that exited by themselves':<36}{len(outcome.crashes):>10}")
    for title, details in (("crashes", outcome.crashes), ("duplicates", outcome.duplicate_details),
                           ("lost", outcome.lost_details),
                           ("stuck", outcome.stuck_details), ("alerts duplicated", outcome.alert_duplicate_details)):
        if details:
            lines.append(f"{title}: " + "; ".join(details[:20]))
    return "\n".join(lines)
