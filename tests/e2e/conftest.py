"""A whole deployment for end-to-end tests: a project, two real worker processes and Beat.

Short intervals come from the project's configuration (watcher.defaultInterval and
reconcileInterval), not from test-only code paths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from interlock.demo.fake_airflow import FakeAirflow
from interlock.demo.stack import Stack
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

MARKER_ARCHETYPE = """\
name: marked
requiredTraits:
  - {type: ready-marker}
readinessRule: {type: all-required-pass}
"""
FILE_ARCHETYPE = """\
name: file-ready
requiredTraits:
  - {type: file-present}
readinessRule: {type: all-required-pass}
"""
UPSTREAM_ARCHETYPE = """\
name: downstream
requiredTraits:
  - {type: upstream-done}
readinessRule: {type: all-required-pass}
"""
FILE_EVALUATOR = """\
#!/usr/bin/env python3
import json, os, sys
config = json.load(sys.stdin)["config"]
if os.path.exists(config["path"]):
    print(json.dumps({"status": "PASS"}))
else:
    print(json.dumps({"status": "FAIL", "reason": config["path"] + " is not there yet"}))
"""


def fired(name: str) -> str:
    """A command trigger that appends one line per run to fired/<name> (counted at the target)."""
    return f'  type: command\n  command:\n    command: "mkdir -p fired && echo $INTERLOCK_RUN_ID >> fired/{name}"\n' \
           f"    shell: true\n"


@dataclass
class Deployment:
    root: Path
    prefix: str
    store: RedisStore
    target: FakeAirflow
    stack: Stack = field(default_factory=Stack)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "interlock.cli", *args], cwd=self.root, env=self.env(),
                                capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode not in (0, 1):
            raise AssertionError(f"interlock {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env["INTERLOCK_CONFIG"] = str(self.root / "interlock.yaml")
        return env

    def start(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        return self.stack.start([sys.executable, "-m", "interlock.cli", *args], self.root / f"{name}.log",
                                self.env(), self.root)

    def stop(self) -> None:
        self.stack.stop()

    def fired(self, name: str) -> list[str]:
        path = self.root / "fired" / name
        return path.read_text().split() if path.exists() else []

    def alerts(self) -> list[dict[str, Any]]:
        path = self.root / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def run_log_status(self, pipeline: str) -> str | None:
        rows = json.loads(self.cli("status", pipeline, "--json").stdout)
        return rows[0]["status"]


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    target = FakeAirflow().start()
    for folder in ("archetypes", "pipelines", "evaluators", "data"):
        (root / folder).mkdir()
    (root / "interlock.yaml").write_text(f"""\
provider: redis
redis: {{addr: "127.0.0.1:6379", keyPrefix: "{prefix}"}}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
evaluatorDirs: [./evaluators]
alerts:
  - {{type: file, path: alerts.jsonl}}
watcher: {{defaultInterval: 1s, reconcileInterval: 500ms}}
""")
    (root / "archetypes" / "marked.yaml").write_text(MARKER_ARCHETYPE)
    (root / "archetypes" / "file-ready.yaml").write_text(FILE_ARCHETYPE)
    (root / "archetypes" / "downstream.yaml").write_text(UPSTREAM_ARCHETYPE)
    evaluator = root / "evaluators" / "file-exists"
    evaluator.write_text(FILE_EVALUATOR)
    evaluator.chmod(0o755)
    pipelines = {
        "happy": "archetype: marked\ntrigger:\n" + fired("happy"),
        "race": "archetype: marked\ntrigger:\n" + fired("race"),
        "blocked": "archetype: file-ready\ntraits:\n  file-present:\n    evaluator: file-exists\n"
                   "    config: {path: data/ready-flag}\ntrigger:\n" + fired("blocked"),
        "failing": "archetype: marked\ntrigger:\n  type: command\n  command: {command: 'false'}\n"
                   "retry: {maxAttempts: 3, backoffSeconds: 1, backoffMultiplier: 1}\n",
        "bronze": "archetype: marked\ntrigger:\n" + fired("bronze"),
        "silver": "archetype: downstream\ntraits:\n  upstream-done:\n    evaluator: builtin:upstream-job-log\n"
                  "    config: {upstreamPipeline: bronze}\ntrigger:\n" + fired("silver"),
        "gold": "archetype: downstream\ntraits:\n  upstream-done:\n    evaluator: builtin:upstream-job-log\n"
                "    config: {upstreamPipeline: silver}\ntrigger:\n" + fired("gold"),
        "hook": f"archetype: marked\ntrigger:\n  type: http\n  http: {{url: '{target.url}/start/hook'}}\n",
        "flow": f"archetype: marked\ntrigger:\n  type: airflow\n  pollInterval: 500ms\n"
                f"  airflow: {{url: '{target.url}', dag_id: nightly, username: admin, password: admin}}\n",
        "monitored": "archetype: marked\nwatch:\n  monitoring: {enabled: true, duration: 120s}\ntrigger:\n"
                     + fired("monitored"),
    }
    for name, body in pipelines.items():
        (root / "pipelines" / f"{name}.yaml").write_text(f"name: {name}\n{body}")
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    deployment = Deployment(root, prefix, store, target)
    check = deployment.cli("validate")
    assert check.returncode == 0, check.stderr
    deployment.start("worker", "--concurrency", "2", name="worker-1")
    deployment.start("worker", "--concurrency", "2", name="worker-2")
    deployment.start("beat", name="beat")
    try:
        # Ready when both workers answer and Beat has started reconciling (every pipeline got a due time).
        wait_for(lambda: "ready" in (root / "worker-1.log").read_text()
                 and "ready" in (root / "worker-2.log").read_text(), 60, "workers to start")
        yield deployment
    finally:
        deployment.stop()
        target.stop()
        store.purge()
