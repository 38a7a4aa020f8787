"""interlock.yaml: the reference's behaviour, with the fixes (relative paths, env overrides, strict durations)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, find_config, load_project
from interlock.config.project import Provider
from tests.conftest import MINIMAL_CONFIG, ProjectFactory


def messages(exc: pytest.ExceptionInfo[ConfigInvalid]) -> list[str]:
    return [str(e) for e in exc.value.errors]


def test_init_style_config_loads_with_its_values(reference_project: Path) -> None:
    project = load_project(reference_project / "interlock.yaml", env={})
    cfg = project.config
    assert cfg.provider is Provider.REDIS
    assert cfg.redis is not None and cfg.redis.addr == "localhost:6379"
    assert cfg.redis.key_prefix == "interlock:"
    assert cfg.server is not None and cfg.server.addr == ":3000"
    assert len(cfg.alerts or []) == 1
    assert project.settings.redis_url == "redis://localhost:6379/0"


def test_directory_without_interlock_yaml_fails_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigInvalid) as exc:
        load_project(env={})
    assert "interlock.yaml: config file not found; run 'interlock init DIR'" in messages(exc)[0]


def test_invalid_yaml_fails_with_its_line(make_project: ProjectFactory) -> None:
    path = make_project("provider: redis\ninvalid: [yaml\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert exc.value.errors[0].message.startswith("invalid YAML")
    assert exc.value.errors[0].line == 2


def test_missing_provider_is_reported(make_project: ProjectFactory) -> None:
    path = make_project("archetypeDirs: [a]\nevaluatorDirs: [e]\npipelineDirs: [p]\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert any(e.path == "provider" and e.message == "field required" for e in exc.value.errors)


def test_redis_provider_without_redis_section_is_reported(make_project: ProjectFactory) -> None:
    path = make_project("provider: redis\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [
        ("redis", "required when provider is redis (or set INTERLOCK_REDIS_URL)")
    ]


def test_redis_section_without_addr_is_reported(make_project: ProjectFactory) -> None:
    path = make_project("provider: redis\nredis: {}\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [
        ("redis.addr", "field required (or give sentinel for a Sentinel group, or set INTERLOCK_REDIS_URL)")]


def test_dynamodb_provider_needs_its_section_and_table_name(make_project: ProjectFactory) -> None:
    base = "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project("provider: dynamodb\n" + base), env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [("dynamodb", "required when provider is dynamodb")]
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project("provider: dynamodb\ndynamodb: {region: eu-west-1}\n" + base), env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [("dynamodb.tableName", "field required")]


def test_every_missing_directory_list_is_reported_at_once(make_project: ProjectFactory) -> None:
    path = make_project("provider: redis\nredis: {addr: 'localhost:6379'}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert {e.path for e in exc.value.errors} == {"archetypeDirs", "pipelineDirs"}


def test_evaluator_dirs_is_optional(make_project: ProjectFactory) -> None:
    project = load_project(make_project(), env={})
    assert project.config.evaluator_dirs is None


def test_unsupported_provider_is_rejected_at_load(make_project: ProjectFactory) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(MINIMAL_CONFIG.replace("provider: redis", "provider: etcd")), env={})
    assert exc.value.errors[0].path == "provider"
    assert "'redis' or 'dynamodb'" in exc.value.errors[0].message


def test_defaults_are_applied(make_project: ProjectFactory) -> None:
    project = load_project(make_project(), env={})
    s = project.settings
    assert project.config.server is None  # server defaults apply where the API is built
    assert s.key_prefix == "interlock:"
    assert s.readiness_ttl == timedelta(minutes=5)
    assert s.retention_ttl == timedelta(hours=168)
    assert s.run_index_limit == 100
    assert s.event_stream_max == 10_000
    assert s.watch_interval == timedelta(seconds=30)
    assert s.stuck_run_threshold == timedelta(minutes=30)
    assert s.engine_timeout == timedelta(seconds=30)


def test_bad_watcher_interval_is_an_error_not_a_silent_default(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG + "watcher: {enabled: true, defaultInterval: bogus}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.path == "watcher.defaultInterval"
    assert error.line == 7
    assert "invalid duration 'bogus'" in error.message


def test_key_prefix_without_colon_gets_one(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG.replace("addr: localhost:6379", "addr: localhost:6379\n  keyPrefix: etl"))
    assert load_project(path, env={}).settings.key_prefix == "etl:"


def test_relative_dirs_resolve_against_the_config_file_not_the_cwd(
    reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    project = load_project(reference_project / "interlock.yaml", env={})
    assert "test-pipeline" in project.pipelines


def test_config_path_comes_from_flag_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config("x.yaml", {"INTERLOCK_CONFIG": "y.yaml"}) == Path("x.yaml")
    assert find_config(None, {"INTERLOCK_CONFIG": "y.yaml"}) == Path("y.yaml")
    assert find_config(None, {}) == tmp_path / "interlock.yaml"


def test_env_overrides_win_over_the_file(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG + "archiver: {enabled: true, dsn: 'postgres://a:b@db:5432/x'}\n")
    env = {"INTERLOCK_REDIS_URL": "redis://:pw@cache:6380/3", "INTERLOCK_DATABASE_URL": "postgresql://u@h/db"}
    settings = load_project(path, env=env).settings
    assert settings.redis_url == "redis://:pw@cache:6380/3"
    assert settings.database_url == "postgresql+psycopg2://u@h/db"
    assert load_project(path, env={}).settings.database_url == "postgresql+psycopg2://a:b@db:5432/x"


def test_redis_url_from_file_carries_password_and_db(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG.replace("addr: localhost:6379", "addr: cache:6380\n  password: 'p@ss'\n  db: 2"))
    assert load_project(path, env={}).settings.redis_url == "redis://:p%40ss@cache:6380/2"


def test_env_redis_url_satisfies_a_missing_redis_section(make_project: ProjectFactory) -> None:
    path = make_project("provider: redis\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    project = load_project(path, env={"INTERLOCK_REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert project.settings.redis_url == "redis://127.0.0.1:6379/0"


def test_missing_configured_directory_is_an_error(make_project: ProjectFactory) -> None:
    path = make_project(MINIMAL_CONFIG.replace("pipelineDirs: [./pipelines]", "pipelineDirs: [./pipelines, ./nope]"))
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.path == "pipelineDirs[1]"
    assert "does not exist" in error.message
