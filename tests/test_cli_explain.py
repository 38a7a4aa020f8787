"""`interlock explain` and `GET /api/pipelines/{name}/explain` are one function: same answer, same refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.config import load_project
from interlock.steps.deps import build_deps
from tests.test_cli_pipelines import prefix, project, project_files  # noqa: F401  (fixtures)
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration


def test_explain_after_a_run_answers_triggered_in_text_and_json_and_the_api_agrees(
        project: Path) -> None:  # noqa: F811
    ran = interlock("run", "example", "--json", cwd=project)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["runId"]
    text = interlock("explain", "example", cwd=project)
    assert text.returncode == 0, text.stderr
    first, header, *timeline = text.stdout.splitlines()
    assert first.startswith("triggered at ") and f"(run {run_id}), COMPLETED at " in first
    assert header.startswith("example · schedule daily · period ")
    assert any("TRIGGER_FIRED" in line for line in timeline)
    answer = json.loads(interlock("explain", "example", "--json", cwd=project).stdout)
    assert answer["summary"] == first and answer["outcome"] == "triggered"
    api = TestClient(create_app(build_deps(load_project(project / "interlock.yaml", env={}))))
    body = api.get("/api/pipelines/example/explain", params={"period": answer["period"]}).json()
    assert (body["summary"], body["timeline"]) == (answer["summary"], answer["timeline"])


@pytest.mark.parametrize(("args", "fragment"), [
    (["ghost"], "unknown pipeline 'ghost'"),
    (["example", "--schedule", "hourly"], "has no schedule 'hourly'"),
    (["example", "--period", "2026-02-30"], "invalid period '2026-02-30'"),
    (["example", "--period", "'; DROP TABLE events; --"], "invalid period"),
])
def test_bad_input_exits_2_with_one_line(project: Path, args: list[str], fragment: str) -> None:  # noqa: F811
    result = interlock("explain", *args, cwd=project)
    assert result.returncode == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_a_period_before_registration_says_so(project: Path) -> None:  # noqa: F811
    result = interlock("explain", "example", "--period", "2001-01-01", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(
        "no records for 2001-01-01: the pipeline was not registered then (registered ")
