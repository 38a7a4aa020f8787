"""The start-up check of Redis persistence, against redis-servers of the test's own."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from interlock.demo import free_port
from interlock.store.redis import RedisStore
from tests.chaos.faults import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> RedisStore:
        port = free_port()
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed"
        procs.append(subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                       *options], stdout=subprocess.DEVNULL))
        client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        wait_until(client.ping, 10, "redis-server to answer")
        return RedisStore(client, "persistence-test:")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_a_redis_that_keeps_nothing_is_a_warning(start_redis) -> None:  # type: ignore[no-untyped-def]
    level, message = start_redis("--appendonly", "no", "--save", "").persistence()
    assert level == logging.WARNING and "NO persistence" in message and "appendonly yes" in message


def test_snapshots_only_is_a_warning_naming_what_a_restart_loses(start_redis) -> None:  # type: ignore[no-untyped-def]
    level, message = start_redis("--appendonly", "no", "--save", "60 1").persistence()
    assert level == logging.WARNING and "only RDB snapshots" in message


def test_an_append_only_file_is_fine(start_redis) -> None:  # type: ignore[no-untyped-def]
    level, message = start_redis("--appendonly", "yes", "--save", "").persistence()
    assert level == logging.INFO and "appendonly yes" in message


def test_a_disabled_config_command_says_it_could_not_check(start_redis) -> None:  # type: ignore[no-untyped-def]
    level, message = start_redis("--rename-command", "CONFIG", "").persistence()
    assert level == logging.WARNING and "could not check Redis persistence" in message
