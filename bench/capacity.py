"""Capacity: how many pipelines one 2-core machine can watch at a 30 s interval, and what they cost.

For each size N (default 1 000 and 10 000) on a private ``redis-server`` started on a free port
(flushed between sizes, so INFO memory counts only this project):

* Redis ``used_memory`` empty, after registering N generated pipelines (two traits each, builtin
  sensor evaluators, a command trigger) and after one evaluation round of every pipeline (trait
  results, readiness cache, events, change feed; one sensor reading per pipeline written first);
* one real Celery worker for the evaluation queue with one pool process (``-c 1``), sent one
  ``interlock.advance`` per pipeline: evaluations per second of wall time, and per CPU-second of
  the worker's processes (= per core: the pool process is single-threaded);
* the worker's RSS (its main process and its pool process) after the round;
* Redis's own CPU per evaluation (INFO cpu), so the machine-level capacity counts both:
  ``pipelines at 30 s = 2 cores * 30 s / (worker CPU + Redis CPU per evaluation)``.

Each pipeline's ``volume`` trait passes (its sensor says 10 rows) and its ``quality`` trait fails
(no ``score`` sensor), so every evaluation ends NOT_READY and triggers nothing: the steady state
of a watched pipeline waiting for its data. Baseline in the same run: a bare Redis PING round trip
(the per-command floor) and the server's memory with nothing registered.

    python -m bench.capacity [--sizes 1000,10000] [--sample K]

``--sample K`` evaluates only the first K pipelines of each size (memory after the round is then
per evaluated pipeline, registration memory still covers all N).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from bench.common import write_result
from bench.throughput import rss_mb
from interlock.config import load_project
from interlock.steps.deps import register_project_pipelines
from interlock.store.base import SensorReading
from interlock.store.redis import RedisStore
from workers.config import FAST, celery_config

INTERVAL_S = 30
CORES = 2
EVALUATIONS = "interlock_evaluations_total"
ARCHETYPE = ("name: watched\nrequiredTraits:\n  - {type: volume}\n  - {type: quality}\n"
             "readinessRule: {type: all-required-pass}\n")
PIPELINE = ("name: {name}\narchetype: watched\ntraits:\n"
            "  volume:\n    evaluator: builtin:sensor-threshold\n    config: {{sensorType: rows, min: 1}}\n"
            "  quality:\n    evaluator: builtin:sensor-threshold\n    config: {{sensorType: score, min: 1}}\n"
            "trigger: {{type: command, command: 'true'}}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private redis-server (no persistence) on a free port; returns it and its port."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    client = redis.Redis(port=port)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            return server, port
        except redis.ConnectionError:
            if time.time() > deadline:
                server.kill()
                raise
            time.sleep(0.05)


def project(root: Path, port: int, count: int) -> Path:
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True)
    (root / "archetypes" / "watched.yaml").write_text(ARCHETYPE)
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '127.0.0.1:{port}', keyPrefix: 'cap:'}}\narchetypeDirs: [./archetypes]\n"
        "pipelineDirs: [./pipelines]\nwatcher: {defaultInterval: 30s, reconcileInterval: 5s}\nalerts: []\n")
    for i in range(count):
        (root / "pipelines" / f"p{i}.yaml").write_text(PIPELINE.format(name=f"p{i}"))
    return root / "interlock.yaml"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children still running (a worker and its pool)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            pids.extend(int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def pool_pids(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def evaluations(store: RedisStore) -> int:
    return int(sum(v for k, v in store.counts().items() if k.startswith(EVALUATIONS)))


def wait_idle(pid: int, quiet: float = 1.0, timeout: float = 600) -> None:
    """Until the worker's processes use (almost) no CPU for ``quiet`` seconds: its start-up is over."""
    deadline = time.time() + timeout
    last = cpu_seconds(pid)
    while time.time() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.05 * quiet:
            return
        last = now


