"""The faults the chaos scenario injects: a private Redis it can crash, a relay it can cut, a killer.

* :class:`PrivateRedis` — a redis-server of the test's own on a free port, in a temp folder, with
  ``--appendonly yes --appendfsync always``. ``crash_and_restart`` SIGKILLs it and starts it again on
  the same port and folder, so it comes back from its AOF.
* :class:`BrokerRelay` — a TCP relay in front of that Redis; the workers and Beat connect through it
  (broker and store alike). ``cut`` resets every relayed connection and refuses new ones (accept,
  then reset) until ``restore``: Redis is unreachable for the workers while it keeps running.
* :class:`Fleet` — one worker per queue and Beat; ``kill_random`` SIGKILLs the main process or a pool
  child of one of them, and restarts it when the main process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from interlock.demo.stack import QUEUES, Stack, free_port

# Pool processes per queue's worker: the busy queues get two, like bench/throughput.py.
CONCURRENCY = {"evaluation": 2, "trigger": 2, "run_check": 1, "archival": 1, "schedule": 1, "alerts": 1}


def wait_until(condition: object, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``condition()`` until it is true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if condition():  # type: ignore[operator]
                return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class PrivateRedis:
    """A redis-server only this test uses (never the shared one on 6379), restartable from its AOF.

    ``persistent=False`` runs it with neither AOF nor RDB snapshots: a restart comes back empty.
    """

    def __init__(self, stack: Stack, folder: Path, persistent: bool = True) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed: the chaos test starts (and crashes) its own")
        self.stack, self.folder, self.server = stack, folder, server
        self.persistent = persistent
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, socket_connect_timeout=2)

    def start(self) -> None:
        self.starts += 1
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        argv = [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                *persistence, "--save", "", "--daemonize", "no"]
        self.proc = self.stack.start(argv, self.folder / f"redis-{self.starts}.log", dict(os.environ), self.folder)
        probe = self.client()
        try:  # PING answers LOADING until the AOF is replayed: wait for a real PONG
            wait_until(probe.ping, 30, f"redis-server on port {self.port} to answer")
        finally:
            probe.close()

    def crash_and_restart(self) -> float:
        """SIGKILL the server (a crash, not a clean shutdown), start it again; return seconds it was down."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.kill()
        self.proc.wait(10)
        self.start()
        return time.monotonic() - began


