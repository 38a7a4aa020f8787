"""Config of builtin:sql, builtin:object-exists, rules and plugin types, checked at load (exit 2 on bad input)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, load_project
from tests.conftest import OWN_PREFIX_CONFIG, ProjectFactory

ARCHETYPE = """\
name: gated
requiredTraits:
  - type: landed
readinessRule: {type: all-required-pass}
"""


def pipeline(trait: str) -> str:
    return f"name: sales\narchetype: gated\ntraits:\n  landed:\n{trait}"


def errors(make_project: ProjectFactory, trait: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    path = make_project(archetypes__a_yaml=ARCHETYPE, pipelines__p_yaml=pipeline(trait))
    try:
        load_project(path, env=env or {})
    except ConfigInvalid as exc:
        return [(e.path, e.message) for e in exc.errors]
    return []


SQL = "    evaluator: builtin:sql\n    config:\n"


def test_a_good_sql_trait_loads(make_project: ProjectFactory) -> None:
    assert errors(make_project, SQL + "      url: ${INTERLOCK_WAREHOUSE_URL}\n"
                                      "      query: select count(*) as n from sales where day = :date\n"
                                      "      rules: [{field: n, check: gte, value: 1}]\n") == []


@pytest.mark.parametrize(("config", "path", "message"), [
    ("      url: postgresql://etl:hunter2@db/warehouse\n      query: select 1\n", "traits.landed.config.url",
     "a database URL must not be written in the pipeline file (it would keep its password in clear): put it in "
     "an environment variable and write url: ${INTERLOCK_WAREHOUSE_URL}"),
    ("      url: postgresql://${INTERLOCK_USER}@db/w\n      query: select 1\n", "traits.landed.config.url",
     "a database URL must not be written in the pipeline file"),
    ("      url: ${HOME}\n      query: select 1\n", "traits.landed.config.url",
     "must be exactly one ${INTERLOCK_*} variable holding the database URL"),
    ("      query: select 1\n", "traits.landed.config.url", "required: the environment variable"),
    ("      url: ${INTERLOCK_W}\n      query: select 1; delete from sales\n", "traits.landed.config.query",
     "query must be a single statement: nothing may follow a ';'"),
    ("      url: ${INTERLOCK_W}\n      query: update sales set n = 1\n", "traits.landed.config.query",
     "query must be a read statement starting with SELECT, WITH, VALUES or TABLE; it starts with UPDATE"),
    ("      url: ${INTERLOCK_W}\n      query: \"select * from s where day = '${date}'\"\n",
     "traits.landed.config.query", "${date} in a query is never expanded"),
    ("      url: ${INTERLOCK_W}\n      query: select 1\n      quer: x\n", "traits.landed.config.quer",
     "unknown key (did you mean 'query'?); this evaluator reads: url, query, rules"),
    ("      url: ${INTERLOCK_W}\n      query: select 1 as n\n      rules: [{field: n, check: bigger, value: 1}]\n",
     "traits.landed.config.rules[0].check", "unknown check 'bigger'; one of exists, equals, in, gt, gte, lt, lte, "
                                           "age_lt, age_gt"),
    ("      url: ${INTERLOCK_W}\n      query: select 1 as n\n      rules: [{check: gte, value: 1}]\n",
     "traits.landed.config.rules[0].field", "required: the name of the value to check (e.g. rows)"),
])
def test_bad_sql_config_is_a_validation_error(make_project: ProjectFactory, config: str, path: str,
                                              message: str) -> None:
    found = errors(make_project, SQL + config)
    assert [p for p, _ in found] == [path]
    assert found[0][1].startswith(message)


OBJ = "    evaluator: builtin:object-exists\n    config:\n"


@pytest.mark.parametrize(("config", "path", "message"), [
    ("      url: s3://Bad_Bucket/x/\n", "traits.landed.config.url", "'Bad_Bucket' is not a valid S3 bucket name"),
    ("      url: s3://192.168.1.1/x/\n", "traits.landed.config.url", "it is formatted as an IP address"),
    ("      url: s3://${INTERLOCK_B}/x/\n", "traits.landed.config.url", "bucket '${INTERLOCK_B}' cannot be templated"),
    ("      url: ../../etc/passwd\n", "traits.landed.config.url", "path '../../etc/passwd' points outside the project"),
    ("      url: data/${date}/../../../x\n", "traits.landed.config.url", "points outside the project"),
    ("      url: gs://bucket/x\n", "traits.landed.config.url", "unsupported URL scheme 'gs'"),
    ("      url: data/${runId}/x\n", "traits.landed.config.url", "${runId} is not a value of the period"),
    ("      url: data/x\n      minCount: -1\n", "traits.landed.config.minCount", "must be a whole number"),
    ("      url: data/x\n      newerThan: yesterday\n", "traits.landed.config.newerThan",
     "newerThan must be period-start or a duration"),
    ("      url: data/x/\n      marker: a/_SUCCESS\n", "traits.landed.config.marker", "must be an object name"),
    ("      url: data/x/\n      rules: [{field: count, check: gte}]\n", "traits.landed.config.rules[0].value",
     "required for check gte"),
    ("      {}\n", "traits.landed.config.url", "required"),
])
def test_bad_object_exists_config_is_a_validation_error(make_project: ProjectFactory, config: str, path: str,
                                                        message: str) -> None:
    found = errors(make_project, OBJ + config)
    assert [p for p, _ in found] == [path]
    assert message in found[0][1]


def test_good_object_exists_configs_load(make_project: ProjectFactory) -> None:
    for url in ("s3://sales-landing/sales/${date}/_SUCCESS", "data/sales/${date}/*.parquet",
                "file:///srv/landing/${date}/", "/srv/landing/${scheduleId}/x.csv"):
        assert errors(make_project, OBJ + f"      url: {url}\n      newerThan: period-start\n      minBytes: 1\n") \
            == [], url


def test_rules_on_a_pushed_trait_are_checked(make_project: ProjectFactory) -> None:
    found = errors(make_project, "    config:\n      rules: [{field: count, check: gte, value: lots}]\n")
    assert found == [("traits.landed.config.rules[0].value", "gte compares numbers; got 'lots'")]


def test_rules_in_an_archetype_default_config_are_checked(make_project: ProjectFactory) -> None:
    archetype = ARCHETYPE.replace("  - type: landed\n", "  - type: landed\n    defaultConfig:\n"
                                                        "      rules: [{field: n, check: about, value: 1}]\n")
    path = make_project(archetypes__a_yaml=archetype)
    with pytest.raises(ConfigInvalid) as caught:
        load_project(path, env={})
    assert [(e.path, e.message.split(";")[0]) for e in caught.value.errors] == [
        ("requiredTraits[0].defaultConfig.rules[0].check", "unknown check 'about'")]


def test_unknown_plugin_evaluator_names_the_installed_ones(make_project: ProjectFactory) -> None:
    found = errors(make_project, "    evaluator: plugin:no-such-check\n")
    assert found[0][0] == "traits.landed.evaluator"
    assert found[0][1].startswith("unknown plugin evaluator 'no-such-check'; installed evaluator plugins "
                                  "(entry point group interlock.evaluators): ")


def test_unknown_plugin_trigger_names_the_installed_ones(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__a_yaml=ARCHETYPE,
                        pipelines__p_yaml="name: sales\narchetype: gated\ntrigger:\n  type: plugin\n"
                                          "  plugin: {name: no-such-trigger}\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_project(path, env={})
    assert [(e.path, e.message.split(";")[0]) for e in caught.value.errors] == [
        ("trigger.plugin.name", "unknown plugin trigger 'no-such-trigger'")]


def test_sql_url_variable_is_expanded_so_only_an_unset_one_warns(make_project: ProjectFactory) -> None:
    path = make_project(OWN_PREFIX_CONFIG, archetypes__a_yaml=ARCHETYPE, pipelines__p_yaml=pipeline(
        SQL + "      url: ${INTERLOCK_WAREHOUSE_URL}\n      query: select 1 as n\n"))
    unset = load_project(path, env={}).warnings
    assert [(w.path, w.message.split(";")[0]) for w in unset] == [
        ("traits.landed.config.url", "${INTERLOCK_WAREHOUSE_URL} is not set in this environment")]
    assert load_project(path, env={"INTERLOCK_WAREHOUSE_URL": "postgresql://x"}).warnings == []


def test_validate_exits_2_and_names_file_line_and_field(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__a_yaml=ARCHETYPE, pipelines__p_yaml=pipeline(
        SQL + "      url: postgresql://etl:hunter2@db/warehouse\n      query: select 1\n"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    result = subprocess.run([sys.executable, "-m", "interlock.cli", "--config", str(path), "validate"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 2
    assert "pipelines/p.yaml:7: traits.landed.config.url: a database URL must not be written" in result.stderr
    assert Path(path).parent.joinpath("pipelines/p.yaml").is_file()
