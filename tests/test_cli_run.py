"""`interlock run` and `POST /api/pipelines/{name}/run` are one step (run_now) and answer with the same run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.config import load_project
from interlock.steps.deps import build_deps
from tests.test_cli_pipelines import prefix, project, project_files  # noqa: F401  (fixtures)
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration

SCHEDULES = ("schedules:\n  - {name: early, after: '0:00', timezone: UTC}\n"
             "  - {name: late, after: '0:00', timezone: UTC}\n")


def cli_run(root: Path, schedule: str) -> dict[str, str]:
    result = interlock("run", "example", "--schedule", schedule, "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def test_api_and_cli_run_answer_with_this_schedules_run_when_another_schedule_ran_since(
        project: Path) -> None:  # noqa: F811
    with (project / "pipelines" / "example.yaml").open("a") as f:
        f.write(SCHEDULES)
    early = cli_run(project, "early")
    assert (early["outcome"], early["status"]) == ("triggered", "COMPLETED")
    time.sleep(0.01)  # the late run is the pipeline's newest by its creation time
    late = cli_run(project, "late")
    assert late["runId"] != early["runId"]

    api = TestClient(create_app(build_deps(load_project(project / "interlock.yaml", env={}))))
    answer = api.post("/api/pipelines/example/run", params={"schedule": "early"}).json()
    again = cli_run(project, "early")
    assert (answer["outcome"], again["outcome"]) == ("done", "done")
    assert answer["run"]["runId"] == again["runId"] == early["runId"]  # not the pipeline's latest run
    assert answer["scheduleId"] == again["scheduleId"] == "early"


def test_run_of_a_failing_job_says_why_on_stdout_and_in_json_and_exits_non_zero(project: Path) -> None:  # noqa: F811
    example = project / "pipelines" / "example.yaml"
    example.write_text(example.read_text().replace(
        "command: \"echo 'Pipeline executed successfully'\"",
        "command: {command: \"sh -c 'echo disk quota exceeded >&2; exit 3'\", shell: false}"))
    shown = interlock("run", "example", "--wait", "--timeout", "30", cwd=project)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "FAILED" in shown.stdout
    assert "failed (TRANSIENT)" in shown.stdout and "disk quota exceeded" in shown.stdout

    answer = json.loads(interlock("run", "example", "--json", cwd=project).stdout)
    assert answer["status"] == "FAILED"
    assert answer["failureCategory"] == "TRANSIENT"
    assert "disk quota exceeded" in answer["failureMessage"]
    assert "exited with status 3" in answer["failureMessage"]
    listed = json.loads(interlock("status", "example", "--json", cwd=project).stdout)
    assert listed[0]["failureCategory"] == "TRANSIENT"
    assert "disk quota exceeded" in listed[0]["failureMessage"]
    page = TestClient(create_app(build_deps(load_project(project / "interlock.yaml", env={})))).get("/").text
    assert "TRANSIENT: command exited with status 3: disk quota exceeded" in page