class BrokerRelay:
    """A TCP relay to Redis that can make it unreachable (reset + refuse) for a while."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.down = False
        self.connections = 0
        self._live: set[asyncio.WriteTransport] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-relay", daemon=True)
        self._stopped: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> BrokerRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("broker relay did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._finish)
            self._thread.join(10)

    def cut(self) -> None:
        """From now on the workers cannot reach Redis: live connections reset, new ones refused."""
        self.down = True
        self._loop.call_soon_threadsafe(self._drop_all)

    def restore(self) -> None:
        self.down = False

    def _finish(self) -> None:
        self._drop_all()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _drop_all(self) -> None:
        for transport in list(self._live):
            transport.abort()
        self._live.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = self._loop.create_future()
        server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self._ready.set()
        async with server:
            await self._stopped

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = writer.transport
        if self.down:
            client.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:  # Redis itself is down (restarting): the client sees a reset, as with no relay
            client.abort()
            return
        upstream = up_writer.transport
        self.connections += 1
        self._live.update((client, upstream))

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:  # one side ended: end both, as a broken TCP path would
                for transport in (client, upstream):
                    self._live.discard(transport)
                    transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (a prefork worker's pool processes)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


@dataclass
class Kill:
    at: float
    process: str  # worker queue or "beat"
    role: str  # "main" (then restarted) or "pool child" (the worker replaces it itself)
    pid: int


@dataclass
class Crash:
    """A process that exited without being killed (restarted, as a supervisor would, and counted)."""

    process: str
    returncode: int | None
    log: str


@dataclass
class Fleet:
    """One worker per queue and Beat, started through the `interlock` CLI like a deployment."""

    stack: Stack
    root: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    kills: list[Kill] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A process run through another module than ``interlock.cli`` (same arguments): the recovery
    # scenario runs its trigger worker through tests/chaos/kill_between.py.
    modules: dict[str, str] = field(default_factory=dict)

    NAMES = (*QUEUES, "beat")

    def start(self, name: str) -> None:
        cli = [sys.executable, "-m", self.modules.get(name, "interlock.cli")]
        argv = ([*cli, "beat", "-l", "INFO"] if name == "beat" else
                [*cli, "worker", "--queues", name, "--concurrency", str(CONCURRENCY[name]), "-l", "INFO"])
        self.starts[name] += 1
        (self.root / "logs").mkdir(exist_ok=True)
        self.logs[name] = self.root / "logs" / f"{name}-{self.starts[name]}.log"
        self.procs[name] = self.stack.start(argv, self.logs[name], self.env, self.root)

    def start_all(self) -> None:
        for name in self.NAMES:
            self.start(name)

    def ready(self, name: str) -> bool:
        """A worker is ready once Celery says so; Beat once it has started its scheduler."""
        if self.procs[name].poll() is not None:
            return False
        text = self.logs[name].read_text(errors="replace")
        return "Scheduler: Sending due task" in text or "beat: Starting" in text if name == "beat" else \
            " ready." in text

    def all_ready(self) -> bool:
        return all(self.ready(name) for name in self.NAMES)

    def revive(self) -> list[Crash]:
        """Restart every process that exited by itself (none should), and record it."""
        found = []
        with self.lock:
            for name in self.NAMES:
                proc = self.procs[name]
                if proc.poll() is not None:
                    found.append(Crash(name, proc.returncode, str(self.logs[name])))
                    self.start(name)
            self.crashes.extend(found)
        return found

    def kill_random(self, rng: random.Random, started: float) -> Kill | None:
        """SIGKILL one process of a running worker (or Beat); restart it if it was the main process."""
        with self.lock:
            return self._kill_random(rng, started)

    def _kill_random(self, rng: random.Random, started: float) -> Kill | None:
        candidates = [name for name in self.NAMES if self.ready(name)]
        if not candidates:
            return None
        name = rng.choice(candidates)
        proc = self.procs[name]
        pids = [proc.pid, *children(proc.pid)]
        pid = rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kill = Kill(round(time.monotonic() - started, 1), name, "main" if pid == proc.pid else "pool child", pid)
        if pid == proc.pid:
            # The whole worker is gone, as when its container dies: its orphaned pool processes too
            # (a job a command trigger started runs in a session of its own and is not touched).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            self.start(name)
        self.kills.append(kill)
        return kill


MASTER_NAME = "interlock"


class SentinelGroup:
    """A primary, a replica and three sentinels of the test's own, on free loopback ports.

    Short timings (a node is down after 3 s without an answer, quorum 2) so a failover takes a few
    seconds. 1 s was too short on a loaded two-core machine: a freshly promoted primary busy with its
    new replica's full sync was judged down and failed over back (seen in a CI run).
    ``fail_over`` SIGKILLs whichever node is the primary now, waits until the sentinels have
    promoted the replica, then starts the killed node again as a replica of the new primary (it
    comes back empty and resynchronises), so there is a replica to promote the next time.
    """

    DOWN_AFTER_MS = 3000
    FAILOVER_TIMEOUT_MS = 10000

    def __init__(self, stack: Stack, folder: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed: the failover test starts its own group")
        self.stack, self.folder, self.server = stack, folder, server
        self.node_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.nodes: dict[int, subprocess.Popen[bytes]] = {}
        self.starts: Counter[int] = Counter()
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def sentinel_addrs(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def url(self, db: int = 0) -> str:
        """The ``$INTERLOCK_REDIS_URL`` form of the group."""
        return ";".join(f"sentinel://{a}/{db}" for a in self.sentinel_addrs) + f"?master_name={MASTER_NAME}"

    def start_nodes(self) -> None:
        """The primary and its replica, in sync (no sentinels: tests/store/test_redis_replicas.py)."""
        primary, replica = self.node_ports
        self._start_node(primary)
        self._start_node(replica, replica_of=primary)
        self.wait_replicated(replica)

    def start(self) -> None:
        self.start_nodes()
        primary = self.node_ports[0]
        for port in self.sentinel_ports:
            conf = self.folder / f"sentinel-{port}.conf"  # a sentinel rewrites its own file: one each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {self.FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n")
            self.stack.start([self.server, str(conf), "--sentinel"], self.folder / f"sentinel-{port}.log",
                             dict(os.environ), self.folder)
        # Ready once every sentinel knows the replica and the other sentinels.
        wait_until(lambda: all(self._sentinel_sees(port, replicas=1, sentinels=2) for port in self.sentinel_ports),
                   30, "the sentinels to discover the replica and each other")

    def _start_node(self, port: int, replica_of: int | None = None) -> None:
        self.starts[port] += 1
        argv = [self.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--dbfilename", f"dump-{port}.rdb", "--appendonly", "no", "--save", "", "--daemonize", "no"]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        log = self.folder / f"redis-{port}-{self.starts[port]}.log"
        self.nodes[port] = self.stack.start(argv, log, dict(os.environ), self.folder)
        wait_until(lambda: self.node(port).ping(), 30, f"redis-server on port {port} to answer")

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=1,
                           socket_timeout=2)

    def sentinel(self, port: int) -> redis.Redis:
        return self.node(port)

    def _sentinel_sees(self, port: int, replicas: int, sentinels: int) -> bool:
        """Sentinel ``port`` knows ``sentinels`` others and ``replicas`` replicas that are up and in sync."""
        client = self.sentinel(port)
        master = _fields(client.execute_command("SENTINEL", "MASTER", MASTER_NAME))
        live = [r for r in map(_fields, client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME))
                if r["flags"] == "slave" and r.get("master-link-status") == "ok"]
        return len(live) >= replicas and int(master["num-other-sentinels"]) >= sentinels

    def primary_port(self) -> int:
        """The primary's port as a majority of the sentinels report it."""
        answers = Counter[int]()
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError, OSError):
                host_port = self.sentinel(port).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                answers[int(host_port[1])] += 1
        port, votes = answers.most_common(1)[0]
        assert votes >= 2, f"the sentinels disagree on the primary: {answers}"
        return port

    def wait_replicated(self, replica: int) -> None:
        wait_until(lambda: self.node(replica).info("replication").get("master_link_status") == "up",
                   60, f"the replica on port {replica} to finish its sync")

    def fail_over(self) -> dict[str, float]:
        """SIGKILL the primary; return seconds until promoted and until the killed node was a replica again."""
        old = self.primary_port()
        new = next(p for p in self.node_ports if p != old)
        began = time.monotonic()
        self.nodes[old].kill()
        self.nodes[old].wait(10)
        wait_until(lambda: self.primary_port() == new and self.node(new).execute_command("ROLE")[0] == "master",
                   60, f"the sentinels to promote port {new}", every=0.05)
        promoted = time.monotonic() - began
        self._start_node(old, replica_of=new)
        self.wait_replicated(old)
        # The sentinels must know it as the new primary's replica, or the next failover finds none.
        wait_until(lambda: all(self._sentinel_sees(port, replicas=1, sentinels=2) for port in self.sentinel_ports),
                   30, "the sentinels to see the restarted replica")
        return {"killed_port": old, "promoted_port": new, "promoted_after_s": round(promoted, 2),
                "replica_back_after_s": round(time.monotonic() - began, 2)}


def _fields(reply: Any) -> dict[str, str]:
    """A SENTINEL MASTER / REPLICAS entry (a flat [name, value, ...] list in RESP2) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True)) if isinstance(reply, list) else dict(reply)
