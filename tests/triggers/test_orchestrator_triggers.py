"""dagster and prefect triggers against a scripted HTTP server on 127.0.0.1 that answers as their APIs
document: the requests sent, the lookup before a launch, error and status mapping, bad config.
(The real servers: tests/dagster and tests/prefect.)
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from interlock.config.yamlio import parse
from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers import JobState, TriggerError, trigger_for
from interlock.triggers.dagster import RUN_ID_TAG, DagsterTrigger
from interlock.triggers.prefect import PrefectTrigger
from tests.triggers.test_http_triggers import CTX, Scripted


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.server.shutdown()
    s.server.server_close()


def dagster(url: str, **extra: Any) -> TriggerConfig:
    return TriggerConfig.model_validate({"type": "dagster", "dagster": {
        "url": url, "location_name": "loc", "job_name": "load", **extra}})


def prefect(url: str, **extra: Any) -> TriggerConfig:
    block = {"api_url": url + "/api", "deployment_id": "0b7c1a3e-1111-4222-8333-444455556666", **extra}
    return TriggerConfig.model_validate({"type": "prefect", "prefect": block})


def runs(*ids: str) -> dict[str, Any]:
    results = [{"runId": i, "status": "STARTED"} for i in ids]
    return {"data": {"runsOrError": {"__typename": "Runs", "results": results}}}


def launched(run_id: str) -> dict[str, Any]:
    return {"data": {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": run_id, "status": "QUEUED"}}}}


# ------------------------------------------------------------------------------------------------ dagster


def test_dagster_looks_the_run_up_by_tag_then_launches_it_tagged(server: Scripted,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_DAGSTER_TOKEN", "tok")
    server.answers = [(200, runs()), (200, launched("r-1"))]
    config = dagster(server.url, run_config='{"ops": {"hello": {"config": {"date": "${date}"}}}}',
                     headers={"Dagster-Cloud-Api-Token": "${INTERLOCK_DAGSTER_TOKEN}"})
    started = trigger_for(config.type).start(config, CTX)
    lookup, launch = server.requests
    assert lookup["path"] == launch["path"] == "/graphql"
    assert "runsOrError" in lookup["body"]["query"]
    assert lookup["body"]["variables"] == {"filter": {"tags": [{"key": RUN_ID_TAG, "value": CTX.run_id}]}}
    assert "launchRun" in launch["body"]["query"]
    assert launch["body"]["variables"]["executionParams"] == {
        "selector": {"repositoryLocationName": "loc", "repositoryName": "__repository__", "jobName": "load"},
        "runConfigData": {"ops": {"hello": {"config": {"date": "2026-03-02"}}}},
        "executionMetadata": {"tags": [{"key": RUN_ID_TAG, "value": CTX.run_id}]}}
    assert launch["headers"]["Dagster-Cloud-Api-Token"] == "tok"
    assert started.done is False
    assert started.metadata == {"dagster_url": server.url, "dagster_run_id": "r-1"}


def test_dagster_second_start_returns_the_tagged_run_and_launches_nothing(server: Scripted) -> None:
    server.answers = [(200, runs("newer", "first"))]  # Dagster lists newest first
    config = dagster(server.url)
    started = trigger_for(config.type).start(config, CTX)
    assert started.metadata == {"dagster_url": server.url, "dagster_run_id": "first"}
    assert len(server.requests) == 1


def test_dagster_find_is_none_for_no_tagged_run_and_the_same_started_as_start(server: Scripted) -> None:
    server.answers = [(200, runs()), (200, runs()), (200, launched("r-1")), (200, runs("r-1"))]
    trigger, config = DagsterTrigger(), dagster(server.url)
    assert trigger.find(config, CTX) is None
    started = trigger.start(config, CTX)
    assert trigger.find(config, CTX) == started


def test_dagster_find_raises_when_the_target_cannot_answer(server: Scripted) -> None:
    server.answers = [(200, {"data": {"runsOrError": {"__typename": "PythonError", "message": "db down"}}})]
    with pytest.raises(TriggerError, match="PythonError: db down") as exc:
        DagsterTrigger().find(dagster(server.url), CTX)
    assert exc.value.category is FailureCategory.TRANSIENT


@pytest.mark.parametrize(("answer", "category"), [
    ({"__typename": "PythonError", "message": "boom"}, FailureCategory.TRANSIENT),
    ({"__typename": "RunConfigValidationInvalid", "errors": [{"message": "bad date"}]}, FailureCategory.PERMANENT),
    ({"__typename": "InvalidSubsetError", "message": "no op x"}, FailureCategory.PERMANENT),
    ({"__typename": "PipelineNotFoundError", "message": "no job"}, FailureCategory.PERMANENT),
    ({"__typename": "JobNotFoundError", "message": "no job"}, FailureCategory.PERMANENT),
    ({"__typename": "UnauthorizedError", "message": "no"}, FailureCategory.PERMANENT),
    ({"__typename": "RunConflict", "message": "exists"}, FailureCategory.TRANSIENT),
])
def test_dagster_launch_errors_are_classified(server: Scripted, answer: dict[str, Any],
                                              category: FailureCategory) -> None:
    server.answers = [(200, runs()), (200, {"data": {"launchRun": answer}})]
    config = dagster(server.url)
    with pytest.raises(TriggerError, match=answer["__typename"]) as exc:
        trigger_for(config.type).start(config, CTX)
    assert exc.value.category is category
    if "errors" in answer:
        assert "bad date" in str(exc.value)


def test_dagster_graphql_errors_without_data_are_permanent(server: Scripted) -> None:
    server.answers = [(200, {"errors": [{"message": "Cannot query field 'runsOrError'"}]})]
    with pytest.raises(TriggerError, match="Cannot query field") as exc:
        DagsterTrigger().find(dagster(server.url), CTX)
    assert exc.value.category is FailureCategory.PERMANENT


@pytest.mark.parametrize(("code", "category"), [
    (401, FailureCategory.PERMANENT), (403, FailureCategory.PERMANENT), (404, FailureCategory.PERMANENT),
    (409, FailureCategory.PERMANENT), (429, FailureCategory.TRANSIENT), (500, FailureCategory.TRANSIENT),
    (502, FailureCategory.TRANSIENT), (503, FailureCategory.TRANSIENT)])
def test_dagster_http_errors_are_classified_by_status(server: Scripted, code: int, category: FailureCategory) -> None:
    server.answers = [(code, {"error": "x"})]
    config = dagster(server.url)
    with pytest.raises(TriggerError, match=f"status {code}") as exc:
        trigger_for(config.type).start(config, CTX)
    assert exc.value.category is category


@pytest.mark.parametrize(("status", "state", "category"), [
    ("QUEUED", JobState.RUNNING, None), ("NOT_STARTED", JobState.RUNNING, None),
    ("STARTING", JobState.RUNNING, None), ("STARTED", JobState.RUNNING, None),
    ("CANCELING", JobState.RUNNING, None), ("SUCCESS", JobState.SUCCEEDED, None),
    ("FAILURE", JobState.FAILED, None), ("CANCELED", JobState.FAILED, FailureCategory.PERMANENT)])
def test_dagster_status_mapping(server: Scripted, status: str, state: JobState,
                                category: FailureCategory | None) -> None:
    server.answers = [(200, {"data": {"runOrError": {"__typename": "Run", "runId": "r-1", "status": status}}})]
    config = dagster(server.url)
    got = trigger_for(config.type).status(config, {"dagster_url": server.url, "dagster_run_id": "r-1"})
    assert (got.state, got.message, got.category) == (state, status, category)
    assert server.requests[0]["body"]["variables"] == {"runId": "r-1"}


def test_dagster_status_of_a_deleted_run_is_permanent(server: Scripted) -> None:
    server.answers = [(200, {"data": {"runOrError": {"__typename": "RunNotFoundError", "message": "gone"}}})]
    config = dagster(server.url)
    with pytest.raises(TriggerError, match="RunNotFoundError") as exc:
        trigger_for(config.type).status(config, {"dagster_url": server.url, "dagster_run_id": "r-1"})
    assert exc.value.category is FailureCategory.PERMANENT


# ------------------------------------------------------------------------------------------------ prefect

FLOW_RUN = {"id": "fr-1", "state": {"type": "SCHEDULED", "name": "Scheduled", "message": None}}


def test_prefect_creates_a_flow_run_with_the_run_id_as_idempotency_key(server: Scripted,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_PREFECT_API_KEY", "pnu_key")
    server.answers = [(201, FLOW_RUN)]
    config = prefect(server.url, parameters={"date": "${date}", "limit": 10, "tags": ["${pipelineId}"]},
                     headers={"Authorization": "Bearer ${INTERLOCK_PREFECT_API_KEY}"})
    started = trigger_for(config.type).start(config, CTX)
    (create,) = server.requests
    assert create["method"] == "POST"
    assert create["path"] == "/api/deployments/0b7c1a3e-1111-4222-8333-444455556666/create_flow_run"
    assert create["body"] == {"idempotency_key": CTX.run_id, "tags": ["interlock"],
                              "parameters": {"date": "2026-03-02", "limit": 10, "tags": ["orders"]}}
    assert create["headers"]["Authorization"] == "Bearer pnu_key"
    assert started.metadata == {"prefect_api_url": server.url + "/api", "prefect_flow_run_id": "fr-1"}


def test_prefect_by_name_reads_the_deployment_first_and_sends_basic_auth(server: Scripted,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_PREFECT_AUTH", "admin:pass")
    server.answers = [(200, {"id": "dep-9", "name": "nightly"}), (200, FLOW_RUN)]
    config = TriggerConfig.model_validate({"type": "prefect", "prefect": {
        "api_url": server.url + "/api/accounts/a1/workspaces/w1", "deployment": "load orders/nightly",
        "auth_string": "${INTERLOCK_PREFECT_AUTH}", "parameters": '{"date": "${date}"}'}})
    trigger_for(config.type).start(config, CTX)
    lookup, create = server.requests
    assert (lookup["method"], lookup["path"]) == ("GET", "/api/accounts/a1/workspaces/w1/deployments/name/"
                                                          "load%20orders/nightly")
    assert create["path"] == "/api/accounts/a1/workspaces/w1/deployments/dep-9/create_flow_run"
    assert create["body"]["parameters"] == {"date": "2026-03-02"}
    basic = "Basic " + base64.b64encode(b"admin:pass").decode()
    assert lookup["headers"]["Authorization"] == create["headers"]["Authorization"] == basic


def test_prefect_second_start_gets_the_first_flow_run_back(server: Scripted) -> None:
    # Prefect answers a repeated idempotency_key with the existing flow run (200 instead of 201).
    server.answers = [(201, FLOW_RUN), (200, FLOW_RUN)]
    config = prefect(server.url)
    first = trigger_for(config.type).start(config, CTX)
    second = trigger_for(config.type).start(config, CTX)
    assert first == second
    assert [r["body"]["idempotency_key"] for r in server.requests] == [CTX.run_id, CTX.run_id]


def test_prefect_find_filters_by_idempotency_key_and_deployment(server: Scripted) -> None:
    server.answers = [(200, []), (200, [FLOW_RUN])]
    trigger, config = PrefectTrigger(), prefect(server.url)
    assert trigger.find(config, CTX) is None
    found = trigger.find(config, CTX)
    assert found is not None and found.metadata == {"prefect_api_url": server.url + "/api",
                                                    "prefect_flow_run_id": "fr-1"}
    request = server.requests[0]
    assert (request["method"], request["path"]) == ("POST", "/api/flow_runs/filter")
    assert request["body"]["flow_runs"] == {"idempotency_key": {"any_": [CTX.run_id]},
                                            "deployment_id": {"any_": ["0b7c1a3e-1111-4222-8333-444455556666"]}}


def test_prefect_find_raises_when_the_target_cannot_answer(server: Scripted) -> None:
    server.answers = [(503, {"detail": "down"})]
    with pytest.raises(TriggerError, match="status 503") as exc:
        PrefectTrigger().find(prefect(server.url), CTX)
    assert exc.value.category is FailureCategory.TRANSIENT


@pytest.mark.parametrize(("code", "category"), [
    (401, FailureCategory.PERMANENT), (403, FailureCategory.PERMANENT), (404, FailureCategory.PERMANENT),
    (409, FailureCategory.PERMANENT), (422, FailureCategory.PERMANENT), (429, FailureCategory.TRANSIENT),
    (500, FailureCategory.TRANSIENT), (503, FailureCategory.TRANSIENT)])
def test_prefect_http_errors_are_classified_by_status(server: Scripted, code: int, category: FailureCategory) -> None:
    server.answers = [(code, {"detail": "x"})]
    config = prefect(server.url)
    with pytest.raises(TriggerError, match=f"status {code}") as exc:
        trigger_for(config.type).start(config, CTX)
    assert exc.value.category is category


@pytest.mark.parametrize(("kind", "state", "category"), [
    ("SCHEDULED", JobState.RUNNING, None), ("PENDING", JobState.RUNNING, None), ("RUNNING", JobState.RUNNING, None),
    ("PAUSED", JobState.RUNNING, None), ("CANCELLING", JobState.RUNNING, None),
    ("COMPLETED", JobState.SUCCEEDED, None), ("FAILED", JobState.FAILED, None), ("CRASHED", JobState.FAILED, None),
    ("CANCELLED", JobState.FAILED, FailureCategory.PERMANENT)])
def test_prefect_status_mapping(server: Scripted, kind: str, state: JobState,
                                category: FailureCategory | None) -> None:
    server.answers = [(200, {"id": "fr-1", "state": {"type": kind, "name": kind.title(), "message": "m"}})]
    config = prefect(server.url)
    got = trigger_for(config.type).status(config, {"prefect_api_url": server.url + "/api",
                                                   "prefect_flow_run_id": "fr-1"})
    assert (got.state, got.message, got.category) == (state, f"{kind.title()}: m", category)
    assert server.requests[0]["path"] == "/api/flow_runs/fr-1"


# ------------------------------------------------------------------------------------------------ both


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fe80::1]:3000"])
def test_both_refuse_link_local_and_metadata_addresses(url: str) -> None:
    prefect_config = TriggerConfig.model_validate({"type": "prefect", "prefect": {"api_url": url, "deployment": "f/d"}})
    for config, trigger in ((dagster(url), DagsterTrigger()), (prefect_config, PrefectTrigger())):
        for call in (trigger_for(config.type).start, trigger.find):
            with pytest.raises(TriggerError, match="refusing ") as exc:
                call(config, CTX)
            assert exc.value.category is FailureCategory.PERMANENT


@pytest.mark.parametrize(("data", "path", "reason"), [
    ({"type": "dagster", "dagster": {"url": "ftp://x", "location_name": "l", "job_name": "j"}},
     "dagster.url", "not an http(s) URL"),
    ({"type": "dagster", "dagster": {"url": "http://x", "job_name": "j"}}, "dagster.location_name", "Field required"),
    ({"type": "dagster", "dagster": {"url": "http://x", "location_name": "l", "job_name": ""}},
     "dagster.job_name", "at least 1 character"),
    ({"type": "dagster", "dagster": {"url": "http://x", "location_name": "l", "job_name": "j", "run_config": "[1]"}},
     "dagster.run_config", "must be a mapping"),
    ({"type": "dagster", "dagster": {"url": "http://x", "location_name": "l", "job_name": "j",
                                     "run_config": "{ops: [}"}}, "dagster.run_config", "not JSON or YAML"),
    ({"type": "dagster", "dagster": {"url": "http://x", "location_name": "l", "job_name": "j", "job": "j"}},
     "dagster.job", "Extra inputs are not permitted"),
    ({"type": "prefect", "prefect": {"api_url": "http://x/api"}}, "prefect", "exactly one of deployment_id"),
    ({"type": "prefect", "prefect": {"api_url": "http://x/api", "deployment": "a/b", "deployment_id": "1"}},
     "prefect", "exactly one of deployment_id"),
    ({"type": "prefect", "prefect": {"api_url": "http://x/api", "deployment": "nightly"}},
     "prefect.deployment", "'<flow name>/<deployment name>'"),
    ({"type": "prefect", "prefect": {"api_url": "x/api", "deployment": "a/b"}}, "prefect.api_url", "http(s) URL"),
    ({"type": "prefect", "prefect": {"api_url": "http://x/api", "deployment": "a/b", "parameters": "7"}},
     "prefect.parameters", "must be a mapping"),
])
def test_bad_config_is_refused_at_load_with_field_path_and_reason(data: dict[str, Any], path: str,
                                                                  reason: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TriggerConfig.model_validate(data)
    (error,) = exc.value.errors()
    assert ".".join(str(p) for p in error["loc"]) == path
    assert reason in error["msg"]


def test_run_config_text_is_rendered_then_read_as_yaml_1_2(server: Scripted) -> None:
    # `{date: ${date}}` is not YAML as written ("${" in a flow mapping) but is once rendered, and the
    # rendered 2026-03-02 stays a string (YAML 1.1 would make it a date, which JSON cannot carry).
    server.answers = [(200, runs()), (200, launched("r-1"))]
    config = dagster(server.url, run_config="{ops: {hello: {config: {date: ${date}, n: 3}}}}")
    DagsterTrigger().start(config, CTX)
    run_config = server.requests[1]["body"]["variables"]["executionParams"]["runConfigData"]
    assert run_config == {"ops": {"hello": {"config": {"date": "2026-03-02", "n": 3}}}}


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_triggers(kind: str) -> list[dict[str, Any]]:
    """The ``trigger:`` examples of type ``kind`` in the README's trigger reference (one yaml block)."""
    block = next(b for b in re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.S | re.M)
                 if "# databricks" in b)
    found = [parse(chunk).data["trigger"] for chunk in block.split("\n\n") if chunk.startswith("trigger:")]
    return [t for t in found if t["type"] == kind]


