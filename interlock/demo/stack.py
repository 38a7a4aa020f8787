"""`interlock demo`: a whole local deployment, its pipelines moving through their states live.

It starts (or finds) Redis, one worker per queue, Beat and a fake Airflow on 127.0.0.1; writes
a demo project under its own key prefix; pushes the markers; and shows a table until every
pipeline has settled where it should:

* bronze → silver → gold: a cascade (gold is an Airflow DAG run, polled to success);
* blocked-report: stays NOT_READY and says which trait blocks it and why;
* flaky-export: its command fails, is retried with backoff, and alerts once when exhausted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from interlock.demo.fake_airflow import FakeAirflow
from interlock.steps.registry import queues

# One worker per queue, as docker-compose.yml runs them.
QUEUES = tuple(queues())
EXPECTED = {"bronze": "COMPLETED", "silver": "COMPLETED", "gold": "COMPLETED", "flaky-export": "FAILED",
            "blocked-report": None}

ARCHETYPES = {
    "marked": "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n",
    "downstream": "name: downstream\nrequiredTraits:\n  - {type: upstream-done}\n"
                  "readinessRule: {type: all-required-pass}\n",
    "report": "name: report\nrequiredTraits:\n  - {type: source-file}\n  - {type: ready-marker}\n"
              "readinessRule: {type: all-required-pass}\n",
}
FILE_EVALUATOR = """\
#!/usr/bin/env python3
import json, os, sys
config = json.load(sys.stdin)["config"]
if os.path.exists(config["path"]):
    print(json.dumps({"status": "PASS", "value": {"path": config["path"]}}))
else:
    print(json.dumps({"status": "FAIL", "value": {"path": config["path"]},
                      "reason": config["path"] + " has not arrived"}))
"""


def _command(name: str) -> str:
    return (f"trigger:\n  type: command\n  command:\n    command: \"mkdir -p out && date -u +%FT%TZ >> out/{name}\"\n"
            "    shell: true\n")


def pipelines(airflow_url: str) -> dict[str, str]:
    up = "    evaluator: builtin:upstream-job-log\n    config: {{upstreamPipeline: {}}}\n"
    return {
        "bronze": "archetype: marked\n" + _command("bronze"),
        "silver": "archetype: downstream\ntraits:\n  upstream-done:\n" + up.format("bronze") + _command("silver"),
        "gold": "archetype: downstream\ntraits:\n  upstream-done:\n" + up.format("silver")
                + f"trigger:\n  type: airflow\n  pollInterval: 1s\n  airflow: {{url: '{airflow_url}', dag_id: gold, "
                  "username: demo, password: demo}\n",
        "blocked-report": "archetype: report\ntraits:\n  source-file:\n    evaluator: file-exists\n"
                          "    config: {path: data/finance-extract.csv}\n" + _command("blocked-report"),
        "flaky-export": "archetype: marked\ntrigger:\n  type: command\n  command:\n"
                        "    command: \"sh -c 'echo upstream API refused the export >&2; exit 1'\"\n"
                        "retry: {maxAttempts: 3, backoffSeconds: 2, backoffMultiplier: 1.5}\n",
    }


def write_project(root: Path, redis_url: str, prefix: str, airflow_url: str) -> Path:
    for folder in ("archetypes", "pipelines", "evaluators", "data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    (root / "interlock.yaml").write_text(
        "# Written by `interlock demo`.\nprovider: redis\n"
        f"redis: {{addr: \"{host_port}\", keyPrefix: \"{prefix}\"}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\nevaluatorDirs: [./evaluators]\n"
        "alerts:\n  - {type: file, path: alerts.jsonl}\n"
        "watcher: {defaultInterval: 2s, reconcileInterval: 500ms}\n")
    for name, text in ARCHETYPES.items():
        (root / "archetypes" / f"{name}.yaml").write_text(text)
    for name, text in pipelines(airflow_url).items():
        (root / "pipelines" / f"{name}.yaml").write_text(f"name: {name}\n{text}")
    evaluator = root / "evaluators" / "file-exists"
    evaluator.write_text(FILE_EVALUATOR)
    evaluator.chmod(0o755)
    return root / "interlock.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NoRedis(RuntimeError):
    pass


@dataclass
class Stack:
    """Processes the demo started; stopped (process group and all) on exit."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.processes:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


def find_redis(stack: Stack, workdir: Path) -> str:
    """A Redis URL that answers: $INTERLOCK_REDIS_URL, 127.0.0.1:6379, or one we start."""
    candidates = [os.environ["INTERLOCK_REDIS_URL"]] if os.environ.get("INTERLOCK_REDIS_URL") else []
    candidates.append("redis://127.0.0.1:6379/0")
    for url in candidates:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return url
    server = shutil.which("redis-server")
    if server is None:
        raise NoRedis("no Redis answers at 127.0.0.1:6379 and redis-server is not installed: start one "
                      "(e.g. `docker run -p 6379:6379 redis:7` or `apt-get install redis-server`) or set "
                      "INTERLOCK_REDIS_URL, then run `interlock demo` again")
    port = free_port()
    stack.start([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                workdir / "redis.log", dict(os.environ), workdir)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return url
        time.sleep(0.1)
    raise NoRedis(f"started redis-server on port {port} but it does not answer; see {workdir / 'redis.log'}")


@contextlib.contextmanager
def running_stack(workdir: Path) -> Iterator[tuple[Stack, Path, str]]:
    """Start Redis (if needed), the fake Airflow, workers and Beat; yield (stack, config, prefix)."""
    stack = Stack()
    airflow = FakeAirflow().start()
    prefix = f"interlock-demo-{uuid.uuid4().hex[:8]}:"
    try:
        redis_url = find_redis(stack, workdir)
        config = write_project(workdir, redis_url, prefix, airflow.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env.update({"INTERLOCK_CONFIG": str(config), "INTERLOCK_REDIS_URL": redis_url})
        cli = [sys.executable, "-m", "interlock.cli"]
        for queue in QUEUES:
            stack.start([*cli, "worker", "--queues", queue, "--concurrency", "1"], workdir / f"worker-{queue}.log",
                        env, workdir)
        stack.start([*cli, "beat"], workdir / "beat.log", env, workdir)
        yield stack, config, prefix
    finally:
        stack.stop()
        airflow.stop()


def default_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="interlock-demo-"))
