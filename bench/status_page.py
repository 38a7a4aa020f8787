"""Operator views at scale: the status page, a page of GET /api/pipelines, and ``interlock status``.

Fills a Redis store with 1 000 / 10 000 / 50 000 pipelines, writing the store's records directly
(configs, the pipeline index and the state index: 1 % failed, 2 % blocked, 1 % running, half
completed, the rest waiting), then times ``GET /`` (in-process ASGI), ``GET /api/pipelines?limit=100``
and ``interlock status --limit 50`` (a real subprocess, so it includes Python's start-up). Baseline
in the same run: the same three against a store with one pipeline.

    python -m bench.status_page
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from fastapi.testclient import TestClient

from bench.common import write_result
from interlock.api.app import create_app
from interlock.config import load_project
from interlock.steps.deps import build_deps
from interlock.store.redis import RedisStore
from interlock.store.status import PipelineStatus, ScheduleState

SIZES = (1, 1_000, 10_000, 50_000)
REPEATS = 7


def state_of(i: int) -> str:
    share = i % 100
    return "failed" if share == 0 else "blocked" if share in (1, 2) else "running" if share == 3 \
        else "completed" if share < 54 else "waiting"


def fill(store: RedisStore, total: int, period: str) -> None:
    now = store.clock.now()
    with store.r.pipeline(transaction=False) as p:
        for i in range(total):
            name, state = f"pipe-{i:05d}", state_of(i)
            since = now - timedelta(minutes=i % 600)
            row = PipelineStatus(name, state, since, {"daily": ScheduleState(period, state)})
            p.set(store.k("pipeline", name), f'{{"name":"{name}","archetype":"a"}}')
            p.sadd(store.k("pipelines"), name)
            p.zadd(store.k("names"), {name: 0})
            p.set(store.k("status", name), row.dump())
            p.zadd(store.k("state", state), {name: 0})
            p.zadd(store.k("statesince", state), {name: int(since.timestamp() * 1000)})
            if i % 5000 == 4999:
                p.execute()
        p.execute()


def timed(call: Any) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1000, 1)


def measure(total: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp())
    prefix = f"interlock-bench-{uuid.uuid4().hex[:8]}:"
    for sub in ("archetypes", "pipelines"):
        (folder / sub).mkdir()
    (folder / "archetypes" / "a.yaml").write_text(
        "name: a\nrequiredTraits:\n  - {type: marker}\nreadinessRule: {type: all-required-pass}\n")
    config = folder / "interlock.yaml"
    config.write_text(f"provider: redis\nredis: {{addr: '127.0.0.1:6379', keyPrefix: '{prefix}'}}\n"
                      "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    store = RedisStore(redis.Redis(decode_responses=True), prefix)
    deps = build_deps(load_project(config, env={}), store=store)
    try:
        fill(store, total, deps.clock.now().strftime("%Y-%m-%d"))
        client = TestClient(create_app(deps))
        page = client.get("/")
        api = client.get("/api/pipelines", params={"limit": 100})
        assert page.status_code == 200 and api.status_code == 200, (page.text[:300], api.text[:300])
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        cli = [sys.executable, "-m", "interlock.cli", "--config", str(config), "status", "--limit", "50"]
        return {
            "pipelines": total,
            "page_ms_p50": timed(lambda: client.get("/")),
            "page_bytes": len(page.content),
            "api_limit100_ms_p50": timed(lambda: client.get("/api/pipelines", params={"limit": 100})),
            "api_limit100_bytes": len(api.content),
            "cli_status_limit50_ms_p50": timed(lambda: subprocess.run(cli, env=env, capture_output=True, check=True)),
        }
    finally:
        store.purge()


def main() -> None:
    figures = [measure(total) for total in SIZES]
    for row in figures:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    print("written to", write_result("status_page", {"baseline_pipelines": 1, "runs": figures}))


if __name__ == "__main__":
    main()