def bytes_per_event(client: redis.Redis, stream: str, copies: int = 2_000) -> float:
    """Redis memory one more entry takes in a long per-pipeline event stream (a copy of a real one)."""
    entries: list[dict[Any, Any]] = [dict(fields) for _, fields in client.xrange(stream, count=3) or [] if fields]
    if not entries:
        return 0.0
    scratch = f"{stream}:capacity-scratch"
    with client.pipeline(transaction=False) as p:
        for i in range(copies):
            p.xadd(scratch, entries[i % len(entries)])
        p.execute()
    try:
        return float(client.memory_usage(scratch, samples=0) or 0) / copies
    finally:
        client.delete(scratch)


def measure(count: int, sample: int | None, port: int) -> dict[str, Any]:
    client = redis.Redis(port=port)
    client.flushall()
    root = Path(tempfile.mkdtemp(prefix="interlock-capacity-"))
    evaluated = min(count, sample or count)
    worker: subprocess.Popen[bytes] | None = None
    try:
        empty = int(client.info("memory")["used_memory"])
        config = project(root, port, count)
        start = time.perf_counter()
        loaded = load_project(config, env={})
        load_s = time.perf_counter() - start
        store = RedisStore.from_settings(loaded.settings)
        start = time.perf_counter()
        register_project_pipelines(loaded, store)
        register_s = time.perf_counter() - start
        registered = int(client.info("memory")["used_memory"])
        now = datetime.now(UTC)
        for i in range(evaluated):
            store.put_sensor(SensorReading(f"p{i}", "rows", {"rows": 10}, now))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")},
               "INTERLOCK_CONFIG": str(config)}
        worker = subprocess.Popen([sys.executable, "-m", "interlock.cli", "worker", "-Q", "evaluation", "-c", "1",
                                   "-l", "WARNING"], env=env, cwd=root, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        app = Celery(f"capacity-{uuid.uuid4().hex[:6]}")
        app.conf.update(celery_config(loaded))
        with app.connection_for_write() as conn:  # warm up: the worker consumes and has evaluated once
            app.send_task("interlock.advance", kwargs={"pipeline": "p0", "schedule": "daily"}, queue="evaluation",
                          connection=conn, priority=FAST)
        deadline = time.time() + 600
        while evaluations(store) < 1 and time.time() < deadline:
            time.sleep(0.2)
        wait_idle(worker.pid)  # the worker registers the project itself at start, on a thread
        idle_rss = rss_mb(worker.pid)
        before = evaluations(store)
        cpu_worker, cpu_redis = cpu_seconds(worker.pid), redis_cpu(client)
        start = time.perf_counter()
        with app.connection_for_write() as conn:
            for i in range(evaluated):
                app.send_task("interlock.advance", kwargs={"pipeline": f"p{i}", "schedule": "daily"},
                              queue="evaluation", connection=conn, priority=FAST)
        done = before
        deadline = time.time() + 3600
        while done < before + evaluated and time.time() < deadline:
            time.sleep(0.2)
            done = evaluations(store)
        elapsed = time.perf_counter() - start
        worker_cpu = cpu_seconds(worker.pid) - cpu_worker
        redis_cpu_s = redis_cpu(client) - cpu_redis
        finished = done - before
        rss_total = rss_mb(worker.pid)
        pool = pool_pids(worker.pid)
        rss_pool = round(sum(rss_mb(p) for p in pool), 1)
        after = int(client.info("memory")["used_memory"])
        ping = []
        for _ in range(200):
            t = time.perf_counter()
            client.ping()
            ping.append(time.perf_counter() - t)
        ping.sort()
        per_eval_cpu = (worker_cpu + redis_cpu_s) / max(1, finished)
        # Each round adds the pipeline's events to its stream, which keeps them for the retention window
        # up to event_stream_max entries: in the steady state that cap, not one round, sets the memory.
        last = store.k("events", f"p{evaluated - 1}")  # evaluated once (p0 twice: the warm-up)
        events_per_round = int(client.xlen(last))
        per_event = bytes_per_event(client, last)
        rounds_kept = loaded.settings.retention_ttl.total_seconds() / INTERVAL_S
        kept = min(loaded.settings.event_stream_max, int(events_per_round * rounds_kept))
        per_pipeline_round = (registered - empty) / count + (after - registered) / max(1, finished)
        return {
            "pipelines": count, "evaluated": finished, "load_project_s": round(load_s, 2),
            "register_s": round(register_s, 2),
            "redis_bytes_empty": empty,
            "redis_bytes_per_pipeline_registered": round((registered - empty) / count),
            "redis_bytes_per_pipeline_after_round": round(per_pipeline_round),
            "events_per_evaluation": events_per_round, "redis_bytes_per_stream_event": round(per_event),
            "events_kept_per_pipeline": kept,
            "redis_mb_per_pipeline_steady": round((per_pipeline_round + (kept - events_per_round) * per_event)
                                                  / 2**20, 2),
            "redis_mb_after_round": round(after / 2**20, 1),
            "evaluations_per_s_wall": round(finished / elapsed, 1),
            "evaluations_per_worker_cpu_s": round(finished / worker_cpu, 1) if worker_cpu else None,
            "worker_cpu_ms_per_evaluation": round(worker_cpu / max(1, finished) * 1000, 2),
            "redis_cpu_ms_per_evaluation": round(redis_cpu_s / max(1, finished) * 1000, 3),
            "worker_rss_mb_idle": idle_rss, "worker_rss_mb_after_round": rss_total,
            "worker_pool_process_rss_mb": rss_pool, "worker_main_process_rss_mb": round(rss_total - rss_pool, 1),
            "pipelines_per_2_cores_at_30s": int(CORES * INTERVAL_S / per_eval_cpu),
            "baseline_redis_ping_us_p50": round(ping[len(ping) // 2] * 1e6, 1),
        }
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated pipeline counts")
    parser.add_argument("--sample", type=int, default=None, help="evaluate only this many pipelines per size")
    parser.add_argument("--name", default="capacity", help="results file: bench/results/NAME.json")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: not a comma-separated list of integers: {args.sizes!r}")
    if not sizes or any(s < 1 for s in sizes) or (args.sample is not None and args.sample < 1):
        parser.error("--sizes and --sample must be positive integers")
    folder = Path(tempfile.mkdtemp(prefix="interlock-capacity-redis-"))
    server, port = start_redis(folder)
    rows = []
    try:
        for size in sizes:
            rows.append(measure(size, args.sample, port))
            print(f"{size} pipelines measured", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
        shutil.rmtree(folder, ignore_errors=True)
    head = ("pipelines", "evaluated", "register s", "evals/s wall", "evals/cpu-s", "redis ms/eval",
            "RSS main MB", "RSS pool MB", "B/pipeline reg", "B/pipeline round", "MB/pipeline steady",
            "at 30s on 2 cores")
    print("".join(f"{h:>20}" for h in head))
    for r in rows:
        cells = (r["pipelines"], r["evaluated"], r["register_s"], r["evaluations_per_s_wall"],
                 r["evaluations_per_worker_cpu_s"], r["redis_cpu_ms_per_evaluation"], r["worker_main_process_rss_mb"],
                 r["worker_pool_process_rss_mb"], r["redis_bytes_per_pipeline_registered"],
                 r["redis_bytes_per_pipeline_after_round"], r["redis_mb_per_pipeline_steady"],
                 r["pipelines_per_2_cores_at_30s"])
        print("".join(f"{c!s:>20}" for c in cells))
    figures = {"interval_s": INTERVAL_S, "cores": CORES, "sample": args.sample, "rows": rows}
    print(f"written to {write_result(args.name, figures)}")


if __name__ == "__main__":
    main()
