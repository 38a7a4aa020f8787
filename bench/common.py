"""Shared by the benchmarks: where results go and what machine produced them."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("interlock", "redis", "SQLAlchemy", "psycopg2-binary", "celery"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), "figures": figures}, indent=2))
    return path


@contextmanager
def raw_celery(url: str, concurrency: int = 1) -> Iterator[Any]:
    """A bare Celery app with a no-op task and a worker for it, on the same broker: the baseline."""
    prefix = f"bench-raw-{uuid.uuid4().hex[:6]}:"
    name = f"rawapp_{uuid.uuid4().hex[:6]}"
    folder = Path(tempfile.mkdtemp())
    (folder / f"{name}.py").write_text(
        "from celery import Celery\n"
        f"app = Celery('raw', broker={url!r}, backend={url!r})\n"
        f"app.conf.broker_transport_options = {{'global_keyprefix': {prefix!r}}}\n"
        f"app.conf.result_backend_transport_options = {{'global_keyprefix': {prefix!r}}}\n"
        "app.conf.worker_prefetch_multiplier = 1\napp.conf.task_acks_late = True\n"
        "@app.task(name='noop')\ndef noop():\n    return 1\n")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    pool = ["-P", "solo"] if concurrency == 1 else ["-c", str(concurrency)]
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", name, "worker", *pool, "--without-gossip",
                               "--without-mingle", "-l", "WARNING"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sys.path.insert(0, str(folder))
        module = __import__(name)
        module.app.send_task("noop").get(timeout=60)  # warm up: the worker is consuming
        yield module.app
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(15)
