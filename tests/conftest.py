"""Fixtures shared by every test (fixture projects, a project factory, stores) and the marker rules.

Marker rules (``pytest_collection_modifyitems`` below):

- a test that uses the Redis ``store`` fixture of this file is marked ``integration`` without saying so;
- the real-server tests (``airflow3``, ``dagster``, ``prefect``) are deselected unless ``-m`` names their
  marker (``make test-airflow3`` / ``test-dagster`` / ``test-prefect``), so any other ``-m``
  (``make test-unit``'s ``-m "not integration"``) cannot bring them back.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from interlock.scaffold import init_project
from interlock.store.base import Store
from interlock.store.memory import MemoryStore
from interlock.store.redis import RedisStore

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process: AWS cannot be reached from here, so it stands in for it."""
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def store() -> Iterator[RedisStore]:
    """A RedisStore on the real Redis under a key prefix of its own, emptied afterwards."""
    s = RedisStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True),
                   f"interlock-test-{uuid.uuid4().hex[:12]}:")
    yield s
    s.purge()
    s.close()


@pytest.fixture
def memory_store() -> MemoryStore:
    """A MemoryStore: for tests that need a store but test nothing of Redis."""
    return MemoryStore()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The test once on a MemoryStore and once on the real Redis (that run is ``integration``)."""
    if request.param == "memory":
        return MemoryStore()
    redis_store: RedisStore = request.getfixturevalue("store")
    return redis_store


def _uses_redis_store(item: pytest.Item) -> bool:
    """Whether ``item`` sets up the ``store`` fixture of this file (the real Redis), not an override."""
    info = getattr(item, "_fixtureinfo", None)  # items that are not test functions have none
    defs = info.name2fixturedefs.get("store") if info is not None and "store" in info.names_closure else None
    return bool(defs) and defs[-1].func is getattr(store, "__wrapped__", store)


# Tests that install and start a real server of their own: run only when `-m` names them.
REAL_SERVER_MARKERS = ("airflow3", "dagster", "prefect")


@pytest.hookimpl(tryfirst=True)  # before `-m` filters the items, so the markers added here count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_redis_store(item):
            item.add_marker(pytest.mark.integration)
    named = config.option.markexpr or ""
    left_out = [marker for marker in REAL_SERVER_MARKERS if marker not in named]
    kept = [item for item in items if not any(item.get_closest_marker(marker) for marker in left_out)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def reference_project(tmp_path: Path) -> Path:
    """A copy of the reference's own files (init config, starter archetypes, testdata/)."""
    target = tmp_path / "reference"
    shutil.copytree(REFERENCE, target)
    return target


@pytest.fixture
def new_project(tmp_path: Path) -> Path:
    """A project written by ``interlock init``."""
    target = tmp_path / "project"
    init_project(target)
    return target


def with_key_prefix(config_text: str, prefix: str) -> str:
    """``interlock.yaml`` text with its ``redis.keyPrefix`` (as ``interlock init`` writes it) set to ``prefix``."""
    replaced, count = re.subn(r'keyPrefix: "[^"]*"', f'keyPrefix: "{prefix}"', config_text, count=1)
    assert count == 1, "no keyPrefix line to replace"
    return replaced


@pytest.fixture
def inited_project(tmp_path: Path) -> Iterator[Path]:
    """``interlock init``'s project (its folder) on the local Redis under a key prefix of its own, purged after."""
    root = tmp_path / "etl"
    init_project(root)
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    config = root / "interlock.yaml"
    config.write_text(with_key_prefix(config.read_text(), prefix).replace("localhost:6379", "127.0.0.1:6379"))
    yield root
    RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a minimal project: interlock.yaml plus the given files (name -> YAML text)."""

    def make(config: str | None = None, **files: str) -> Path:
        root = tmp_path / "p"
        for folder in ("archetypes", "pipelines", "calendars", "evaluators"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        write(root / "interlock.yaml", config if config is not None else MINIMAL_CONFIG)
        for name, text in files.items():
            # archetypes__simple_yaml -> archetypes/simple.yaml
            stem, _, ext = name.replace("__", "/").rpartition("_")
            write(root / f"{stem}.{ext}", text)
        return root / "interlock.yaml"

    return make


MINIMAL_CONFIG = """\
provider: redis
redis:
  addr: localhost:6379
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
calendarDirs: [./calendars]
"""

# MINIMAL_CONFIG warns that its key prefix is the shared default; tests of other warnings use this.
OWN_PREFIX_CONFIG = MINIMAL_CONFIG.replace("addr: localhost:6379",
                                           'addr: localhost:6379\n  keyPrefix: "interlock:test:"')

SIMPLE_ARCHETYPE = """\
name: simple
requiredTraits:
  - type: freshness
    defaultConfig: {maxLagSeconds: 300}
    defaultTtl: 300
    defaultTimeout: 30
optionalTraits:
  - type: quality
readinessRule:
  type: all-required-pass
"""
