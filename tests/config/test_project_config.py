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


SENTINEL_CONFIG = """\
provider: redis
redis:
  sentinel:
    masterName: interlock
    sentinels: ["10.0.0.1:26379", "10.0.0.2:26380"]
    password: "p@ss"
  db: 2
  minReplicasAcked: 1
  replicaAckTimeout: 250ms
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
"""


def test_a_sentinel_group_in_the_file_is_what_the_store_and_celery_use(make_project: ProjectFactory) -> None:
    from interlock.redisconn import SentinelTarget
    from workers.config import celery_config

    project = load_project(make_project(SENTINEL_CONFIG), env={})
    settings = project.settings
    assert settings.redis_sentinel == SentinelTarget("interlock", (("10.0.0.1", 26379), ("10.0.0.2", 26380)), "p@ss",
                                                     None, 2)
    assert settings.redis_url == "sentinel://:p%40ss@10.0.0.1:26379/2;sentinel://:p%40ss@10.0.0.2:26380/2"
    assert (settings.min_replicas_acked, settings.replica_ack_timeout) == (1, timedelta(milliseconds=250))
    celery = celery_config(project)
    assert celery["broker_url"] == celery["result_backend"] == settings.redis_url
    assert celery["broker_transport_options"]["master_name"] == "interlock"
    assert celery["result_backend_transport_options"]["master_name"] == "interlock"
    assert celery["broker_transport_options"]["global_keyprefix"].startswith("interlock")


def test_a_single_redis_waits_for_no_replica_by_default(make_project: ProjectFactory) -> None:
    settings = load_project(make_project(MINIMAL_CONFIG), env={}).settings
    assert settings.redis_sentinel is None and settings.min_replicas_acked == 0


def test_a_sentinel_url_in_the_environment_wins_and_may_take_the_name_from_the_file(
        make_project: ProjectFactory) -> None:
    path = make_project(SENTINEL_CONFIG)
    url = "sentinel://:pw@h1:26379;sentinel://h2:26379;sentinel://h3/0?master_name=other&sentinel_password=s3"
    target = load_project(path, env={"INTERLOCK_REDIS_URL": url}).settings.redis_sentinel
    assert target is not None
    assert (target.master_name, target.sentinels, target.password, target.sentinel_password, target.db) == \
        ("other", (("h1", 26379), ("h2", 26379), ("h3", 26379)), "pw", "s3", 0)
    assert target.transport_options() == {"master_name": "other", "sentinel_kwargs": {"password": "s3"}}
    unnamed = load_project(path, env={"INTERLOCK_REDIS_URL": "sentinel://h1:26379"}).settings.redis_sentinel
    assert unnamed is not None and unnamed.master_name == "interlock"
    # A plain redis:// URL still means one server, whatever the file says.
    plain = load_project(path, env={"INTERLOCK_REDIS_URL": "redis://cache:6379/0"}).settings
    assert plain.redis_sentinel is None and plain.redis_url == "redis://cache:6379/0"


@pytest.mark.parametrize(("url", "why"), [
    ("sentinel://h1:26379;sentinel://h2:26379", "needs the group's name: add ?master_name=NAME"),
    ("sentinel://h1:26379;redis://h2:6379?master_name=m", "part 2 ('redis://h2:6379'): every part"),
    ("sentinel://h1:port?master_name=m", "Port could not be cast to integer"),
    ("sentinel://h1:26379/zero?master_name=m", "the database must be a number"),
    ("sentinel://h1:26379?mastername=m", "unknown query parameter(s) mastername"),
    ("sentinel://:a@h1:1;sentinel://:b@h2:1?master_name=m", "disagree on the password or the database"),
])
def test_a_bad_sentinel_url_is_refused_naming_the_variable(make_project: ProjectFactory, url: str, why: str) -> None:
    path = make_project("provider: redis\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={"INTERLOCK_REDIS_URL": url})
    [error] = exc.value.errors
    assert error.file == "$INTERLOCK_REDIS_URL" and why in error.message, str(error)
    assert ":a@" not in error.message and ":b@" not in error.message  # passwords are not echoed


@pytest.mark.parametrize(("redis_yaml", "path", "why"), [
    ("{addr: 'h:6379', sentinel: {masterName: m, sentinels: ['s:26379']}}", "redis.sentinel", "not both"),
    ("{sentinel: {masterName: m, sentinels: []}}", "redis.sentinel.sentinels", "must not be empty"),
    ("{sentinel: {masterName: m, sentinels: ['s']}}", "redis.sentinel.sentinels[0]", "must match pattern"),
    ("{sentinel: {sentinels: ['s:26379']}}", "redis.sentinel.masterName", "field required"),
    ("{addr: 'h:6379', minReplicasAcked: -1}", "redis.minReplicasAcked", "greater than or equal to 0"),
    ("{addr: 'h:6379', replicaAckTimeout: 0s}", "redis.replicaAckTimeout", "must be greater than zero"),
])
def test_a_bad_sentinel_block_is_refused_with_its_field_path(make_project: ProjectFactory, redis_yaml: str,
                                                           path: str, why: str) -> None:
    config = f"provider: redis\nredis: {redis_yaml}\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(config), env={})
    assert any(e.path == path and why in e.message and e.line == 2 for e in exc.value.errors), messages(exc)
