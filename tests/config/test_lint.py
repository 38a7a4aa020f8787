"""Warnings: what loads but will not do what its author meant (file, line, field path, reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import load_project
from tests.conftest import MINIMAL_CONFIG, OWN_PREFIX_CONFIG, SIMPLE_ARCHETYPE, ProjectFactory

HTTP_PIPELINE = """\
name: orders
archetype: simple
trigger:
  type: http
  http:
    url: http://127.0.0.1:9/start
    headers:
      Authorization: "Bearer ${INTERLOCK_JOBS_TOKEN}"
"""


@pytest.fixture
def make_project(make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch) -> ProjectFactory:
    def make(*args: str | None, **files: str) -> Path:
        path = make_project(*(args or (OWN_PREFIX_CONFIG,)), **files)
        monkeypatch.chdir(path.parent)
        return path

    return make


def warnings_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    return [str(w) for w in load_project(path, env=env or {}).warnings]


def test_an_unset_interlock_variable_in_a_trigger_is_a_warning_naming_file_line_path_and_variable(
        make_project: ProjectFactory) -> None:
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, pipelines__orders_yaml=HTTP_PIPELINE)
    assert warnings_of(path) == [
        "pipelines/orders.yaml:8: trigger.http.headers.Authorization: ${INTERLOCK_JOBS_TOKEN} is not set in this "
        "environment; the trigger fails at fire time unless it is set where the workers run"]
    assert warnings_of(path, {"INTERLOCK_JOBS_TOKEN": "t0k3n"}) == []


def test_the_variables_a_command_trigger_sets_itself_are_not_reported(make_project: ProjectFactory) -> None:
    pipeline = ('name: load\narchetype: simple\ntrigger:\n  type: command\n'
                '  command: {command: "./load.sh ${INTERLOCK_PERIOD} ${INTERLOCK_RUN_ID}", shell: true}\n')
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, pipelines__load_yaml=pipeline)
    assert warnings_of(path) == []


def test_an_interlock_variable_where_nothing_expands_it_is_a_warning(make_project: ProjectFactory) -> None:
    config = OWN_PREFIX_CONFIG + "alerts:\n  - type: webhook\n    url: https://hooks.example.com/${INTERLOCK_HOOK}\n"
    pipeline = ("name: orders\narchetype: simple\ntraits:\n  freshness:\n"
                "    config: {token: '${INTERLOCK_API_TOKEN}'}\n")
    path = make_project(config, archetypes__simple_yaml=SIMPLE_ARCHETYPE, pipelines__orders_yaml=pipeline)
    assert warnings_of(path, {"INTERLOCK_HOOK": "h", "INTERLOCK_API_TOKEN": "t"}) == [
        "interlock.yaml:10: alerts[0].url: ${INTERLOCK_HOOK} is not expanded here (this file never expands them); "
        "the text is used as written",
        "pipelines/orders.yaml:5: traits.freshness.config.token: ${INTERLOCK_API_TOKEN} is not expanded here "
        "(only the trigger block expands them); the text is used as written",
    ]


def test_tier_cascade_and_quarantine_are_reported_as_accepted_and_ignored(make_project: ProjectFactory) -> None:
    pipeline = ("name: orders\narchetype: simple\ntier: 2\ncascade:\n  delayBetween: 30s\n"
                "quarantine: {blocking: true}\n")
    path = make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, pipelines__orders_yaml=pipeline)
    project = load_project(path, env={})
    assert [(w.file, w.line, w.path) for w in project.warnings] == [
        ("pipelines/orders.yaml", 3, "tier"), ("pipelines/orders.yaml", 4, "cascade"),
        ("pipelines/orders.yaml", 6, "quarantine")]
    assert all(w.message.startswith("accepted for compatibility with the reference and ignored")
               for w in project.warnings)
    assert project.pipelines["orders"].tier == 2  # still accepted: reference files load unchanged


def test_the_starter_project_has_no_warnings(new_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(new_project)
    assert warnings_of(new_project / "interlock.yaml") == []


def test_the_bare_default_key_prefix_is_a_warning_and_a_prefix_of_its_own_is_not(make_project: ProjectFactory) -> None:
    assert warnings_of(make_project(MINIMAL_CONFIG, archetypes__simple_yaml=SIMPLE_ARCHETYPE)) == [
        "interlock.yaml:2: redis: the key prefix is the shared default 'interlock:': every project on this Redis "
        "using it sees the others' pipelines and runs; use one of its own, e.g. 'interlock:NAME:'"]
    explicit = MINIMAL_CONFIG.replace("addr: localhost:6379", 'addr: localhost:6379\n  keyPrefix: "interlock:"')
    warned = [w.split(": ")[0:2] for w in warnings_of(make_project(explicit))]
    assert warned == [["interlock.yaml:4", "redis.keyPrefix"]]
    assert warnings_of(make_project(OWN_PREFIX_CONFIG)) == []
