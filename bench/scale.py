"""Scale: the commands and start-ups of a project of 1 000 / 10 000 / 50 000 pipelines.

Each project is generated (two traits, a command trigger per pipeline) and every figure is shown
next to the same thing on a one-pipeline project measured in the same run (the baseline):

* ``interlock push <one pipeline> marker-a --status PASS`` (its first run writes the project index,
  shown apart as ``push_first``), ``interlock validate``, ``interlock status`` (the default, all
  pipelines);
* a worker (``interlock worker -Q evaluation -c 1``): seconds until Celery says it is ready, and
  until its pipelines are registered, with an empty store (cold) and again after a restart (warm);
* ``interlock serve``: seconds until ``GET /api/health`` answers, on the registered store.

Goals: one-pipeline commands within 1.5x of the baseline at 50 000; worker and API ready within 3 s.

    python -m bench.scale [--sizes 1000,10000,50000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.common import write_result
from interlock.store.redis import RedisStore

SIZES = (1000, 10_000, 50_000)
QUICK = (20,)
ARCHETYPE = ("name: two\nrequiredTraits:\n  - {type: marker-a}\n  - {type: marker-b}\n"
             "readinessRule: {type: all-required-pass}\n")
TIMEOUT = 300


def generate(root: Path, count: int, prefix: str, url: str) -> Path:
    """A project of ``count`` pipelines p00000, p00001, ... on the key prefix ``prefix``."""
    for sub in ("archetypes", "pipelines"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '{host_port}', keyPrefix: '{prefix}'}}\narchetypeDirs: [./archetypes]\n"
        "pipelineDirs: [./pipelines]\nwatcher: {defaultInterval: 1h}\n")
    (root / "archetypes" / "two.yaml").write_text(ARCHETYPE)
    for i in range(count):
        (root / "pipelines" / f"p{i:05d}.yaml").write_text(
            f"name: p{i:05d}\narchetype: two\ntraits:\n  marker-a: {{ttl: 3600}}\n  marker-b: {{ttl: 3600}}\n"
            "trigger:\n  type: command\n  command: 'true'\n")
    return root / "interlock.yaml"


def env_for(config: Path, url: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")},
            "INTERLOCK_CONFIG": str(config), "INTERLOCK_REDIS_URL": url}


CLI = [sys.executable, "-m", "interlock.cli"]
# What a worker logs when its start-up registration ends (workers.context), and the API (steps.deps).
REGISTERED = re.compile(r"registered \d+ pipelines|\d+ pipelines registered")


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"interlock {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return round(elapsed, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_start(env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Seconds until the worker says it is ready, and until it logged its pipelines registered."""
    log = cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "worker", "-Q", "evaluation", "-c", "1", "-l", "INFO"], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ready = registered = None
    try:
        while time.perf_counter() - start < TIMEOUT:
            text = log.read_text(errors="replace")
            if ready is None and " ready." in text:
                ready = time.perf_counter() - start
            if registered is None and REGISTERED.search(text):
                registered = time.perf_counter() - start
            if ready is not None and registered is not None:
                break
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited: {text[-800:]}")
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    if ready is None or registered is None:
        raise SystemExit("the worker was not ready and registered in time")
    return {"ready_s": round(ready, 3), "registered_s": round(registered, 3)}


def serve_start(env: dict[str, str], cwd: Path) -> float:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.perf_counter() - start < TIMEOUT:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    return round(time.perf_counter() - start, 3)
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit("interlock serve exited")
            time.sleep(0.02)
        raise SystemExit("interlock serve did not answer in time")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def measure(count: int, url: str, work: Path) -> dict[str, Any]:
    prefix = f"interlock-bench-scale-{uuid.uuid4().hex[:8]}:"
    root = work / f"p{count}"
    started = time.perf_counter()
    config = generate(root, count, prefix, url)
    print(f"  {count} pipelines generated ({time.perf_counter() - started:.1f} s)", flush=True)
    env = env_for(config, url)
    try:
        figures: dict[str, Any] = {"pipelines": count}
        figures["worker_cold"] = worker_start(env, root)  # the first start: nothing registered, no index
        figures["worker_warm"] = worker_start(env, root)
        figures["serve_answering_s"] = serve_start(env, root)
        figures["push_first_s"] = timed(["push", "p00000", "marker-a", "--status", "PASS"], env, root)
        figures["push_s"] = min(timed(["push", "p00000", "marker-a", "--status", "PASS"], env, root)
                                for _ in range(3))
        figures["validate_s"] = timed(["validate"], env, root)
        figures["status_s"] = timed(["status"], env, root)
        return figures
    finally:
        store = RedisStore(redis.Redis.from_url(url), prefix)
        store.purge()  # every key of this size's project: store, broker queues, results
        store.close()
        shutil.rmtree(root, ignore_errors=True)


def compare(figures: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    ratios = {}
    for key in ("push_s", "validate_s", "status_s", "serve_answering_s"):
        ratios[key] = round(figures[key] / base[key], 2) if base[key] else None
    ratios["worker_warm_ready_s"] = round(figures["worker_warm"]["ready_s"] / base["worker_warm"]["ready_s"], 2)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="comma-separated project sizes (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help=f"a smoke test: sizes {QUICK}")
    parser.add_argument("--out", default="scale", help="result name under bench/results/ (default: scale)")
    args = parser.parse_args()
    sizes = list(QUICK) if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    url = os.environ.get("INTERLOCK_REDIS_URL", "redis://127.0.0.1:6379/0")
    work = Path(tempfile.mkdtemp(prefix="interlock-bench-scale-"))
    try:
        print("baseline: a one-pipeline project", flush=True)
        base = measure(1, url, work)
        results = []
        for count in sizes:
            print(f"{count} pipelines", flush=True)
            figures = measure(count, url, work)
            figures["vs_one_pipeline"] = compare(figures, base)
            results.append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = (f"{'pipelines':>9} {'push':>7} {'(first)':>8} {'validate':>9} {'status':>7} {'serve':>6} "
              f"{'worker ready/registered cold':>29} {'warm':>13}")
    print(header)
    for row in [base, *results]:
        print(f"{row['pipelines']:>9} {row['push_s']:>7.2f} {row['push_first_s']:>8.2f} {row['validate_s']:>9.2f} "
              f"{row['status_s']:>7.2f} {row['serve_answering_s']:>6.2f} "
              f"{row['worker_cold']['ready_s']:>14.2f} / {row['worker_cold']['registered_s']:<12.2f}"
              f"{row['worker_warm']['ready_s']:>6.2f} / {row['worker_warm']['registered_s']:<6.2f}")
    path = write_result(args.out, {"baseline_one_pipeline": base, "projects": results,
                                   "goals": {"push_vs_one_pipeline_max": 1.5, "worker_and_api_ready_max_s": 3.0}})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
