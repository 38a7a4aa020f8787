"""A real worker on a Redis of its own survives messages it cannot or must not run: it keeps them as
dead letters with the reason, acknowledges them, runs nothing they ask for, and goes on working;
``interlock dead-letters --requeue`` sends one back once its cause is fixed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from interlock.deadletters import DeadLetters, broker_prefix
from interlock.demo import Stack, free_port

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")]

PIPELINE = """\
name: {name}
archetype: marked
trigger:
  type: command
  command:
    command: "mkdir -p fired && echo $INTERLOCK_RUN_ID >> fired/{name}"
    shell: true
"""


def envelope(body: bytes, task: str, queue: str) -> str:
    """A well-formed kombu/Celery (protocol 2) envelope around ``body``, as the broker stores it."""
    task_id = str(uuid.uuid4())
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"lang": "py", "task": task, "id": task_id, "root_id": task_id, "parent_id": None,
                    "retries": 0, "timelimit": [None, None], "argsrepr": "()", "kwargsrepr": "{}"},
        "properties": {"correlation_id": task_id, "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": queue}, "delivery_tag": str(uuid.uuid4())},
    })


def task_body(**kwargs: Any) -> bytes:
    return json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Worker:
    root: Path
    prefix: str
    redis: redis.Redis
    process: subprocess.Popen[bytes]

    def push(self, queue: str, entry: str | bytes) -> None:
        """Put ``entry`` on ``queue`` as a sender would (kombu pushes on the left, pops on the right)."""
        self.redis.lpush(broker_prefix(self.prefix) + queue, entry)

    def letters(self) -> DeadLetters:
        return DeadLetters(self.redis, self.prefix)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env["INTERLOCK_CONFIG"] = str(self.root / "interlock.yaml")
        return subprocess.run([sys.executable, "-m", "interlock.cli", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    def fired(self, name: str) -> list[str]:
        path = self.root / "fired" / name
        return path.read_text().split() if path.exists() else []

    def log(self) -> str:
        return (self.root / "worker.log").read_text()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("poison")
    stack = Stack()
    port = free_port()
    stack.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                root / "redis.log", dict(os.environ), root)
    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        wait_for(lambda: _pings(client), 10, "redis-server")
        prefix = f"interlock-test-{uuid.uuid4().hex[:8]}:"
        for folder in ("archetypes", "pipelines"):
            (root / folder).mkdir()
        (root / "interlock.yaml").write_text(
            f'provider: redis\nredis: {{addr: "127.0.0.1:{port}", keyPrefix: "{prefix}"}}\n'
            "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
        (root / "archetypes" / "marked.yaml").write_text(
            "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n")
        (root / "pipelines" / "happy.yaml").write_text(PIPELINE.format(name="happy"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
        env["INTERLOCK_CONFIG"] = str(root / "interlock.yaml")
        process = stack.start([sys.executable, "-m", "interlock.cli", "worker", "--concurrency", "1"],
                              root / "worker.log", env, root)
        found = Worker(root, prefix, client, process)
        wait_for(lambda: " ready." in found.log(), 60, "the worker to start")
        yield found
    finally:
        stack.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


POISON = {
    "dict body": ("evaluation", envelope(b'{"a": 1}', "interlock.advance", "evaluation"),
                  "the body is not a task's [args, kwargs, options] (got an object)"),
    "non-JSON body": ("evaluation", envelope(b"\xff\xfe{not json", "interlock.advance", "evaluation"),
                      "the body cannot be decoded"),
    "bare 42": ("evaluation", envelope(b"42", "interlock.advance", "evaluation"), "(got a number)"),
    "unknown task": ("evaluation", envelope(task_body(), "interlock.nope", "evaluation"),
                     "no task is called 'interlock.nope'"),
    "celery built-in": ("evaluation", envelope(task_body(), "celery.backend_cleanup", "evaluation"),
                        "is not an Interlock step"),
    "not an envelope": ("evaluation", "\x00garbage, not an envelope", "a queue entry is not JSON"),
    "entry nested too deep": ("evaluation", "[" * 100_000, "a queue entry is not JSON: maximum recursion depth"),
    "envelope without properties": ("evaluation", json.dumps({"body": "e30="}), "no 'properties' object"),
    "forged trigger": ("trigger", envelope(task_body(pipeline="happy", schedule="daily", period="not-a-date/../x",
                                                     attempt=-1), "interlock.trigger", "trigger"),
                       "invalid trigger request: period: invalid date 'not-a-date/../x'"),
    "bad eta header": ("evaluation", envelope(task_body(pipeline="happy", schedule="daily"), "interlock.advance",
                                              "evaluation").replace('"retries": 0', '"eta": "garbage", "retries": 0'),
                       "invalid task message: invalid ETA value 'garbage'"),
    "bad timelimit header": ("evaluation", envelope(task_body(pipeline="happy", schedule="daily"),
                                                    "interlock.advance", "evaluation").replace(
                                 '"timelimit": [null, null]', '"timelimit": "abc"'), "bad header timelimit"),
    "chained task": ("evaluation", envelope(json.dumps([[], {"pipeline": "happy", "schedule": "daily"},
                                                        {"chain": [{"task": "celery.backend_cleanup"}]}]).encode(),
                                            "interlock.advance", "evaluation"), "callbacks, a chain or a chord"),
    "compressed": ("evaluation", envelope(b"x", "interlock.advance", "evaluation").replace(
                   '"lang": "py"', '"compression": "application/x-gzip"'), "compressed messages are refused"),
    "wrong argument": ("evaluation", envelope(task_body(pipeline="happy", schedule="daily", force=True),
                                              "interlock.advance", "evaluation"), "force: unexpected argument"),
}


def test_poison_messages_are_dead_lettered_and_the_worker_keeps_working(worker: Worker) -> None:
    pid = worker.process.pid
    for queue, entry, _ in POISON.values():
        worker.push(queue, entry)
    letters = wait_for(lambda: len(worker.letters().list()) >= len(POISON) and worker.letters().list(), 30,
                       "every poison message to be dead-lettered")

    assert worker.process.poll() is None and worker.process.pid == pid
    assert "Unrecoverable error" not in worker.log()
    for name, (queue, _, why) in POISON.items():
        assert any(why in letter.reason and letter.queue == queue for letter in letters), \
            f"{name}: no dead letter from {queue} says {why!r}: {[x.reason for x in letters]}"
    forged = next(letter for letter in letters if "not-a-date" in letter.reason)
    assert forged.task == "interlock.trigger"
    assert "attempt: must be greater than or equal to 1 (got -1)" in forged.reason
    # Acknowledged, not waiting to be redelivered: the queues and kombu's unacked set are empty (the
    # ack of the last one may follow its dead letter by a moment on a busy machine).
    broker = broker_prefix(worker.prefix)
    wait_for(lambda: [worker.redis.llen(broker + q) for q in ("evaluation", "trigger")] == [0, 0]
             and worker.redis.hlen(broker + "unacked") == 0, 10, "every poison message to be acknowledged")
    # The forged trigger started nothing and claimed nothing.
    assert worker.fired("happy") == []
    assert not worker.redis.keys(f"{worker.prefix}*not-a-date*")

    # Still consuming: a normal push gets the pipeline triggered once.
    pushed = worker.cli("push", "happy", "ready-marker", "--status", "PASS")
    assert pushed.returncode == 0, pushed.stderr
    assert len(wait_for(lambda: worker.fired("happy"), 30, "the happy pipeline to fire")) == 1
    assert worker.process.poll() is None


def test_the_cli_lists_dead_letters_and_requeues_one_once_its_cause_is_fixed(worker: Worker) -> None:
    # A trigger for a pipeline the store does not know yet: refused, not run.
    (worker.root / "pipelines" / "late.yaml").write_text(PIPELINE.format(name="late"))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    worker.push("trigger", envelope(task_body(pipeline="late", schedule="daily", period=today, attempt=1),
                                    "interlock.trigger", "trigger"))
    letter = wait_for(lambda: next((x for x in worker.letters().list() if "'late'" in x.reason), None), 30,
                      "the trigger for the unknown pipeline to be dead-lettered")
    assert letter.reason == "invalid trigger request: pipeline: unknown pipeline 'late'"

    listed = worker.cli("dead-letters", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows[0]["id"] == letter.id  # newest first
    assert {"id", "queue", "at", "reason", "preview"} <= set(rows[0]) and "raw" not in rows[0]
    assert '"pipeline": "late"' in rows[0]["preview"]
    table = worker.cli("dead-letters")
    assert table.returncode == 0 and letter.id in table.stdout and "interlock.trigger" in table.stdout

    assert worker.cli("status", "late").returncode in (0, 1)  # any command registers the project's pipelines
    requeued = worker.cli("dead-letters", "--requeue", letter.id)
    assert requeued.returncode == 0, requeued.stderr
    assert f"requeued dead letter {letter.id} onto queue trigger" in requeued.stdout
    assert wait_for(lambda: worker.fired("late"), 30, "the requeued trigger to run") == [f"late-daily-{today}-1"]
    assert worker.letters().get(letter.id) is None

    again = worker.cli("dead-letters", "--requeue", letter.id)
    assert again.returncode == 2 and f"no dead letter '{letter.id}'" in again.stderr
    assert worker.cli("dead-letters", "--delete", "nope").returncode == 2
    assert worker.cli("dead-letters", "--requeue", "a", "--purge").returncode == 2


def test_delete_and_purge_remove_dead_letters(worker: Worker) -> None:
    letters = worker.letters()
    one = letters.add(b"x", "evaluation", "test")
    assert worker.cli("dead-letters", "--delete", one.id).returncode == 0
    assert letters.get(one.id) is None
    letters.add(b"y", "evaluation", "test")
    purged = worker.cli("dead-letters", "--purge", "--json")
    assert purged.returncode == 0 and json.loads(purged.stdout)["purged"] >= 1
    assert letters.list() == []
    assert worker.cli("dead-letters").stdout.strip() == "No dead letters."
