"""What an API key holder can make the workers do by registering a pipeline.

Pipeline *files* are trusted (whoever writes them chooses what runs on the workers). A pipeline
sent to ``POST /api/pipelines`` is not: it may not run a command trigger (tests/api/test_api.py),
may not name an executable evaluator outside the project's ``evaluatorDirs`` — ``/bin/sh`` fed a
trait config holding ``$(...)`` ran that command on the evaluation worker — and may not reference
``${INTERLOCK_*}`` secrets, which it could otherwise send to a URL of its choosing (or, as a
``builtin:sql`` url, use to read a database such as the archive); ``builtin:object-exists`` may only
look in S3, not at the workers' files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

KEY = "registration-key"


@pytest.fixture
def api(harness: Harness) -> Iterator[tuple[TestClient, Harness]]:
    harness.extra = f"server: {{apiKey: {KEY}}}\n"
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"})
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    with TestClient(create_app(deps), headers={"X-API-Key": KEY}) as client:
        yield client, harness


def register(client: TestClient, evaluator: str, config: dict[str, Any] | None = None,
             trigger: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"name": "sent", "archetype": "checked",
                            "traits": {"t1": {"evaluator": evaluator, "config": config or {}}}}
    if trigger:
        body["trigger"] = trigger
    return client.post("/api/pipelines", json=body)


@pytest.mark.parametrize("evaluator", ["/bin/sh", "sh", "bash", "python3", "env", "./evaluators/../../../../bin/sh",
                                       "evaluators/../../../../../usr/bin/env", "/usr/bin/env"])
def test_an_executable_outside_the_evaluator_dirs_is_refused_and_never_runs(
        api: tuple[TestClient, Harness], tmp_path: Path, evaluator: str) -> None:
    client, harness = api
    marker = tmp_path / "pwned"
    response = register(client, evaluator, {"x": f"$(touch {marker})", "y": f"`touch {marker}`"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "evaluator_forbidden"
    assert [p.name for p in harness.store.list_pipelines()] == ["orders"]
    assert client.post("/api/pipelines/sent/evaluate").status_code == 404
    assert not marker.exists()


def test_sh_as_an_evaluator_runs_what_a_trait_config_smuggles_in(tmp_path: Path) -> None:
    # Why the rule exists: the evaluator gets the request JSON on stdin, and sh expands $(...) in it.
    from interlock.evaluators.base import EvaluationRequest
    from interlock.evaluators.subprocess import SubprocessEvaluator

    marker = tmp_path / "pwned"
    SubprocessEvaluator("/bin/sh", tmp_path, environ={"PATH": "/usr/bin:/bin"}).evaluate(
        EvaluationRequest("sent", "t1", {"x": f"$(touch {marker})"}), 5)
    assert marker.exists()


@pytest.mark.parametrize("evaluator", ["pass", "./evaluators/pass", "builtin:sensor-freshness",
                                       "http://127.0.0.1:9/check", "push", ""])
def test_the_projects_own_builtin_http_and_push_evaluators_are_allowed(api: tuple[TestClient, Harness],
                                                                      evaluator: str) -> None:
    client, harness = api
    response = register(client, evaluator)
    assert response.status_code == 201, response.text
    assert harness.store.get_pipeline("sent").traits["t1"].evaluator == evaluator  # type: ignore[index,union-attr]


@pytest.mark.parametrize("where", ["url", "headers", "body"])
def test_a_trigger_sent_over_the_api_cannot_reference_a_secret(api: tuple[TestClient, Harness],
                                                               monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    client, harness = api
    monkeypatch.setenv("INTERLOCK_AIRFLOW_PASSWORD", "operator-secret")
    http: dict[str, Any] = {"url": "http://127.0.0.1:9/collect"}
    reference = "${INTERLOCK_AIRFLOW_PASSWORD}"
    if where == "url":
        http["url"] += f"?p={reference}"
    elif where == "headers":
        http["headers"] = {"X-Steal": reference}
    else:
        http["body"] = f'{{"p": "{reference}"}}'
    response = register(client, "pass", trigger={"type": "http", "http": http})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "secret_reference_forbidden"
    assert "operator-secret" not in response.text
    assert [p.name for p in harness.store.list_pipelines()] == ["orders"]


def test_builtin_sql_sent_over_the_api_cannot_name_a_database_secret(api: tuple[TestClient, Harness],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client, harness = api
    monkeypatch.setenv("INTERLOCK_DATABASE_URL", "postgresql://archive:operator-secret@127.0.0.1/archive")
    response = register(client, "builtin:sql", {"url": "${INTERLOCK_DATABASE_URL}", "query": "select * from runs"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "secret_reference_forbidden"
    assert "operator-secret" not in response.text
    assert [p.name for p in harness.store.list_pipelines()] == ["orders"]


@pytest.mark.parametrize("url", ["/etc/*", "file:///root/**", "../../*", "data/*.csv"])
def test_object_exists_sent_over_the_api_cannot_look_at_the_workers_files(api: tuple[TestClient, Harness],
                                                                         url: str) -> None:
    client, harness = api
    response = register(client, "builtin:object-exists", {"url": url})
    assert response.status_code == 400 and response.json()["error"]["code"] == "evaluator_forbidden"
    assert [p.name for p in harness.store.list_pipelines()] == ["orders"]


def test_object_exists_on_s3_can_be_registered_over_the_api(api: tuple[TestClient, Harness]) -> None:
    client, _ = api
    response = register(client, "builtin:object-exists", {"url": "s3://sales-landing/${date}/_SUCCESS"})
    assert response.status_code == 201, response.text
