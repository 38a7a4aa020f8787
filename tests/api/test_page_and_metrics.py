"""The status page and /metrics, in-process."""

from __future__ import annotations

import shutil
import subprocess

from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.evaluate import evaluate
from interlock.steps.push import push_trait
from interlock.steps.runs import trigger
from interlock.store.redis import RedisStore
from tests.steps.conftest import Harness, harness

__all__ = ["harness"]  # the steps' harness (memory and Redis) over this folder's Redis-only one


def deployment(harness: Harness, extra: str = "") -> TestClient:
    harness.extra = extra
    harness.archetype("marked", ["marker"])
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    harness.pipeline("blocked", "checked", {"t1": "fail"},
                     extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    push_trait(deps, "orders", "marker", "PASS")
    evaluate(deps, "orders")
    trigger(deps, "orders", "daily", evaluate(deps, "orders").period, 1)
    evaluate(deps, "blocked")
    return TestClient(create_app(deps))


def test_status_page_shows_a_blocked_pipeline_with_its_reason_and_a_completed_one(harness: Harness) -> None:
    with deployment(harness) as client:
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta http-equiv="refresh"' in html
    assert "<b>blocked</b>" in html and "<b>t1</b>: deliberate test failure" in html
    assert "<b>orders</b>" in html and 'class="ok">COMPLETED</span>' in html


def test_status_page_escapes_what_it_shows(harness: Harness) -> None:
    client = deployment(harness)
    deps = client.app.fastapi.state.deps  # type: ignore[attr-defined]
    push_trait(deps, "orders", "marker", "FAIL", reason="<script>alert(1)</script>")
    evaluate(deps, "orders")
    with client:
        html = client.get("/").text
    assert "<script>" not in html


def test_metrics_count_evaluations_triggers_alerts_and_time_steps(harness: Harness) -> None:
    with deployment(harness) as client:
        deps = client.app.fastapi.state.deps  # type: ignore[attr-defined]
        from interlock.metrics import observe

        observe(deps.store, "advance", 0.02)
        observe(deps.store, "advance", 0.3)
        observe(deps.store, "advance", 99.0)
        text = client.get("/metrics").text
    assert 'interlock_evaluations_total{status="NOT_READY"} 1' in text
    assert 'interlock_evaluations_total{status="READY"} 2' in text
    assert 'interlock_triggers_total{type="command"} 1' in text
    assert "# TYPE interlock_step_seconds histogram" in text
    # Cumulative buckets, as Prometheus expects: each counts the observations at or below it.
    assert 'interlock_step_seconds_bucket{le="0.01",step="advance"} 0' in text
    assert 'interlock_step_seconds_bucket{le="0.025",step="advance"} 1' in text
    assert 'interlock_step_seconds_bucket{le="0.25",step="advance"} 1' in text
    assert 'interlock_step_seconds_bucket{le="0.5",step="advance"} 2' in text
    assert 'interlock_step_seconds_bucket{le="60.0",step="advance"} 2' in text
    assert 'interlock_step_seconds_bucket{le="+Inf",step="advance"} 3' in text
    assert 'interlock_step_seconds_count{step="advance"} 3' in text
    assert "interlock_step_seconds_hits" not in text
    assert 'interlock_alerts_total{sink="console"}' in text


def test_page_and_metrics_need_the_key_unless_opened(harness: Harness) -> None:
    with deployment(harness, "server: {apiKey: k}\n") as client:
        assert client.get("/").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/", headers={"X-API-Key": "k"}).status_code == 200


def test_page_and_metrics_can_be_opened_in_config(harness: Harness) -> None:
    with deployment(harness, "server: {apiKey: k, openStatusPage: true, openMetrics: true}\n") as client:
        assert client.get("/").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/pipelines").status_code == 401


def test_metrics_are_text_a_real_prometheus_parses(harness: Harness) -> None:
    """promtool reads /metrics as the Prometheus server does: one HELP and TYPE per family, unlabelled.

    A merge once rendered every scrape-time gauge twice, its labels in the TYPE line: Prometheus
    refused the whole scrape (``invalid metric name in comment``) and every panel was empty.
    """
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: .ci/run installs it (apt-get install prometheus)"
    with deployment(harness) as client:
        text = client.get("/metrics").text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)) and not any("{" in t for t in types), types
    if isinstance(harness.store, RedisStore):  # the labelled scrape-time gauges are read from Redis
        assert "interlock_pipelines" in types and "interlock_queue_depth" in types
        assert 'interlock_pipelines{state="completed"} 1' in text
