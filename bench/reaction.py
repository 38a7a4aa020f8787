"""Reaction time: a trait pushed through the HTTP API -> the trigger firing, through real workers.

Setup: a project with N registered pipelines (default 1 000), each needing one pushed marker and
triggering a command that records the time it started; one worker per lifecycle queue, Beat and
`interlock serve`. For P of them (default 300) the script POSTs PASS to
``/api/pipelines/{p}/traits/ready-marker`` and measures until the command's timestamp. Baseline
in the same run: the raw Celery no-op round trip on the same broker (send a task, wait for its
result).

    python -m bench.reaction [--pipelines 1000] [--pushes 300] [--hanging-sink 30]

``--hanging-sink S``: the project also has a webhook alert sink whose server (here, on 127.0.0.1)
answers each POST after S seconds, and before each measured push another pipeline is pushed FAIL,
so its evaluation raises two alerts (trait_failed, pipeline_blocked) while the measured pushes run.
The alerts go to the ``alerts`` queue's worker (interlock/alerts/outbox.py): the figure shows
whether the sink delays the push -> trigger path.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.common import raw_celery, write_result
from interlock.config import load_project
from interlock.demo.stack import free_port
from interlock.store.redis import RedisStore

ARCHETYPE = "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def floor_sample(app: Any, api: httpx.Client, root: Path, env: dict[str, str], i: int,
                 parts: dict[str, list[float]]) -> None:
    """One floor: one API request + two raw Celery round trips + one spawn of the command (ms each)."""
    start = time.perf_counter()
    assert api.get("/api/health").status_code == 200
    http = time.perf_counter()
    app.send_task("noop").get(timeout=30)
    app.send_task("noop").get(timeout=30)
    celery = time.perf_counter()
    name = f"floor-{i}"
    spawned = time.time()
    subprocess.run(["./stamp"], cwd=root, env={**env, "INTERLOCK_PIPELINE": name}, check=True)
    spawn = (float((root / "stamps" / name).read_text()) - spawned) * 1000
    parts["http"].append((http - start) * 1000)
    parts["celery"].append((celery - http) * 1000 / 2)
    parts["spawn"].append(spawn)
    parts["floor"].append((celery - start) * 1000 + spawn)


def _p(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 0.95), 2),
            "p99": round(percentile(values, 0.99), 2), "max": round(max(values), 2)}


def stage_times(store: RedisStore, pushes: int, root: Path, starts: list[float]) -> dict[str, Any]:
    """Where a push's time goes, p50 per stage, from the timestamps the lifecycle records itself:
    the TRAIT_PUSHED event (API handled it), the READY verdict (evaluation worker), the run's
    creation (trigger worker claimed it) and the command's own timestamp."""
    stages: dict[str, list[float]] = {"request_to_stored": [], "stored_to_ready": [], "ready_to_claimed": [],
                                      "claimed_to_command_ran": []}
    for i in range(pushes):
        name = f"p{i}"
        events = [r.event for r in store.list_events(name, 50)]
        pushed = next(e.timestamp for e in events if e.kind.value == "TRAIT_PUSHED")
        ready = next(e.timestamp for e in events if e.kind.value == "READINESS_CHECKED" and e.status == "READY")
        claimed = store.list_runs(name, 1)[0].created_at
        ran = float((root / "stamps" / name).read_text())
        points = [starts[i], pushed.timestamp(), ready.timestamp(), claimed.timestamp(), ran]
        for key, (a, b) in zip(stages, itertools.pairwise(points), strict=True):
            stages[key].append((b - a) * 1000)
    slowest = max(range(pushes), key=lambda i: sum(values[i] for values in stages.values()))
    return {**{key: round(statistics.median(values), 2) for key, values in stages.items()},
            "slowest_push": {"index": slowest, **{key: round(values[slowest], 1) for key, values in stages.items()}}}


