"""The HTTP API: every route's success and error cases, auth, request ids, body limit, JSON errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.model import RunLogEntry, RunState, RunStatus
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.evaluate import evaluate
from interlock.store.base import TraitSource
from tests.api.live import serve
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

KEY = "s3cret-key"


def client_for(harness: Harness, extra_config: str = "") -> tuple[TestClient, RecordingDispatcher]:
    harness.extra = extra_config
    harness.archetype("marked", ["marker"])
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'touch ran'}\n")
    harness.pipeline("blocked", "checked", {"t1": "fail"},
                     extra="trigger:\n  type: http\n  http: {url: 'http://127.0.0.1:9/start'}\n")
    deps = harness.deps()
    inline = RecordingDispatcher()
    deps.dispatch = inline
    return TestClient(create_app(deps)), inline


@pytest.fixture
def api(harness: Harness) -> Iterator[tuple[TestClient, RecordingDispatcher, Harness]]:
    client, inline = client_for(harness)
    with client:
        yield client, inline, harness


def error(response: httpx.Response) -> tuple[int, str]:
    body: dict[str, Any] = response.json()
    assert set(body["error"]) >= {"code", "message"}
    return response.status_code, body["error"]["code"]


def test_health_answers_ok(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.headers["x-request-id"]


def test_list_and_get_pipelines(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    assert sorted(p["name"] for p in client.get("/api/pipelines").json()) == ["blocked", "orders"]
    assert client.get("/api/pipelines/orders").json()["trigger"] == {
        "type": "command", "command": {"command": "touch ran"}}
    assert error(client.get("/api/pipelines/ghost")) == (404, "pipeline_not_found")


def test_register_a_pipeline_and_delete_it(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, harness = api
    body = {"name": "refunds", "archetype": "checked", "traits": {"t1": {"evaluator": "pass"}},
            "trigger": {"type": "http", "http": {"url": "http://127.0.0.1:9/go"}}}
    created = client.post("/api/pipelines", json=body)
    assert created.status_code == 201 and created.json()["trigger"]["http"]["url"] == "http://127.0.0.1:9/go"
    assert harness.store.get_pipeline("refunds").archetype == "checked"
    assert harness.store.due_at("advance:refunds:daily") is not None  # the workers will look at it
    assert client.delete("/api/pipelines/refunds").status_code == 204
    assert error(client.get("/api/pipelines/refunds")) == (404, "pipeline_not_found")


def test_time_values_come_back_exactly_as_they_were_sent(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, harness = api
    body = {"name": "refunds", "archetype": "checked", "traits": {"t1": {"evaluator": "pass"}},
            "trigger": {"type": "http", "pollInterval": "1h30m", "http": {"url": "http://127.0.0.1:9/go"}},
            "sla": {"evaluationDeadline": "8:00", "completionDeadline": "+90m", "timezone": "Europe/London",
                    "atRiskLeadTime": "90s"},
            "watch": {"interval": "60s"}, "schedules": [{"name": "m", "after": "6:00", "timezone": "UTC"}]}
    assert client.post("/api/pipelines", json=body).json() == body
    assert client.get("/api/pipelines/refunds").json() == body
    assert harness.store.get_pipeline("refunds").to_json() == body


@pytest.mark.parametrize(("body", "code", "fragment"), [
    ({"name": "Bad Name", "archetype": "checked"}, "invalid_pipeline", "name"),
    ({"name": "x1", "archetype": "nope"}, "invalid_pipeline", "unknown archetype 'nope'"),
    ({"name": "x1", "archetype": "checked", "traits": {"t2": {}}}, "invalid_pipeline", "trait not defined"),
    ({"name": "x1", "archetype": "checked", "trigger": {"type": "airflow", "airflow": {"url": "http://a"}}},
     "invalid_pipeline", "dag_id"),
    ({"name": "x1", "archetype": "checked", "trigger": {"type": "command", "command": "rm -rf /"}},
     "command_trigger_forbidden", "pipeline files"),
    ({"name": "x1", "archetype": "checked", "colour": "blue"}, "invalid_pipeline", "colour"),
    # An overlong duration raised OverflowError out of validation: a 500.
    ({"name": "x1", "archetype": "checked", "watch": {"interval": "99999999999999999999h"}},
     "invalid_pipeline", "out of range"),
    ({"name": "x1", "archetype": "checked", "schedules": [{"name": "s", "after": 905}]},
     "invalid_pipeline", "valid string"),
])
def test_bad_registrations_are_400_with_a_reason_and_change_nothing(
    api: tuple[TestClient, RecordingDispatcher, Harness], body: dict[str, Any], code: str, fragment: str
) -> None:
    client, _, harness = api
    response = client.post("/api/pipelines", json=body)
    assert error(response) == (400, code)
    assert fragment in response.text
    assert sorted(p.name for p in harness.store.list_pipelines()) == ["blocked", "orders"]


def test_malformed_json_is_a_400_not_a_500(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    response = client.post("/api/pipelines", content=b"{not json", headers={"Content-Type": "application/json"})
    assert error(response) == (400, "bad_request")


def test_evaluate_and_readiness(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    assert error(client.get("/api/pipelines/blocked/readiness")) == (404, "readiness_not_found")
    result = client.post("/api/pipelines/blocked/evaluate").json()
    assert (result["status"], result["blocking"]) == ("NOT_READY", ["t1"])
    assert client.get("/api/pipelines/blocked/readiness").json()["status"] == "NOT_READY"
    assert error(client.post("/api/pipelines/ghost/evaluate")) == (404, "pipeline_not_found")


def test_push_stores_the_result_and_asks_for_evaluation_at_once(
    api: tuple[TestClient, RecordingDispatcher, Harness]
) -> None:
    client, inline, _ = api
    assert client.get("/api/pipelines/orders/traits").json() == []  # [], never null
    pushed = client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS", "value": {"rows": 3}})
    assert pushed.status_code == 201 and pushed.json()["source"] == "push"
    assert inline.sent == [("advance", {"pipeline": "orders", "schedule": "daily"})]
    assert client.get("/api/pipelines/orders/traits/marker").json()["value"] == {"rows": 3}
    assert error(client.get("/api/pipelines/orders/traits/other")) == (404, "trait_not_found")


@pytest.mark.parametrize(("path", "body", "expected"), [
    ("/api/pipelines/ghost/traits/marker", {"status": "PASS"}, (404, "pipeline_not_found")),
    ("/api/pipelines/orders/traits/marker", {"status": "MAYBE"}, (400, "bad_request")),
    ("/api/pipelines/orders/traits/marker", {"status": "PASS", "ttl": -1}, (400, "bad_request")),
    ("/api/pipelines/orders/traits/nope", {"status": "PASS"}, (400, "invalid_push")),
])
def test_bad_pushes_store_nothing(api: tuple[TestClient, RecordingDispatcher, Harness], path: str,
                                  body: dict[str, Any], expected: tuple[int, str]) -> None:
    client, inline, harness = api
    assert error(client.post(path, json=body)) == expected
    assert inline.sent == [] and harness.store.get_traits("orders", TraitSource.PUSH) == []


def test_run_really_triggers_and_completes_a_command(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, harness = api
    client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS"})
    result = client.post("/api/pipelines/orders/run").json()
    assert result["outcome"] == "triggered" and result["run"]["status"] == "COMPLETED"
    assert (harness.root / "ran").exists()
    run_id = result["run"]["runId"]
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "COMPLETED"
    assert [r["runId"] for r in client.get("/api/pipelines/orders/runs").json()] == [run_id]
    (log,) = client.get("/api/pipelines/orders/runlogs").json()
    assert client.get(f"/api/pipelines/orders/runlogs/{log['date']}").json()["runId"] == run_id
    assert error(client.get("/api/pipelines/orders/runlogs/1999-01-01")) == (404, "runlog_not_found")
    assert client.post("/api/pipelines/orders/run").json()["outcome"] == "done"  # once per period
    kinds = [e["kind"] for e in client.get("/api/pipelines/orders/events?limit=100").json()]
    assert "TRIGGER_FIRED" in kinds


@pytest.mark.parametrize(("path", "body"), [
    ("/api/pipelines/orders/run?schedule=bogus", None),  # was 200 "outcome": "unknown"
    ("/api/pipelines/orders/evaluate?schedule=bogus", None),
    ("/api/pipelines/orders/rerun", {"reason": "late data", "schedule": "bogus"}),
])
def test_an_unknown_schedule_is_a_404_and_changes_nothing(api: tuple[TestClient, RecordingDispatcher, Harness],
                                                          path: str, body: dict[str, Any] | None) -> None:
    client, inline, harness = api
    client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS"})  # READY: a run would start
    inline.sent.clear()
    response = client.post(path, json=body)
    assert error(response) == (404, "schedule_not_found")
    assert response.json()["error"]["message"] == "pipeline 'orders' has no schedule 'bogus' (it has: daily)"
    assert inline.sent == []
    assert harness.store.list_runs("orders", 10) == [] and harness.store.list_reruns("orders", 10) == []
    assert not (harness.root / "ran").exists()


def test_completion_callback(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, harness = api


    now = datetime.now(UTC)
    harness.store.put_run(RunState(run_id="blocked-daily-x-1", pipeline_id="blocked", status=RunStatus.RUNNING,
                                   version=1, created_at=now, updated_at=now,
                                   metadata={"scheduleId": "daily", "period": "x", "attempt": 1}))
    assert error(client.post("/api/runs/blocked-daily-x-1/complete", json={"status": "maybe"})) == (400, "bad_request")
    done = client.post("/api/runs/blocked-daily-x-1/complete", json={"status": "success", "metadata": {"rows": 5}})
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    assert done.json()["metadata"]["rows"] == 5
    again = client.post("/api/runs/blocked-daily-x-1/complete", json={"status": "success"})
    assert error(again) == (409, "invalid_transition")
    assert error(client.post("/api/runs/ghost/complete", json={"status": "success"})) == (404, "run_not_found")


def test_rerun_request_list_and_complete(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, inline, _ = api
    created = client.post("/api/pipelines/orders/rerun", json={"reason": "late data", "date": "2026-03-01"})
    assert created.status_code == 202
    rerun_id = created.json()["rerunId"]
    assert ("rerun", {"rerun_id": rerun_id}) in inline.sent
    assert [r["rerunId"] for r in client.get("/api/pipelines/orders/reruns").json()] == [rerun_id]
    assert [r["rerunId"] for r in client.get("/api/reruns").json()] == [rerun_id]
    assert error(client.post(f"/api/reruns/{rerun_id}/complete", json={"status": "success"})) == (
        409, "invalid_transition")  # still PENDING: nothing started yet
    assert error(client.post("/api/pipelines/orders/rerun", json={})) == (400, "bad_request")
    assert error(client.post("/api/reruns/ghost/complete", json={"status": "success"})) == (404, "rerun_not_found")


def test_a_rerun_without_new_data_is_409_until_forced(
        api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, harness = api
    assert client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS"}).status_code == 201
    ran_at = datetime.now(UTC) + timedelta(seconds=1)  # the run started after that push
    harness.store.put_run_log(RunLogEntry(pipeline_id="orders", date="2026-03-01", status=RunStatus.COMPLETED,
                                          attempt_number=1, run_id="orders-daily-2026-03-01-1", started_at=ran_at,
                                          updated_at=ran_at))
    ask = {"reason": "late data", "date": "2026-03-01"}
    refused = client.post("/api/pipelines/orders/rerun", json=ask)
    assert error(refused) == (409, "rerun_without_new_data")
    message = refused.json()["error"]["message"]
    assert "orders-daily-2026-03-01-1" in message and "the newest trait result is from" in message
    assert client.get("/api/pipelines/orders/reruns").json() == []
    assert error(client.post("/api/pipelines/orders/rerun", json={**ask, "force": "yes"})) == (400, "bad_request")
    forced = client.post("/api/pipelines/orders/rerun", json={**ask, "force": True})
    assert forced.status_code == 202 and forced.json()["metadata"]["forced"] is True


def test_unknown_routes_and_methods_are_json(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    assert error(client.get("/api/nope")) == (404, "not_found")
    assert error(client.put("/api/health")) == (405, "method_not_allowed")


def test_openapi_documents_every_route(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert len([m for p in paths.values() for m in p]) == 22  # with GET .../explain


@pytest.fixture
def secured(harness: Harness) -> Iterator[TestClient]:
    client, _ = client_for(harness, f"server: {{apiKey: {KEY}, maxRequestBody: 2048}}\n")
    with client:
        yield client


def test_api_key_is_required_except_for_the_health_check_exactly(secured: TestClient) -> None:
    assert secured.get("/api/health").status_code == 200
    denied = secured.get("/api/pipelines")
    assert error(denied) == (401, "unauthorized") and denied.headers["x-request-id"]
    assert error(secured.get("/api/pipelines/health")) == (401, "unauthorized")  # the reference let this through
    assert secured.get("/api/pipelines", headers={"X-API-Key": KEY}).status_code == 200
    assert error(secured.get("/api/pipelines", headers={"X-API-Key": "wrong"})) == (401, "unauthorized")


def test_request_ids_are_echoed_when_sane_and_replaced_when_not(secured: TestClient) -> None:
    assert secured.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    replaced = secured.get("/api/health", headers={"X-Request-ID": "bad id\r\nX-Injected: 1"})
    assert replaced.headers["x-request-id"] != "bad id" and len(replaced.headers["x-request-id"]) == 16


def test_an_oversize_valid_json_body_is_413(secured: TestClient) -> None:
    body = {"name": "big", "archetype": "checked", "padding": "x" * 5000}
    response = secured.post("/api/pipelines", json=body, headers={"X-API-Key": KEY})
    assert error(response) == (413, "request_too_large")


def test_interlock_serve_answers_over_real_http(harness: Harness) -> None:
    harness.archetype("checked", ["t1"])
    harness.pipeline("blocked", "checked", {"t1": "fail"})
    with serve(harness) as base:
        names = [p["name"] for p in httpx.get(f"{base}/api/pipelines").json()]
    assert names == ["blocked"]


def test_steps_behind_the_routes_are_the_shared_ones(harness: Harness) -> None:
    # The API runs the same steps: a pipeline evaluated by the step shows in the API's readiness.
    client, _ = client_for(harness)
    with client:
        deps = client.app.fastapi.state.deps  # type: ignore[attr-defined]
        evaluate(deps, "blocked")
        assert client.get("/api/pipelines/blocked/readiness").json()["blocking"] == ["t1"]
