"""Throughput and memory: full evaluate -> trigger -> complete cycles per second across worker
processes (builtin evaluators, a command trigger), next to raw Celery no-op throughput on the same
broker in the same run; and the RSS of one worker per queue, idle and under that load.

    python -m bench.throughput [--pipelines 300]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from celery import Celery

from bench.common import raw_celery, write_result
from interlock.config import load_project
from interlock.model import RunStatus
from interlock.steps.registry import queues
from interlock.store.base import SensorReading
from interlock.store.redis import RedisStore
from workers.config import FAST, celery_config

QUEUES = tuple(queues())
ARCHETYPE = "name: sensed\nrequiredTraits:\n  - {type: volume}\nreadinessRule: {type: all-required-pass}\n"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (a prefork worker is several processes)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return round(total / 1024, 1)


def redis_commands(url: str) -> dict[str, int]:
    """Commands the Redis server has executed so far, by command (INFO commandstats), all clients."""
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def raw_throughput(url: str, tasks: int) -> float:
    with raw_celery(url, concurrency=2) as app:
        start = time.perf_counter()
        results = [app.send_task("noop") for _ in range(tasks)]
        for r in results:
            r.get(timeout=120)
        return tasks / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipelines", type=int, default=300)
    args = parser.parse_args()
    url = os.environ.get("INTERLOCK_REDIS_URL", "redis://127.0.0.1:6379/0")
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    prefix = f"interlock-bench-{uuid.uuid4().hex[:8]}:"
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir()
    (root / "archetypes" / "sensed.yaml").write_text(ARCHETYPE)
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '{host_port}', keyPrefix: '{prefix}'}}\narchetypeDirs: [./archetypes]\n"
        "pipelineDirs: [./pipelines]\nwatcher: {defaultInterval: 600s, reconcileInterval: 1s}\nalerts: []\n")
    for i in range(args.pipelines):
        (root / "pipelines" / f"p{i}.yaml").write_text(
            f"name: p{i}\narchetype: sensed\ntraits:\n  volume:\n    evaluator: builtin:sensor-threshold\n"
            "    config: {sensorType: rows, min: 1}\ntrigger: {type: command, command: 'true'}\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")},
           "INTERLOCK_CONFIG": str(root / "interlock.yaml"), "INTERLOCK_REDIS_URL": url}
    cli = [sys.executable, "-m", "interlock.cli"]
    workers = {q: subprocess.Popen([*cli, "worker", "-Q", q, "-c", "2" if q in ("evaluation", "trigger") else "1",
                                    "-l", "WARNING"], env=env, cwd=root, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for q in QUEUES}
    project = load_project(root / "interlock.yaml", env={"INTERLOCK_REDIS_URL": url})
    store = RedisStore.from_settings(project.settings)
    try:
        deadline = time.time() + 120
        while len(store.list_pipelines()) < args.pipelines and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        idle = {q: rss_mb(p.pid) for q, p in workers.items()}
        for i in range(args.pipelines):  # every pipeline's sensor now says READY
            store.put_sensor(SensorReading(f"p{i}", "rows", {"rows": 10}, datetime.now(UTC)))
        app = Celery("bench")
        app.conf.update(celery_config(project))
        peak: dict[str, float] = dict.fromkeys(QUEUES, 0.0)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                for q, p in workers.items():
                    peak[q] = max(peak[q], rss_mb(p.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        commands_before = redis_commands(url)
        start = time.perf_counter()
        with app.connection_for_write() as conn:
            for i in range(args.pipelines):
                app.send_task("interlock.advance", kwargs={"pipeline": f"p{i}", "schedule": "daily"},
                              queue="evaluation", connection=conn, priority=FAST)
        today = datetime.now(UTC).date().isoformat()
        # Poll only the runs not yet seen COMPLETED, so the bench's own reads stay a small share
        # of the load (and of the Redis command count) it measures.
        waiting = {f"p{i}" for i in range(args.pipelines)}
        while waiting and time.perf_counter() - start < 300:
            waiting = {p for p in waiting
                       if not ((e := store.get_run_log(p, today, "daily")) and e.status is RunStatus.COMPLETED)}
            if waiting:
                time.sleep(0.25)
        completed = args.pipelines - len(waiting)
        elapsed = time.perf_counter() - start
        after = redis_commands(url)
        commands = {c: n - commands_before.get(c, 0) for c, n in after.items() if n > commands_before.get(c, 0)}
        done.set()
        raw = raw_throughput(url, 500)
    finally:
        for p in workers.values():
            os.killpg(p.pid, signal.SIGTERM)
        for p in workers.values():
            p.wait(20)
        store.purge()
    cycles = completed / elapsed
    figures = {
        "pipelines": args.pipelines, "completed": completed,
        "cycles_per_s": round(cycles, 1), "raw_celery_noop_tasks_per_s": round(raw, 1),
        "cycles_vs_raw": round(cycles / raw, 3),
        # Every client of the server counts (the workers, Beat, the bench's own progress polling),
        # so this is an upper bound on what one cycle costs in round trips.
        "redis_commands_per_cycle": round(sum(commands.values()) / max(completed, 1), 1),
        "redis_commands_per_cycle_by_command": {c: round(n / max(completed, 1), 1) for c, n in
                                                sorted(commands.items(), key=lambda item: -item[1])},
        "note": "a cycle is two tasks (advance + trigger), an evaluation, a claim and a fork/exec of `true`",
        "rss_mb_idle": idle, "rss_mb_under_load_peak": peak,
    }
    print(f"{'cycles/s':<32}{figures['cycles_per_s']:>10}")
    print(f"{'raw celery no-op tasks/s':<32}{figures['raw_celery_noop_tasks_per_s']:>10}")
    print(f"{'cycles vs raw':<32}{figures['cycles_vs_raw']:>10}")
    print(f"{'redis commands per cycle':<32}{figures['redis_commands_per_cycle']:>10}")
    print(f"{'worker':<14}{'idle MB':>10}{'peak MB':>10}")
    for q in QUEUES:
        print(f"{q:<14}{idle[q]:>10}{peak[q]:>10}")
    print(f"written to {write_result('throughput', figures)}")


if __name__ == "__main__":
    main()