def hanging_server(seconds: float) -> tuple[ThreadingHTTPServer, dict[str, int]]:
    """A webhook receiver on 127.0.0.1 that answers every POST after ``seconds``; counts what arrived."""
    seen = {"posts": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            seen["posts"] += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(seconds)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--name", default="reaction", help="results file: bench/results/NAME.json")
    parser.add_argument("--hanging-sink", type=float, default=None, metavar="SECONDS",
                        help="add a webhook alert sink that answers after SECONDS, and raise alerts during the run")
    args = parser.parse_args()
    if args.hanging_sink is not None and args.pipelines < 2 * args.pushes:
        parser.error("--hanging-sink needs --pipelines >= 2 x --pushes (the other half raise the alerts)")
    sink_server, sink_seen = hanging_server(args.hanging_sink) if args.hanging_sink is not None else (None, {})
    url = os.environ.get("INTERLOCK_REDIS_URL", "redis://127.0.0.1:6379/0")
    root = Path(tempfile.mkdtemp(prefix="interlock-bench-"))
    prefix = f"interlock-bench-{uuid.uuid4().hex[:8]}:"
    for folder in ("archetypes", "pipelines", "stamps"):
        (root / folder).mkdir()
    (root / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '{host_port}', keyPrefix: '{prefix}'}}\narchetypeDirs: [./archetypes]\n"
        "pipelineDirs: [./pipelines]\nwatcher: {defaultInterval: 60s, reconcileInterval: 1s}\n"
        + (f"alerts: [{{type: webhook, url: 'http://127.0.0.1:{sink_server.server_address[1]}/hook'}}]\n"
           if sink_server else ""))
    stamp_script = root / "stamp"
    stamp_script.write_text("#!/bin/sh\ndate +%s.%N > stamps/$INTERLOCK_PIPELINE.tmp && "
                            "mv stamps/$INTERLOCK_PIPELINE.tmp stamps/$INTERLOCK_PIPELINE\n")
    stamp_script.chmod(0o755)
    for i in range(args.pipelines):
        (root / "pipelines" / f"p{i}.yaml").write_text(
            f"name: p{i}\narchetype: marked\ntrigger:\n  type: command\n  command: ./stamp\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")},
           "INTERLOCK_CONFIG": str(root / "interlock.yaml"), "INTERLOCK_REDIS_URL": url}
    cli = [sys.executable, "-m", "interlock.cli"]
    procs = [subprocess.Popen([*cli, "worker", "-Q", q, "-c", "1", "-l", "WARNING"], env=env, cwd=root,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for q in ("evaluation", "trigger", "run_check", "schedule", "alerts")]
    procs.append(subprocess.Popen([*cli, "beat", "-l", "WARNING"], env=env, cwd=root, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    port = free_port()
    procs.append(subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=root, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    project = load_project(root / "interlock.yaml", env={"INTERLOCK_REDIS_URL": url})
    store = RedisStore.from_settings(project.settings)
    latencies = []
    api_times = []
    starts: list[float] = []
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        deadline = time.time() + 120
        while time.time() < deadline:  # the API is up and the workers evaluated every pipeline once
            try:
                if api.get("/api/health").status_code == 200 and \
                        len(store.list_pipelines()) == args.pipelines and \
                        not store.due(datetime.now(UTC) + timedelta(seconds=20), 1):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        print(f"{args.pipelines} pipelines registered and evaluated; pushing {args.pushes} markers via the API")
        floor: dict[str, list[float]] = {"http": [], "celery": [], "spawn": [], "floor": []}
        with raw_celery(url) as app:
            for i in range(args.pushes):
                name = f"p{i}"
                if sink_server:  # another pipeline fails: two alerts for the hanging sink, just before this push
                    noisy = f"p{args.pipelines - 1 - i}"
                    answer = api.post(f"/api/pipelines/{noisy}/traits/ready-marker", json={"status": "FAIL"})
                    assert answer.status_code == 201, answer.text
                start = time.time()
                starts.append(start)
                response = api.post(f"/api/pipelines/{name}/traits/ready-marker", json={"status": "PASS"})
                assert response.status_code == 201, response.text
                api_times.append((time.time() - start) * 1000)
                stamp = root / "stamps" / name
                deadline = time.time() + 30
                while not stamp.exists() or not stamp.read_text():
                    if time.time() > deadline:
                        raise SystemExit(f"{name} did not fire within 30 s")
                    time.sleep(0.001)
                latencies.append((float(stamp.read_text()) - start) * 1000)
                floor_sample(app, api, root, env, i, floor)
        stages = stage_times(store, args.pushes, root, starts)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(15)
        store.purge()
        if sink_server:
            sink_server.shutdown()
    figures = {
        "pipelines_registered": args.pipelines,
        "pushes": len(latencies),
        "push_to_trigger_ms": {"p50": round(statistics.median(latencies), 1),
                               "p95": round(percentile(latencies, 0.95), 1),
                               "p99": round(percentile(latencies, 0.99), 1),
                               "max": round(max(latencies), 1)},
        "api_push_response_ms": {"p50": round(statistics.median(api_times), 1),
                                 "p95": round(percentile(api_times, 0.95), 1),
                                 "p99": round(percentile(api_times, 0.99), 1), "max": round(max(api_times), 1)},
        "raw_celery_round_trip_ms": _p(floor["celery"]),
        "api_request_ms": _p(floor["http"]),
        "bare_spawn_ms": _p(floor["spawn"]),
        # One API request + two raw Celery round trips + one spawn, sampled back to back.
        "floor_ms": _p(floor["floor"]),
        "ratio_p50": round(statistics.median(latencies) / statistics.median(floor["floor"]), 3),
        "ratio_p99": round(percentile(latencies, 0.99) / percentile(floor["floor"], 0.99), 3),
        "stages_p50_ms": stages,
        # Where the slowest pushes fell in the sequence (0 = first): tells warm-up from steady state.
        "slowest_push_indices": sorted(range(len(latencies)), key=lambda i: -latencies[i])[:5],
        "hanging_sink_seconds": args.hanging_sink,
        "hanging_sink_posts_received": sink_seen.get("posts"),
        "note": "push_to_trigger ends when the triggered command (a 2-line sh script) has started and "
                "written its timestamp; it includes the push itself, evaluation, claim and fork/exec",
    }
    print(f"{'measure':<30}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    for key in ("push_to_trigger_ms", "api_push_response_ms", "raw_celery_round_trip_ms", "api_request_ms",
                "bare_spawn_ms", "floor_ms"):
        f = figures[key]
        assert isinstance(f, dict)
        print(f"{key:<30}{f['p50']:>10}{f['p95']:>10}{f['p99']:>10}{f['max']:>10}")
    print("where the time goes (p50 ms): " + ", ".join(f"{k} {v}" for k, v in stages.items() if k != "slowest_push"))
    print(f"slowest push, by stage (ms): {stages['slowest_push']}")
    print(f"push / floor: p50 {figures['ratio_p50']}x, p99 {figures['ratio_p99']}x "
          "(goal: p50 <= 1.2x, p99 <= 1.4x)")
    print(f"written to {write_result(args.name, figures)}")


if __name__ == "__main__":
    main()
