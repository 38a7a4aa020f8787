"""Every entry point (CLI, API, Celery worker, Lambda) gets its Deps from build_deps, one way.

The spy replaces ``build_deps`` wherever a module holds it (found by identity, not by grepping
the source), wraps the real function and remembers what it returned: an entry point whose Deps
are not (derived from) what the spy returned built them some other way.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

import interlock.cli  # noqa: F401  (registers the commands)
from interlock.cli.main import cli
from interlock.config import Project, load_project
from interlock.steps import deps as deps_module
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration


@dataclass
class Spy:
    calls: list[tuple[Project, dict[str, Any]]] = field(default_factory=list)
    built: list[Deps] = field(default_factory=list)


def _replace_everywhere(monkeypatch: pytest.MonkeyPatch, original: Any, replacement: Any) -> None:
    name = original.__name__
    for module in list(sys.modules.values()):
        if getattr(module, name, None) is original:
            monkeypatch.setattr(module, name, replacement)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    import lambdas.runtime  # noqa: F401  (the entry points under test, loaded before the swap)
    import workers.context  # noqa: F401

    record = Spy()
    real = deps_module.build_deps

    def build_deps(project: Project, *args: Any, **kwargs: Any) -> Deps:
        record.calls.append((project, kwargs))
        built = real(project, *args, **kwargs)
        record.built.append(built)
        return built

    build_deps.__name__ = real.__name__
    _replace_everywhere(monkeypatch, real, build_deps)
    return record


@pytest.fixture
def project(inited_project: Path) -> Path:
    """``interlock init``'s project on a key prefix of its own."""
    return inited_project / "interlock.yaml"


def test_a_cli_command_builds_its_deps_through_build_deps(spy: Spy, project: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(project), "status", "--json"])
    assert result.exit_code == 0, result.output
    [(loaded, kwargs)] = spy.calls
    assert loaded.settings.config_path == project
    assert kwargs["console"] is not None  # the CLI's stderr (CliRunner's, here): console alerts stay off stdout


def test_interlock_run_uses_the_cli_deps_with_an_inline_dispatcher(spy: Spy, project: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.steps import advance as advance_module

    seen: list[Deps] = []
    real_advance = advance_module.advance

    def advance(deps: Deps, *args: Any, **kwargs: Any) -> Any:
        seen.append(deps)
        return real_advance(deps, *args, **kwargs)

    monkeypatch.setattr(advance_module, "advance", advance)
    CliRunner().invoke(cli, ["--config", str(project), "run", "example"])
    [built] = spy.built
    [used] = seen
    assert isinstance(used.dispatch, InlineDispatcher) and isinstance(built.dispatch, RecordingDispatcher)
    assert (used.store, used.runner, used.alerts) == (built.store, built.runner, built.alerts)


def test_the_api_server_builds_its_deps_through_build_deps(spy: Spy, project: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from workers.context import CeleryDispatcher

    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self.config.app))
    result = CliRunner().invoke(cli, ["--config", str(project), "serve"])
    assert result.exit_code == 0, result.output
    [built] = spy.built
    [app] = served
    deps = app.app.state.deps if hasattr(app, "app") else app.state.deps
    assert deps.store is built.store and deps.alerts is built.alerts
    assert isinstance(deps.dispatch, CeleryDispatcher)


def test_a_worker_process_builds_its_deps_through_build_deps(spy: Spy, project: Path) -> None:
    from workers import context

    app = Celery("build-deps-test")
    app.conf.interlock_project = load_project(project, env={})
    context._deps.pop(os.getpid(), None)
    try:
        deps = context.deps_for(app)
        assert spy.built == [deps] and isinstance(deps.dispatch, context.CeleryDispatcher)
        assert context.deps_for(app) is deps and len(spy.calls) == 1  # once per process
    finally:
        context._deps.pop(os.getpid(), None)


def test_a_lambda_container_builds_its_deps_through_build_deps_on_the_table_named_by_the_environment(
        spy: Spy, project: Path, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from interlock.alerts.aws import SnsSink
    from interlock.store.dynamodb import DynamoStore
    from lambdas import runtime

    ddb = boto3.client("dynamodb")
    DynamoStore.create_table(ddb, "lambda-table")
    topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    for name, value in {"INTERLOCK_CONFIG": str(project), "TABLE_NAME": "lambda-table", "SNS_TOPIC_ARN": topic,
                        "AWS_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    try:
        deps = runtime.runtime().deps
    finally:
        runtime.reset()
    [(_, kwargs)] = spy.calls
    assert spy.built == [deps]
    assert isinstance(deps.store, DynamoStore) and deps.store.table == "lambda-table"
    assert [type(s) for s in kwargs["sinks"]] == [SnsSink]
    assert deps.pipeline("example").name == "example"  # registered in that table


def test_with_dispatch_shares_everything_but_the_dispatcher(store: RedisStore, make_project: Any) -> None:
    from tests.conftest import MINIMAL_CONFIG

    deps = deps_module.build_deps(load_project(make_project(MINIMAL_CONFIG), env={}), store=store)
    inline = RecordingDispatcher()
    other = deps.with_dispatch(inline)
    assert other.dispatch is inline and isinstance(deps.dispatch, RecordingDispatcher)
    assert (other.project, other.store, other.clock, other.runner, other.alerts) == (
        deps.project, deps.store, deps.clock, deps.runner, deps.alerts)
