"""A worker process builds its Deps and connects to the store right after the fork, not on the
first task (which is then as fast as every other), and survives a store that is down meanwhile;
the pipelines are registered at worker start off the consumer's thread."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

import pytest
from celery import Celery

from interlock.config import load_project
from interlock.scaffold import init_project
from interlock.store.redis import RedisStore
from tests.conftest import with_key_prefix
from workers import context


def _app(tmp_path: Path, addr: str) -> Celery:
    """What the worker's app carries (workers.app.get_app would read the config the environment names)."""
    root = tmp_path / "etl"
    init_project(root)
    config = root / "interlock.yaml"
    config.write_text(with_key_prefix(config.read_text().replace("localhost:6379", addr),
                                      f"interlock-test-{uuid.uuid4().hex[:8]}:"))
    app = Celery("warm-up-test")
    app.conf.interlock_project = load_project(config, env={})
    return app


@pytest.fixture(autouse=True)
def fresh_process_cache() -> None:
    context._deps.pop(os.getpid(), None)


@pytest.mark.integration
def test_warm_up_builds_deps_and_opens_the_store_connection(tmp_path: Path) -> None:
    app = _app(tmp_path, "127.0.0.1:6379")
    context.warm_up(app)
    deps = context._deps[os.getpid()]
    assert isinstance(deps.store, RedisStore)
    pool = deps.store.r.connection_pool
    assert len(pool._available_connections) + len(pool._in_use_connections) >= 1  # connected already
    assert context.deps_for(app) is deps  # the first task reuses it


def test_warm_up_with_the_store_down_logs_and_does_not_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path, "127.0.0.1:9")  # nothing listens on the discard port
    with caplog.at_level(logging.WARNING, logger="workers.context"):
        context.warm_up(app)
    assert "store not reachable" in caplog.text
    assert os.getpid() in context._deps


@pytest.mark.integration
def test_start_up_registers_the_pipelines_off_the_consumer_thread(tmp_path: Path) -> None:
    app = _app(tmp_path, "127.0.0.1:6379")
    thread = context.start_up_in_background(app)
    assert thread is not threading.current_thread() and thread.daemon
    thread.join(30)
    store = context.deps_for(app).store
    try:
        assert [p.name for p in store.list_pipelines()] == ["example"]  # the init project's pipeline
    finally:
        assert isinstance(store, RedisStore)
        store.purge()


def test_start_up_with_the_store_down_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path, "127.0.0.1:9")
    with caplog.at_level(logging.ERROR, logger="workers.context"):
        context.start_up_in_background(app).join(30)
    assert "registering the project's pipelines at worker start failed" in caplog.text
