"""Request bodies that are almost JSON: never a 500, and a refused body stores nothing.

schemathesis (tests/api/test_fuzz_openapi.py) generates requests from the schema, with valid JSON.
This fuzzer sends what it does not: NaN/Infinity, duplicate keys, lone surrogates, NUL, deep
nesting, cut-off documents — to the two routes that store free-form JSON (a pushed trait's
``value``, a registered pipeline's trait ``config``). After each, everything stored is still
readable through the API.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock.api.app import create_app
from interlock.steps.dispatch import RecordingDispatcher
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

FUZZ = settings.get_profile("interlock-fuzz")
# Each example is a few requests and Redis round trips: fewer of them keep the folder under a minute.
API_FUZZ = settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 3))
ODD_STRINGS = st.sampled_from(["\ud800", "\udfff", "a\x00b", "\x00", "\ufeff", "é", "\u2028", "ok"])
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ODD_STRINGS, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.one_of(ODD_STRINGS, st.text(max_size=4)),
                                                                         inner, max_size=3)),
    max_leaves=10,
)


def raw(doc: Any, mangle: str) -> bytes:
    """``doc`` as JSON text, made strange in one of several ways."""
    text = json.dumps(doc)  # escapes surrogates and NUL as \\uXXXX, writes NaN / Infinity bare
    if mangle == "duplicate-key" and text.startswith("{") and len(text) > 2:
        text = '{"status": "FAIL", ' + text[1:]
    elif mangle == "cut":
        text = text[: len(text) // 2]
    elif mangle == "deep":
        text = "[" * 50_000
    return text.encode("utf-8", "surrogatepass")


@pytest.fixture
def client(harness: Harness) -> TestClient:
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"})
    deps = harness.deps()
    deps.dispatch = RecordingDispatcher()
    return TestClient(create_app(deps), raise_server_exceptions=False)


def assert_everything_readable(client: TestClient) -> None:
    for path in ("/api/pipelines", "/api/pipelines/orders/traits", "/api/pipelines/orders/events"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:200])


@API_FUZZ
@given(value=VALUES, reason=st.one_of(st.none(), ODD_STRINGS),
       mangle=st.sampled_from(["none", "duplicate-key", "cut", "deep"]))
def test_a_push_is_stored_as_sent_or_refused_with_nothing_stored(client: TestClient, value: Any, reason: str | None,
                                                                 mangle: str) -> None:
    before = client.get("/api/pipelines/orders/events").json()
    body = raw({"status": "PASS", "value": {"v": value}, "reason": reason}, mangle)
    response = client.post("/api/pipelines/orders/traits/t1", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code in (201, 400), response.text[:300]
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "bad_request"
        assert client.get("/api/pipelines/orders/events").json() == before
    else:
        stored = client.get("/api/pipelines/orders/traits/t1").json()
        assert stored["value"] == {"v": value} and stored.get("reason") == (reason or None)
    assert_everything_readable(client)


@API_FUZZ
@given(config=st.dictionaries(st.one_of(ODD_STRINGS, st.text(max_size=4)), VALUES, max_size=3),
       mangle=st.sampled_from(["none", "duplicate-key", "cut"]))
def test_a_registration_is_stored_as_sent_or_refused_with_nothing_stored(client: TestClient, config: dict[str, Any],
                                                                         mangle: str) -> None:
    body = raw({"name": "sent", "archetype": "checked", "traits": {"t1": {"evaluator": "push", "config": config}}},
               mangle)
    response = client.post("/api/pipelines", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (201, 400), response.text[:300]
    names = [p["name"] for p in client.get("/api/pipelines").json()]
    if response.status_code == 400:
        assert "sent" not in names
    else:
        assert client.get("/api/pipelines/sent").json()["traits"]["t1"]["config"] == config
        assert client.delete("/api/pipelines/sent").status_code == 204
    assert_everything_readable(client)
