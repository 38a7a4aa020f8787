"""Redis commands per reaction cycle: push -> evaluate (advance) -> trigger -> complete.

The cycle bench.reaction times, step by step, against a redis-server of its own (so nothing else
adds to its counters): a pipeline with one pushed marker and a synchronous command trigger,
pushed as the API does (``record_push`` + ``request_advance``), then the advance step and the
trigger step run as a worker runs them (``run_step``, latency metrics included). The broker's
traffic is not counted (the next step is only recorded, not sent).

Three figures per step:

* ``round_trips``: requests the client sent and waited for (a pipeline or a script is one);
* ``client_commands``: commands the client sent (each command of a pipeline, a script call as one);
* ``server_commands``: commands Redis executed, those run inside Lua scripts included
  (``INFO commandstats``), with the breakdown by command.

Counting is deterministic, so tests/store/test_command_budget.py bounds it.

    python -m bench.redis_commands
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from interlock.config import load_project
from interlock.demo.stack import free_port
from interlock.steps import epoch
from interlock.steps.deps import Deps, build_deps, register_project_pipelines
from interlock.steps.dispatch import RecordingDispatcher, request_advance
from interlock.steps.push import PushRequest, record_push
from interlock.steps.registry import run_step
from interlock.store.redis import RedisStore

STEPS = ("push", "advance", "trigger")
ARCHETYPE = "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n"
CONFIG = ("provider: redis\nredis: {{addr: '127.0.0.1:{port}', keyPrefix: 'cycle:'}}\narchetypeDirs: [./archetypes]\n"
          "pipelineDirs: [./pipelines]\n")


class CountingConnection(redis.Connection):
    """A connection that counts what it sends: one ``send_packed_command`` is one round trip."""

    round_trips = 0
    commands = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        super().send_packed_command(command, check_health)

    def pack_commands(self, commands: Any) -> Any:  # a pipeline (MULTI/EXEC included)
        CountingConnection.commands += len(commands)
        return super().pack_commands(commands)

    def send_command(self, *args: Any, **kwargs: Any) -> None:  # one command
        CountingConnection.commands += 1
        super().send_command(*args, **kwargs)


@dataclass
class Count:
    round_trips: int = 0
    client_commands: int = 0
    server_commands: int = 0
    by_command: dict[str, int] = field(default_factory=dict)


@contextmanager
def private_redis() -> Iterator[int]:
    """A redis-server on a free port, no persistence, for this measurement alone."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="interlock-cmds-")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL)
    try:
        probe = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        probe.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _commandstats(admin: redis.Redis) -> Counter[str]:
    stats = cast(dict[str, dict[str, Any]], admin.info("commandstats"))
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


@contextmanager
def counting(admin: redis.Redis, into: Count) -> Iterator[None]:
    before = _commandstats(admin)
    trips, commands = CountingConnection.round_trips, CountingConnection.commands
    yield
    after = _commandstats(admin)
    into.round_trips += CountingConnection.round_trips - trips
    into.client_commands += CountingConnection.commands - commands
    # The INFO asking for the counters is the admin connection's, not the cycle's.
    diff = {name: n for name, n in (after - before).items() if name not in ("info",)}
    into.server_commands += sum(diff.values())
    for name, n in diff.items():
        into.by_command[name] = into.by_command.get(name, 0) + n


def _project(root: Path, port: int, pipelines: int) -> Path:
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "archetypes" / "marked.yaml").write_text(ARCHETYPE)
    for i in range(pipelines):
        (root / "pipelines" / f"p{i}.yaml").write_text(
            f"name: p{i}\narchetype: marked\ntrigger:\n  type: command\n  command: 'true'\n")
    (root / "interlock.yaml").write_text(CONFIG.format(port=port))
    return root / "interlock.yaml"


def _deps(config: Path, port: int) -> Deps:
    project = load_project(config, env={})
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, decode_responses=True,
                                connection_class=CountingConnection)
    store = RedisStore(redis.Redis(connection_pool=pool), project.settings.key_prefix)
    return build_deps(project, RecordingDispatcher(), store=store)


def cycle(deps: Deps, admin: redis.Redis, name: str) -> dict[str, Count]:
    """One push -> advance -> trigger of pipeline ``name``, counted per step."""
    counts = {step: Count() for step in STEPS}
    dispatch = cast(RecordingDispatcher, deps.dispatch)
    dispatch.sent.clear()
    run_step(deps, "advance", pipeline=name, schedule="daily")  # as the bench: looked at once (NOT_READY)
    dispatch.sent.clear()
    with counting(admin, counts["push"]):  # what the API's push route does
        config = deps.pipeline(name)
        with deps.store.batch():
            record_push(deps, name, "ready-marker", PushRequest(status="PASS"), config=config)
            request_advance(deps, name, [s.name for s in config.schedule_list()])
    (step, kwargs), = dispatch.sent
    with counting(admin, counts["advance"]):
        run_step(deps, step, **kwargs)
    triggers = [kw for s, kw in dispatch.sent if s == "trigger"]
    assert len(triggers) == 1, f"the advance asked for {dispatch.sent}, not one trigger"
    with counting(admin, counts["trigger"]):
        run = run_step(deps, "trigger", **triggers[0])
    assert run.status.value == "COMPLETED", run
    return counts


def measure(pipelines: int = 20, cycles: int = 3) -> dict[str, Any]:
    """Count ``cycles`` cycles (each on a pipeline of its own) after a warm-up one; return the last."""
    with private_redis() as port, tempfile.TemporaryDirectory() as folder:
        config = _project(Path(folder), port, max(pipelines, cycles + 1))
        deps = _deps(config, port)
        register_project_pipelines(deps.project, deps.store)
        epoch.verify(deps)  # as a worker's warm-up does
        admin = redis.Redis(port=port, decode_responses=True)
        cycle(deps, admin, "p0")  # warm-up: scripts loaded, caches filled
        runs = [cycle(deps, admin, f"p{i}") for i in range(1, cycles + 1)]
        admin.close()
    last = runs[-1]
    assert all({s: c.server_commands for s, c in r.items()} == {s: c.server_commands for s, c in last.items()}
               for r in runs), "command counts differ between identical cycles"
    total = Count()
    for count in last.values():
        total.round_trips += count.round_trips
        total.client_commands += count.client_commands
        total.server_commands += count.server_commands
        for name, n in count.by_command.items():
            total.by_command[name] = total.by_command.get(name, 0) + n
    return {step: _figures(count) for step, count in {**last, "total": total}.items()}


def _figures(count: Count) -> dict[str, Any]:
    return {"round_trips": count.round_trips, "client_commands": count.client_commands,
            "server_commands": count.server_commands,
            "by_command": dict(sorted(count.by_command.items(), key=lambda kv: (-kv[1], kv[0])))}


def main() -> None:
    from bench.common import write_result

    figures = measure()
    print(f"{'step':<10}{'round trips':>13}{'client cmds':>13}{'server cmds':>13}  by command (server)")
    for step, f in figures.items():
        detail = " ".join(f"{k}={v}" for k, v in f["by_command"].items())
        print(f"{step:<10}{f['round_trips']:>13}{f['client_commands']:>13}{f['server_commands']:>13}  {detail}")
    print(f"written to {write_result('redis_commands', figures)}")


if __name__ == "__main__":
    main()
