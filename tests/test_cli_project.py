"""`interlock init`, `validate`, `--version` and `--help`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from interlock import __version__


def interlock(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "interlock.cli", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60, check=False,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_init_creates_a_project_that_validates(tmp_path: Path) -> None:
    result = interlock("init", "etl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "etl"
    for name in ("interlock.yaml", "archetypes/batch-ingestion.yaml", "pipelines/example.yaml",
                 "calendars/weekends.yaml", "evaluators/check-source-freshness"):
        assert (project / name).is_file(), name
    assert os.access(project / "evaluators" / "check-upstream", os.X_OK)
    check = interlock("validate", cwd=project)
    assert check.returncode == 0, check.stderr
    assert "is valid: 1 pipeline, 3 archetypes, 1 calendar, 1 alert sink" in check.stdout


def test_init_example_evaluators_all_pass_on_a_fresh_project(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    for name, config in (
        ("check-source-freshness", {"path": "data/orders.csv", "maxLagSeconds": 86400}),
        ("check-upstream", {"markerDir": "data/markers", "upstreams": []}),
        ("check-disk-space", {"path": "data", "minFreeMb": 10}),
    ):
        request = json.dumps({"pipelineId": "example", "traitType": name, "config": config})
        run = subprocess.run([str(project / "evaluators" / name)], input=request, cwd=project,
                             capture_output=True, text=True, timeout=30, check=True)
        assert json.loads(run.stdout)["status"] == "PASS", (name, run.stdout)


def test_init_upstream_evaluator_fails_until_the_marker_exists(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    request = json.dumps({"pipelineId": "example", "traitType": "upstream-dependency",
                          "config": {"markerDir": "data/markers", "upstreams": ["raw"]}})
    evaluator = str(project / "evaluators" / "check-upstream")

    def status() -> str:
        run = subprocess.run([evaluator], input=request, cwd=project, capture_output=True, text=True, check=True)
        return str(json.loads(run.stdout)["status"])

    assert status() == "FAIL"
    (project / "data" / "markers" / "raw.done").touch()
    assert status() == "PASS"


def test_init_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    (project / "pipelines" / "example.yaml").write_text("name: mine\narchetype: batch-ingestion\n")
    before = snapshot(project)
    again = interlock("init", str(project))
    assert again.returncode == 2
    assert "already holds a project" in again.stderr
    assert snapshot(project) == before


def test_validate_exits_2_with_every_error_on_its_own_line_and_changes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    (project / "pipelines" / "broken.yaml").write_text(
        "name: broken\narchetype: batch-ingestion\ntrigger:\n  type: airflow\n  airflow:\n    url: http://a\n"
        "schedules:\n  - name: h\n    timezone: Mars/Base\n"
    )
    before = snapshot(project)
    result = interlock("validate", cwd=project)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "pipelines/broken.yaml:5: trigger.airflow.dag_id: field required" in lines
    assert any(line.startswith("pipelines/broken.yaml:9: schedules[0].timezone: unknown time zone 'Mars/Base'")
               for line in lines)
    assert lines[-1].startswith("2 configuration errors")
    assert snapshot(project) == before


def test_validate_json_lists_errors_as_objects(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    (project / "pipelines" / "broken.yaml").write_text("name: broken\narchetype: batch-ingestion\ntier: high\n")
    result = interlock("validate", "--json", cwd=project)
    assert result.returncode == 2
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["errors"] == [{"file": "pipelines/broken.yaml", "line": 3, "path": "tier",
                               "message": "expected an integer, got the string 'high'"}]


def test_config_comes_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    config = str(project / "interlock.yaml")
    assert interlock("--config", config, "validate", cwd=tmp_path).returncode == 0
    assert interlock("validate", cwd=tmp_path, env={"INTERLOCK_CONFIG": config}).returncode == 0
    missing = interlock("validate", cwd=tmp_path)
    assert missing.returncode == 2
    assert "config file not found; run 'interlock init DIR'" in missing.stderr


def test_version_and_help() -> None:
    assert interlock("--version").stdout.strip() == f"interlock version {__version__}"
    helptext = interlock("--help").stdout
    for command in ("init", "validate"):
        assert command in helptext
    assert interlock("validate", "--help").returncode == 0


def test_unknown_command_is_bad_input() -> None:
    result = interlock("frobnicate")
    assert result.returncode == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_validate_prints_warnings_in_the_error_format_and_exits_0_and_strict_exits_2(tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    example = project / "pipelines" / "example.yaml"
    example.write_text(example.read_text().replace("archetype: batch-ingestion\n",
                                                   "archetype: batch-ingestion\ntier: 2\n"))
    (project / "pipelines" / "README.md").write_text("# our pipelines\n")
    before = snapshot(project)

    loose = interlock("validate", cwd=project)
    assert loose.returncode == 0, loose.stderr
    assert "is valid: 1 pipeline" in loose.stdout
    lines = loose.stderr.splitlines()
    assert "pipelines/README.md: skipped: not a .yaml or .yml file" in lines
    assert any(line.startswith("pipelines/example.yaml:5: tier: accepted for compatibility with the reference "
                               "and ignored") for line in lines)
    assert lines[-1] == "2 warnings; 'interlock validate --strict' treats them as errors"

    strict = interlock("validate", "--strict", cwd=project)
    assert strict.returncode == 2
    assert "pipelines/README.md: skipped: not a .yaml or .yml file" in strict.stderr.splitlines()
    assert strict.stderr.splitlines()[-1].startswith("2 configuration errors")

    body = json.loads(interlock("validate", "--json", cwd=project).stdout)
    assert body["valid"] is True
    assert {"file": "pipelines/README.md", "line": None, "path": "",
            "message": "skipped: not a .yaml or .yml file"} in body["warnings"]
    strict_body = json.loads(interlock("validate", "--json", "--strict", cwd=project).stdout)
    assert strict_body["valid"] is False
    assert len(strict_body["errors"]) == 2
    assert strict_body["warnings"] == []
    assert snapshot(project) == before


def test_validate_strict_fails_on_an_unset_interlock_variable_that_the_deployment_may_still_set(
        tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    (project / "pipelines" / "orders.yaml").write_text(
        "name: orders\narchetype: batch-ingestion\ntrigger:\n  type: http\n  http:\n"
        "    url: http://127.0.0.1:9/start\n    headers: {Authorization: 'Bearer ${INTERLOCK_JOBS_TOKEN}'}\n")
    warning = ("pipelines/orders.yaml:7: trigger.http.headers.Authorization: ${INTERLOCK_JOBS_TOKEN} is not set "
               "in this environment; the trigger fails at fire time unless it is set where the workers run")
    loose = interlock("validate", cwd=project)
    assert loose.returncode == 0, loose.stderr
    assert warning in loose.stderr.splitlines()
    strict = interlock("validate", "--strict", cwd=project)
    assert strict.returncode == 2
    assert warning in strict.stderr.splitlines()
    assert interlock("validate", "--strict", cwd=project, env={"INTERLOCK_JOBS_TOKEN": "t0k3n"}).returncode == 0


def test_validate_refuses_a_pipeline_linked_to_a_file_outside_the_project_without_quoting_it(
        tmp_path: Path) -> None:
    project = tmp_path / "etl"
    assert interlock("init", str(project)).returncode == 0
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$not-for-errors:20228:0:99999:7:::\n")
    (project / "pipelines" / "shadow.yaml").symlink_to(secret)
    result = interlock("validate", cwd=project)
    assert result.returncode == 2
    assert f"pipelines/shadow.yaml: a link to {secret}, outside the project directory" in result.stderr
    assert "not-for-errors" not in result.stderr + result.stdout


def test_init_writes_a_key_prefix_of_the_projects_own_and_validate_warns_on_the_bare_default(tmp_path: Path) -> None:
    assert interlock("init", str(tmp_path / "etl")).returncode == 0
    config = (tmp_path / "etl" / "interlock.yaml").read_text()
    assert 'keyPrefix: "interlock:etl:"' in config
    assert interlock("validate", "--strict", cwd=tmp_path / "etl").returncode == 0

    (tmp_path / "etl" / "interlock.yaml").write_text(config.replace('"interlock:etl:"', '"interlock:"'))
    loose = interlock("validate", cwd=tmp_path / "etl")
    assert loose.returncode == 0, loose.stderr
    assert any(line.startswith("interlock.yaml:6: redis.keyPrefix: the key prefix is the shared default "
                               "'interlock:'") for line in loose.stderr.splitlines()), loose.stderr
    assert interlock("validate", "--strict", cwd=tmp_path / "etl").returncode == 2


def test_init_refuses_a_name_that_cannot_be_part_of_a_key_prefix(tmp_path: Path) -> None:
    for args in (["init", str(tmp_path / "a b")], ["init", str(tmp_path / "x"), "--name", "a:b"],
                 ["init", str(tmp_path / "y"), "--name", ""], ["init", str(tmp_path / "z"), "--name", "-x"]):
        result = interlock(*args)
        assert result.returncode == 2, args
        assert "cannot name a project" in result.stderr
    assert list(tmp_path.iterdir()) == []
    named = interlock("init", str(tmp_path / "w"), "--name", "sales.eu")
    assert named.returncode == 0, named.stderr
    assert 'keyPrefix: "interlock:sales.eu:"' in (tmp_path / "w" / "interlock.yaml").read_text()


@pytest.mark.integration
def test_two_inited_projects_on_one_redis_do_not_see_each_others_pipelines_or_runs(tmp_path: Path) -> None:
    import redis

    tag = uuid.uuid4().hex[:8]
    alpha, beta = tmp_path / f"alpha-{tag}", tmp_path / f"beta-{tag}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        for project in (alpha, beta):  # both hold the same example pipeline, as two fresh projects do
            assert interlock("init", str(project)).returncode == 0
        ran = interlock("run", "example", "--json", cwd=alpha)
        assert ran.returncode == 0, ran.stderr
        run_id = json.loads(ran.stdout)["runId"]
        assert run_id

        mine = json.loads(interlock("status", "--json", cwd=alpha).stdout)
        assert [(row["pipelineId"], row["runId"]) for row in mine] == [("example", run_id)]
        theirs = interlock("status", "--json", cwd=beta)
        assert theirs.returncode == 0, theirs.stderr
        assert [(row["pipelineId"], row["runId"]) for row in json.loads(theirs.stdout)] == [("example", None)]
        events = interlock("events", "example", "--json", cwd=beta)
        assert events.returncode == 0, events.stderr
        assert json.loads(events.stdout) == []
    finally:
        for project in (alpha, beta):
            for key in client.scan_iter(match=f"interlock:{project.name}:*"):
                client.delete(key)
