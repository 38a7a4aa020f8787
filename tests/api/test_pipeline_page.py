"""A pipeline's page, in-process: the timeline, the shadow badge, escaping, refusals and the API key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.model import PipelineConfig
from interlock.steps.advance import advance
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.push import push_trait
from tests.api.test_api import error
from tests.steps.conftest import Harness, harness

__all__ = ["harness"]  # the steps' harness (memory and Redis) over this folder's Redis-only one

TRIGGER = "trigger:\n  type: command\n  command: {command: 'true'}\n"


def deployment(harness: Harness, extra: str = "") -> TestClient:
    harness.extra = extra
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": None}, extra=TRIGGER)
    deps = InlineDispatcher(harness.deps(), only={"trigger", "advance"}).deps
    push_trait(deps, "orders", "t1", "FAIL", reason="<script>alert(1)</script> late")
    advance(deps, "orders", "daily")
    return TestClient(create_app(deps))


def test_the_page_draws_the_period_and_escapes_what_evaluators_said(harness: Harness) -> None:
    with deployment(harness) as client:
        page = client.get("/pipelines/orders")
        overview = client.get("/").text
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'id="answer">not triggered: `t1` FAILed 1 time at ' in html
    assert html.count('class="mark FAIL"') == 1 and 'class="verdict"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; late" in html
    assert "SHADOW" not in html
    assert '<a href="/pipelines/orders"><b>orders</b></a>' in overview


def test_a_pipeline_in_shadow_mode_carries_the_badge(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    client = deployment(harness)
    stored = harness.store.get_pipeline

    def shadowed(name: str) -> PipelineConfig:  # dryRun: true, whether or not this branch knows the field
        return stored(name).model_copy(update={"dry_run": True})

    monkeypatch.setattr(harness.store, "get_pipeline", shadowed)
    with client:
        html = client.get("/pipelines/orders").text
        body = client.get("/api/pipelines/orders/explain").json()
    assert '<span class="badge" title="dryRun: true">SHADOW</span>' in html
    assert body["dryRun"] is True


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/pipelines/ghost", 404, "pipeline_not_found"),
    ("/pipelines/orders?schedule=nope", 404, "schedule_not_found"),
    ("/pipelines/orders?period=2026-02-31", 404, "period_not_found"),
    ("/pipelines/orders?periods=0", 400, "bad_request"),
    ("/pipelines/orders?periods=15", 400, "bad_request"),
    ("/pipelines/orders?periods=x", 400, "bad_request"),
])
def test_bad_requests_are_refused_with_a_code(harness: Harness, url: str, status: int, code: str) -> None:
    with deployment(harness) as client:
        assert error(client.get(url)) == (status, code)


def test_with_an_api_key_the_page_is_as_open_as_the_overview(harness: Harness) -> None:
    with deployment(harness, "server: {apiKey: k, openStatusPage: true}\n") as client:
        assert client.get("/pipelines/orders").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/api/pipelines/orders/explain").status_code == 401  # the API still needs the key
        assert client.post("/pipelines/orders").status_code == 401
        assert client.get("/pipelines/orders/x").status_code == 401


def test_with_an_api_key_and_a_closed_status_page_the_page_needs_the_key(harness: Harness) -> None:
    with deployment(harness, "server: {apiKey: k}\n") as client:
        assert client.get("/pipelines/orders").status_code == 401
        assert client.get("/pipelines/orders", headers={"X-API-Key": "k"}).status_code == 200
