"""Paged, filtered operator views: GET /api/pipelines pages, the status page's counts and attention section."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from interlock.api.app import create_app
from interlock.model import RunLogEntry, RunStatus
from interlock.statusview import encode_cursor
from interlock.steps.dispatch import RecordingDispatcher
from interlock.steps.evaluate import evaluate
from tests.steps.conftest import Harness, harness

__all__ = ["harness"]  # memory and Redis


def deployment(harness: Harness, count: int = 12) -> TestClient:
    harness.archetype("checked", ["t1"])
    harness.pipeline("broken", "checked", {"t1": "pass"})
    harness.pipeline("blocked", "checked", {"t1": "fail"})
    for i in range(count):
        harness.pipeline(f"p{i:02d}", "checked", {"t1": "pass"})
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    evaluate(deps, "blocked")
    now = deps.clock.now()
    period = evaluate(deps, "broken").period
    deps.store.put_run_log(RunLogEntry(pipeline_id="broken", date=period, status=RunStatus.FAILED, attempt_number=1,
                                       run_id="r-broken", failure_message="job exited 3", started_at=now,
                                       updated_at=now))
    return TestClient(create_app(deps))


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["items"]]


def test_paging_walks_every_pipeline_once_in_name_order(harness: Harness) -> None:
    client = deployment(harness)
    seen: list[str] = []
    cursor = None
    while True:
        answer = client.get("/api/pipelines", params={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200
        body = answer.json()
        seen += names(body)
        cursor = body["nextCursor"]
        if cursor is None:
            assert "link" not in answer.headers
            break
        assert answer.headers["x-next-cursor"] == cursor and 'rel="next"' in answer.headers["link"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 14
    first = client.get("/api/pipelines", params={"limit": 1}).json()
    assert first["items"][0]["pipeline"]["name"] == "blocked" and first["items"][0]["state"] == "blocked"
    assert sum(first["counts"].values()) == 14 and first["counts"]["failed"] == 1


def test_filters_by_state_and_name(harness: Harness) -> None:
    client = deployment(harness)
    assert names(client.get("/api/pipelines", params={"state": "failed,blocked"}).json()) == ["blocked", "broken"]
    assert names(client.get("/api/pipelines", params={"state": " FAILED "}).json()) == ["broken"]
    assert names(client.get("/api/pipelines", params={"q": "p1"}).json()) == ["p10", "p11"]
    assert names(client.get("/api/pipelines", params={"q": "zzz"}).json()) == []
    # Without any paging parameter: the old answer, every config as a list.
    legacy = client.get("/api/pipelines").json()
    assert isinstance(legacy, list) and len(legacy) == 14 and legacy[0]["name"] == "blocked"


@pytest.mark.parametrize(("params", "code"), [
    ({"limit": "0"}, "invalid_limit"), ({"limit": "1001"}, "invalid_limit"), ({"limit": "ten"}, "invalid_limit"),
    ({"limit": "-1"}, "invalid_limit"), ({"cursor": "not-a-cursor"}, "invalid_cursor"),
    ({"cursor": "djE6"}, "invalid_cursor"), ({"cursor": "%%%"}, "invalid_cursor"),
    ({"state": "failed,broken"}, "unknown_state"), ({"q": "x" * 201}, "bad_request"),
])
def test_bad_paging_values_are_400_with_a_stable_code(harness: Harness, params: dict[str, str], code: str) -> None:
    client = deployment(harness, count=1)
    for path in ("/api/pipelines", "/"):
        answer = client.get(path, params=params)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == code


def test_a_cursor_of_a_deleted_pipeline_still_continues(harness: Harness) -> None:
    client = deployment(harness, count=3)
    body = client.get("/api/pipelines", params={"cursor": encode_cursor("p00"), "limit": 10}).json()
    assert names(body) == ["p01", "p02"] and body["nextCursor"] is None


def test_the_page_opens_with_counts_and_what_needs_attention_then_pages(harness: Harness) -> None:
    client = deployment(harness)
    html = client.get("/", params={"limit": 5}).text
    assert '<nav class=counts>' in html and "all <b>14</b>" in html
    assert 'failed</span> <b>1</b>' in html and 'blocked</span> <b>1</b>' in html
    attention = html[html.index("Needs attention"):]
    attention = attention[:attention.index("</table>")]
    assert 'data-attention="failed"' in attention and "<b>broken</b>" in attention and "<b>blocked</b>" not in attention
    assert html.count('<tr><td><a href="/pipelines/') == 5
    assert 'rel="next" href="/?limit=5&amp;cursor=' in html
    filtered = client.get("/", params={"state": "failed"}).text
    assert "<b>broken</b>" in filtered and "<b>p00</b>" not in filtered and "Needs attention" not in filtered


def test_a_blocked_pipeline_past_its_deadline_needs_attention(harness: Harness) -> None:
    harness.archetype("checked", ["t1"])
    harness.pipeline("late", "checked", {"t1": "fail"}, extra="sla:\n  evaluationDeadline: '00:01'\n")
    harness.pipeline("ontime", "checked", {"t1": "fail"}, extra="sla:\n  evaluationDeadline: '23:59'\n")
    deps = harness.deps()
    evaluate(deps, "late")
    evaluate(deps, "ontime")
    html = TestClient(create_app(deps)).get("/").text
    attention = html[html.index("Needs attention"):]
    attention = attention[:attention.index("</table>")]
    assert 'data-attention="late"' in attention and "<b>late</b>" in attention
    assert "ontime" not in attention
