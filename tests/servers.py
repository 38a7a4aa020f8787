"""Real servers as processes for the tests: a free loopback port, a process group stopped at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def processes(commands: list[tuple[list[str], Path]], env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    """Run each ``(argv, log file)`` in a session of its own; on exit SIGTERM (then SIGKILL) each group."""
    with ExitStack() as stack:
        for argv, log in commands:
            out = stack.enter_context(log.open("wb"))
            proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            stack.callback(_stop, proc)
        yield


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group (a server's children)
    proc.wait(10)


def wait_until(ready: Callable[[], bool], seconds: float, what: str, logs: list[Path]) -> None:
    """Poll ``ready`` (exceptions count as not yet) until true; fail quoting the logs' tails."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(1)
    tails = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} did not come up in {seconds:.0f} s\n{tails}")
