"""Events carry a preview of a large value, and ``GET .../events`` pages by size as well as count.

Before (issue 15, item 8) a pushed value was copied into its event whole: 30 pushes of 900 KiB
made one pipeline's events 31 MB and ``GET .../events?limit=500`` answered 27.7 MB. Now the trait
result keeps the value, the event keeps ``{truncated, size, sha256, preview}``, and an answer stops
adding events at a byte budget, naming the cursor of the next page in ``X-Next-After``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic_core import to_json

from interlock.api import routes
from interlock.api.app import create_app
from interlock.eventsize import MAX_EVENT_DETAILS_BYTES, MAX_EVENT_VALUE_BYTES, PREVIEW_CHARS
from interlock.model import Event, EventKind
from interlock.steps.dispatch import RecordingDispatcher
from tests.steps.conftest import Harness
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration

PUSHES = 12
VALUE_BYTES = 900 * 1024


def big_value(i: int, size: int = VALUE_BYTES) -> dict[str, Any]:
    return {"push": i, "blob": "x" * (size - 40)}


@pytest.fixture
def client(harness: Harness) -> TestClient:
    harness.archetype("marked", ["marker"])
    harness.pipeline("orders", "marked", {})
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    return TestClient(create_app(deps))


def test_a_large_pushed_value_stays_whole_in_the_trait_and_is_a_preview_in_its_event(
        client: TestClient, harness: Harness) -> None:
    for i in range(PUSHES):
        assert client.post("/api/pipelines/orders/traits/marker",
                           json={"status": "PASS", "value": big_value(i)}).status_code == 201
    last = big_value(PUSHES - 1)
    assert client.get("/api/pipelines/orders/traits/marker").json()["value"] == last  # the trait keeps it whole

    response = client.get("/api/pipelines/orders/events?limit=500")
    assert response.status_code == 200
    assert len(response.content) < 64 * 1024, len(response.content)  # was 12 x 900 KiB
    pushed = [e for e in response.json() if e["kind"] == EventKind.TRAIT_PUSHED.value]
    assert len(pushed) == PUSHES
    encoded = to_json(last)
    assert pushed[-1]["details"]["value"] == {
        "truncated": True, "size": len(encoded), "sha256": hashlib.sha256(encoded).hexdigest(),
        "preview": encoded.decode()[:PREVIEW_CHARS]}
    assert pushed[-1]["details"]["ttl"] == 0  # the small details stay as they are

    stream = harness.store.r.xrange(harness.store.k("events", "orders"))
    assert sum(len(fields["data"]) for _, fields in stream) < 64 * 1024  # what Redis holds, too


def test_small_values_are_kept_whole_in_events() -> None:
    small = {"rows": 42, "text": "y" * (MAX_EVENT_VALUE_BYTES - 100)}
    event = Event(kind=EventKind.TRAIT_PUSHED, pipeline_id="orders", details={"value": small},
                  timestamp="2026-03-01T00:00:00Z")
    assert event.details == {"value": small}


def test_details_with_many_keys_are_capped_as_a_whole() -> None:
    details = {f"k{i}": "z" * 1000 for i in range(100)}  # each key small, together 100 KB
    event = Event(kind=EventKind.CALLBACK_RECEIVED, pipeline_id="orders", details=details,
                  timestamp="2026-03-01T00:00:00Z")
    assert event.details is not None and event.details["truncated"] is True
    assert event.details["size"] == len(to_json(details))
    assert len(to_json(event.details)) < MAX_EVENT_DETAILS_BYTES


def test_the_events_route_pages_by_size_and_says_where_the_next_page_starts(
        client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(40):
        assert client.post("/api/pipelines/orders/traits/marker",
                           json={"status": "PASS", "reason": f"push {i}", "value": {"blob": "v" * 3000}}
                           ).status_code == 201
    everything = client.get("/api/pipelines/orders/events?limit=500").json()
    assert len(everything) == 40
    budget = 20_000
    monkeypatch.setattr(routes, "EVENTS_PAGE_BYTES", budget)

    pages: list[list[dict[str, Any]]] = []
    response = client.get("/api/pipelines/orders/events?limit=500")
    while True:
        page = response.json()
        assert page and len(json.dumps(page)) <= budget + 4000, len(json.dumps(page))  # one event over at most
        pages.append(page)
        cursor = response.headers.get("X-Next-After")
        if cursor is None:
            break
        assert cursor == page[-1]["streamId"]
        assert response.headers["Link"] == f'</api/pipelines/orders/events?after={cursor}&limit=500>; rel="next"'
        response = client.get(f"/api/pipelines/orders/events?after={cursor}&limit=500")
    assert len(pages) > 2
    assert [e for page in pages for e in page] == everything  # every event once, in order


def test_paging_by_count_after_a_cursor_also_names_the_next_page(client: TestClient) -> None:
    for i in range(5):
        client.post("/api/pipelines/orders/traits/marker", json={"status": "PASS", "reason": f"push {i}"})
    first = client.get("/api/pipelines/orders/events?limit=500").json()
    response = client.get(f"/api/pipelines/orders/events?after={first[0]['streamId']}&limit=2")
    assert [e["streamId"] for e in response.json()] == [e["streamId"] for e in first[1:3]]
    assert response.headers["X-Next-After"] == first[2]["streamId"]
    last = client.get(f"/api/pipelines/orders/events?after={first[-1]['streamId']}&limit=2")
    assert last.json() == [] and "X-Next-After" not in last.headers


@pytest.mark.parametrize(("cursor", "code"), [
    ("abc", "bad_request"), ("1-2-3", "bad_request"), ("-1", "bad_request"), ("1" * 21, "bad_request"),
    ("99999999999999999999-0", "invalid_cursor"), ("18446744073709551615-18446744073709551615", "invalid_cursor"),
])
def test_a_bad_cursor_is_a_400(client: TestClient, cursor: str, code: str) -> None:
    response = client.get("/api/pipelines/orders/events", params={"after": cursor})
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


@pytest.fixture
def project(inited_project: Path) -> Path:
    return inited_project


def test_the_cli_events_command_shows_the_previews(project: Path) -> None:
    value = json.dumps({"blob": "q" * 100_000})  # an argument may be at most 128 KiB
    for _ in range(3):
        pushed = interlock("push", "example", "upstream-dependency", "--status", "PASS", "--value", value,
                           cwd=project)
        assert pushed.returncode == 0, pushed.stderr
    shown = interlock("events", "example", "--json", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout) < 20_000
    pushed_events = [e for e in json.loads(shown.stdout) if e["kind"] == EventKind.TRAIT_PUSHED.value]
    assert [e["details"]["value"]["size"] for e in pushed_events] == [len(to_json(json.loads(value)))] * 3
    plain = interlock("events", "example", cwd=project)
    assert plain.returncode == 0 and plain.stdout.count("TRAIT_PUSHED") == 3, plain.stderr
