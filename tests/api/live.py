"""`interlock serve` as a real process on a free loopback port, for tests that need real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.steps.conftest import Harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(harness: Harness, extra_config: str = "") -> Iterator[str]:
    """Run `interlock serve` for the harness's project (its own Redis key prefix); yield its base URL.

    ``extra_config`` is appended to interlock.yaml, e.g. ``"server: {apiKey: k}\\n"``.
    """
    harness.extra = extra_config
    harness.deps()
    config = harness.root / "interlock.yaml"
    config.write_text(config.read_text().replace(
        '127.0.0.1:6379"}', f'127.0.0.1:6379", keyPrefix: "{harness.store.prefix}"}}'))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env["INTERLOCK_CONFIG"] = str(config)
    log = harness.root / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "interlock.cli", "serve", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to ~30 s for the interpreter and uvicorn to start on a busy machine
            if proc.poll() is not None:
                raise AssertionError(f"interlock serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                httpx.get(f"{base}/api/health", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"interlock serve did not answer on {base}:\n{log.read_text()}")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
