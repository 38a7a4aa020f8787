"""The API key: every route the app serves demands it, except exactly ``GET /api/health``.

Routes are read from the app itself (tests/security/routes.py), so a route added later is covered
without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from tests.security.routes import app_routes
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

KEY = "k3y-for-the-security-tests"
OPEN = ("GET", "/api/health")
# Values for path parameters: real names where one exists, so an authorised call reaches the handler.
SAMPLES = {"name": "orders", "trait_type": "t1", "run_id": "orders-daily-2026-03-01-1", "rerun_id": "r1",
           "date": "2026-03-01"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


def secured_client(harness: Harness, server: str) -> TestClient:
    harness.extra = f"server: {{{server}}}\n"
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    return TestClient(create_app(deps), raise_server_exceptions=False)


@pytest.fixture
def secured(harness: Harness) -> Iterator[tuple[TestClient, set[tuple[str, str, bool]]]]:
    client = secured_client(harness, f"apiKey: {KEY}")
    with client:
        yield client, app_routes(client.app)


def is_unauthorized(response: object) -> bool:
    status = getattr(response, "status_code", None)
    return status == 401 and response.json()["error"]["code"] == "unauthorized"  # type: ignore[attr-defined]


def test_the_route_list_is_the_whole_app(secured: tuple[TestClient, set[tuple[str, str, bool]]]) -> None:
    client, routes = secured
    schema = client.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert documented == {(m, p) for m, p, in_schema in routes if in_schema}
    assert {("GET", "/"), ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json")} <= {
        (m, p) for m, p, _ in routes}
    assert OPEN in {(m, p) for m, p, _ in routes}


@pytest.mark.parametrize("given", [None, "", "wrong", KEY[:-1], KEY + "x", KEY.upper(), f" {KEY}"],
                         ids=["no-header", "empty", "wrong", "prefix", "longer", "upper", "space"])
def test_every_route_but_the_health_check_refuses_a_missing_or_wrong_key(
        secured: tuple[TestClient, set[tuple[str, str, bool]]], given: str | None) -> None:
    client, routes = secured
    headers = {} if given is None else {"X-API-Key": given}
    checked = 0
    for method, path, _ in sorted(routes):
        if (method, path) == OPEN:
            continue
        response = client.request(method, concrete(path), headers=headers, json={})
        assert is_unauthorized(response), (method, path, response.status_code, response.text[:200])
        checked += 1
    assert checked == len(routes) - 1


def test_the_right_key_opens_every_route(secured: tuple[TestClient, set[tuple[str, str, bool]]]) -> None:
    client, routes = secured
    for method, path, _ in sorted(routes):
        response = client.request(method, concrete(path), headers={"X-API-Key": KEY}, json={})
        assert response.status_code != 401, (method, path)
        assert response.status_code < 500, (method, path, response.text[:200])


def test_only_get_api_health_exactly_is_open(secured: tuple[TestClient, set[tuple[str, str, bool]]]) -> None:
    client, _ = secured
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/health?verbose=1").status_code == 200  # the query string is not the path
    for method, path in [("POST", "/api/health"), ("PUT", "/api/health"), ("DELETE", "/api/health"),
                         ("HEAD", "/api/health"), ("GET", "/api/health/"), ("GET", "/api/healthz"),
                         ("GET", "/API/health"), ("GET", "/api//health"), ("GET", "/api/health/../pipelines"),
                         ("GET", "/api/pipelines/health"), ("GET", "/x/api/health"), ("GET", "/api/health%2F"),
                         ("GET", "/no/such/route"), ("OPTIONS", "/api/pipelines")]:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)
        if method != "HEAD":
            assert is_unauthorized(response), (method, path)


def test_an_unauthorised_request_changes_nothing(secured: tuple[TestClient, set[tuple[str, str, bool]]],
                                                 harness: Harness) -> None:
    client, _ = secured
    assert client.post("/api/pipelines/orders/traits/t1", json={"status": "PASS"}).status_code == 401
    assert client.delete("/api/pipelines/orders").status_code == 401
    assert client.post("/api/pipelines/orders/run").status_code == 401
    assert harness.store.get_pipeline("orders") is not None
    assert harness.store.list_events("orders", 10) == []
    assert client.app.fastapi.state.deps.dispatch.sent == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("flag, paths", [("openMetrics", ["/metrics"]), ("openStatusPage", ["/", "/pipelines/{name}"])])
def test_open_metrics_and_status_page_open_exactly_their_routes(harness: Harness, flag: str, paths: list[str]) -> None:
    with secured_client(harness, f"apiKey: {KEY}, {flag}: true") as client:
        for path in paths:
            assert client.get(concrete(path)).status_code == 200
        opened = {("GET", path) for path in paths}
        for method, other, _ in sorted(app_routes(client.app)):
            if (method, other) not in (*opened, OPEN):
                assert client.request(method, concrete(other)).status_code == 401, (method, other)
