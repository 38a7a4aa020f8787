"""GET /api/pipelines/{name}/explain: the answer and the timeline as JSON; unknown things are 404 with a code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from interlock.steps.dispatch import RecordingDispatcher
from tests.api.test_api import client_for, error
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture
def api(harness: Harness) -> Iterator[tuple[TestClient, RecordingDispatcher, Harness]]:
    client, inline = client_for(harness)
    with client:
        yield client, inline, harness


def test_a_blocked_pipeline_is_explained(api: tuple[TestClient, RecordingDispatcher, Harness]) -> None:
    client, _, _ = api
    client.post("/api/pipelines/blocked/evaluate")
    body = client.get("/api/pipelines/blocked/explain").json()
    assert body["outcome"] == "not_triggered"
    assert body["summary"].startswith("not triggered: `t1` FAILed 1 time at ")
    assert [e["kind"] for e in body["timeline"]][:3] == ["WINDOW_OPENED", "TRAIT_EVALUATED", "READINESS_CHECKED"]
    assert body["timeline"][1]["status"] == "FAIL" and body["timeline"][1]["trait"] == "t1"
    assert body["dryRun"] is False and body["schedule"] == "daily"


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/api/pipelines/ghost/explain", 404, "pipeline_not_found"),
    ("/api/pipelines/orders/explain?schedule=hourly", 404, "schedule_not_found"),
    ("/api/pipelines/orders/explain?period=2026-13-01", 404, "period_not_found"),
    ("/api/pipelines/orders/explain?period=2026-03-02T0100", 404, "period_not_found"),
    ("/api/pipelines/orders/explain?period=%00", 404, "period_not_found"),
    ("/api/pipelines/orders/explain?period=" + "9" * 65, 400, "bad_request"),
])
def test_unknown_things_are_refused_with_a_stable_code(api: tuple[TestClient, RecordingDispatcher, Harness],
                                                       url: str, status: int, code: str) -> None:
    client, _, _ = api
    assert error(client.get(url)) == (status, code)
