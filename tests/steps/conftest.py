"""A project on disk plus a store, wired into step Deps.

Every step test runs twice: on a MemoryStore (so `make test-unit` covers the steps without services)
and on the real Redis (marked ``integration``), so the steps keep their real-Redis coverage.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from interlock.alerts import AlertDispatcher
from interlock.alerts.console import ConsoleSink
from interlock.clock import FrozenClock
from interlock.config import load_project
from interlock.steps.deps import Deps, register_project_pipelines
from interlock.store.memory import MemoryStore
from interlock.store.redis import RedisStore
from tests.conftest import FIXTURES, REFERENCE

EVALUATORS = {**{p.name: p for p in (REFERENCE / "testdata" / "evaluators").iterdir()},
              **{p.name: p for p in (FIXTURES / "evaluators").iterdir()}}

CONFIG = """\
provider: redis
redis: {{addr: "127.0.0.1:6379"{redis}}}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
evaluatorDirs: [./evaluators]
engine: {{defaultTimeout: 10s, evaluatorEnv: [COUNT_FILE, STAMP_FILE]}}
alerts: [{{type: console}}]
{extra}"""


class Harness:
    """Write archetypes and pipelines, then build Deps on the given store."""

    def __init__(self, root: Path, store: MemoryStore | RedisStore) -> None:
        self.root = root
        self.store = store
        self.alerts_out = io.StringIO()
        for folder in ("archetypes", "pipelines", "evaluators"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for name, path in EVALUATORS.items():
            (root / "evaluators" / name).symlink_to(path)
        self.extra = ""
        self.redis = ""  # more redis settings, e.g. ", retentionTtl: 400h"

    def archetype(self, name: str, required: list[str], optional: tuple[str, ...] = (), ttl: int = 0,
                  rule: str = "all-required-pass") -> None:
        lines = [f"name: {name}", "requiredTraits:"]
        lines += [f"  - {{type: {t}, defaultTtl: {ttl}}}" for t in required]
        if optional:
            lines += ["optionalTraits:"] + [f"  - {{type: {t}}}" for t in optional]
        lines += [f"readinessRule: {{type: {rule}}}"]
        (self.root / "archetypes" / f"{name}.yaml").write_text("\n".join(lines) + "\n")

    def pipeline(self, name: str, archetype: str, evaluators: dict[str, str | None], extra: str = "") -> None:
        lines = [f"name: {name}", f"archetype: {archetype}", "traits:"]
        for trait, evaluator in evaluators.items():
            lines.append(f"  {trait}: {{evaluator: {evaluator}}}" if evaluator else f"  {trait}: {{}}")
        (self.root / "pipelines" / f"{name}.yaml").write_text("\n".join(lines) + "\n" + extra)

    def deps(self, clock: FrozenClock | None = None) -> Deps:
        (self.root / "interlock.yaml").write_text(CONFIG.format(extra=self.extra, redis=self.redis))
        project = load_project(self.root / "interlock.yaml", env={})
        if clock is not None:
            self.store.clock = clock  # the store judges expiry (and registration time) by the steps' clock
        register_project_pipelines(project, self.store)
        dispatcher = AlertDispatcher(self.store, [ConsoleSink(self.alerts_out)])
        if clock is None:
            return Deps(project, self.store, alerts=dispatcher)
        return Deps(project, self.store, clock=clock, alerts=dispatcher)


@pytest.fixture
def harness(tmp_path: Path, any_store: MemoryStore | RedisStore) -> Harness:
    return Harness(tmp_path / "project", any_store)


@pytest.fixture
def redis_harness(tmp_path: Path, store: RedisStore) -> Harness:
    """The harness on the real Redis alone, for folders of integration tests (API, security)."""
    return Harness(tmp_path / "project", store)


HarnessFactory = Callable[[], Harness]
