"""A worker on a large project with no index yet (a first start, or interlock.yaml changed) starts
consuming while its pipeline files load, and an error found in them stops it with exit code 2.

Real ``interlock worker`` processes on the local Redis, under a key prefix of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from bench.scale import generate
from interlock.config.index import DEFER_MIN_FILES, index_path
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration


def large_project(root: Path, prefix: str) -> Path:
    """bench.scale's generated project: DEFER_MIN_FILES pipelines p00000, p00001, ..."""
    return generate(root, DEFER_MIN_FILES, prefix, "redis://127.0.0.1:6379/0")


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    """``interlock ARGS`` on the project ``config``, its output (stdout and stderr) piped."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")},
           "INTERLOCK_CONFIG": str(config)}
    return subprocess.Popen([sys.executable, "-m", "interlock.cli", *args], cwd=config.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def start_worker(config: Path) -> subprocess.Popen[str]:
    return start(config, "worker", "-Q", "evaluation", "-c", "1")


def broken(root: Path, prefix: str, count: int) -> tuple[Path, str]:
    """A generated project of ``count`` pipelines whose last file names an archetype that does not exist."""
    config = generate(root, count, prefix, "redis://127.0.0.1:6379/0")
    name = f"p{count - 1:05d}"
    (config.parent / "pipelines" / f"{name}.yaml").write_text(f"name: {name}\narchetype: missing\n")
    return config, f"{name}.yaml"


def ended(process: subprocess.Popen[str], timeout: float) -> str:
    """The output of ``process`` once it has exited on its own (killed if it has not within ``timeout``)."""
    try:
        return process.communicate(timeout=timeout)[0]
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def prefix() -> str:
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()


def test_a_worker_on_a_large_new_project_registers_every_pipeline_and_writes_the_index(
        tmp_path: Path, prefix: str) -> None:
    config = large_project(tmp_path / "big", prefix)
    worker = start_worker(config)
    output = ""
    try:
        store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(store.list_pipelines()) < DEFER_MIN_FILES:
            assert worker.poll() is None, worker.communicate()[0][-2000:]
            time.sleep(0.2)
        assert len(store.list_pipelines()) == DEFER_MIN_FILES
    finally:
        worker.terminate()
        output = worker.communicate(timeout=60)[0]
    # Registration waited for the load on its thread (tests/config/test_index.py shows the worker gets
    # the project before it ends), and the load wrote the index: the next start reads through it.
    assert index_path(config).is_file(), output[-3000:]


def test_a_worker_stops_with_exit_code_2_on_an_error_found_in_a_pipeline_file_after_it_started(
        tmp_path: Path, prefix: str) -> None:
    config, file = broken(tmp_path / "big", prefix, DEFER_MIN_FILES)
    worker = start_worker(config)
    output = ended(worker, 120)
    assert worker.returncode == 2, output[-3000:]
    assert file in output and "missing" in output, output[-3000:]
    assert "configuration error" in output and "interlock validate" in output
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    assert store.list_pipelines() == []  # nothing of an invalid project was registered


def test_the_api_that_had_started_answering_shuts_down_and_exits_2_on_an_error_found_in_a_pipeline_file(
        tmp_path: Path, prefix: str) -> None:
    # As for the worker below: 10 000 files take several seconds to load, uvicorn answers in about one.
    from tests.servers import free_port

    config, file = broken(tmp_path / "bigger", prefix, 10 * DEFER_MIN_FILES)
    api = start(config, "serve", "--port", str(free_port()))
    output = ended(api, 180)
    assert api.returncode == 2, output[-3000:]
    assert file in output and "missing" in output and "interlock validate" in output, output[-3000:]
    assert output.index("Application startup complete") < output.index(file) < output.index("Shutting down")


def test_a_worker_that_had_started_consuming_shuts_down_warm_before_exiting_2(tmp_path: Path, prefix: str) -> None:
    # 10 000 files load on the loading thread for several seconds (Celery is ready in about one): when
    # the broken one is found Celery is up, so SIGTERM stops it (a warm shutdown: tasks in flight end).
    config, file = broken(tmp_path / "bigger", prefix, 10 * DEFER_MIN_FILES)
    worker = start_worker(config)
    output = ended(worker, 180)
    assert worker.returncode == 2, output[-3000:]
    assert " ready." in output and "Warm shutdown" in output, output[-3000:]
    assert output.index(" ready.") < output.index(file)  # it answered before the load ended