@pytest.mark.parametrize("kind", ["dagster", "prefect"])
def test_the_readme_examples_load_and_start_against_a_scripted_server(
        kind: str, server: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INTERLOCK_DAGSTER_TOKEN", "INTERLOCK_PREFECT_AUTH", "INTERLOCK_PREFECT_API_KEY"):
        monkeypatch.setenv(name, "x:y")
    examples = readme_triggers(kind)
    assert len(examples) == 2  # the open-source server and the cloud service
    for example in examples:
        config = TriggerConfig.model_validate(example)
        block = config.dagster or config.prefect
        assert block is not None
        # As written, but pointed at the scripted server (the README's hosts do not resolve here).
        field = "url" if kind == "dagster" else "api_url"
        config = config.model_copy(update={kind: block.model_copy(update={field: server.url})})
        if kind == "dagster":
            server.answers = [(200, runs()), (200, launched("r-1"))]
        else:  # a deployment given by name is read first for its id
            by_name = config.prefect is not None and config.prefect.deployment is not None
            server.answers = [(200, {"id": "dep-1"})] * by_name + [(201, FLOW_RUN)]
        started = trigger_for(config.type).start(config, CTX)
        assert started.done is False and len(server.answers) == 0
        params = server.requests[-1]["body"]
        sent = params["variables"]["executionParams"]["runConfigData"] if kind == "dagster" else params["parameters"]
        assert "2026-03-02" in json.dumps(sent)
