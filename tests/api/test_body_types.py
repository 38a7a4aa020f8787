"""Request bodies are JSON whatever their Content-Type says when an API key guards the API; without
a key, only a body labelled JSON is read and browsers on other sites are refused (CSRF)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from interlock.store.base import TraitSource
from tests.api.test_api import KEY, client_for, error
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

PUSH = "/api/pipelines/orders/traits/marker"
JSON_BODY = b'{"status": "PASS", "value": {"rows": 42}}'


@pytest.fixture
def keyed(harness: Harness) -> Iterator[tuple[TestClient, Harness]]:
    client, _ = client_for(harness, f"server: {{apiKey: {KEY}}}\n")
    with client:
        yield client, harness


@pytest.fixture
def open_api(harness: Harness) -> Iterator[tuple[TestClient, Harness]]:
    client, _ = client_for(harness)
    with client:
        yield client, harness


def pushed(harness: Harness) -> list[str]:
    return [t.status.value for t in harness.store.get_traits("orders", TraitSource.PUSH)]


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain",
                                          "text/plain; charset=utf-8", "application/octet-stream"])
def test_with_a_key_a_json_body_is_accepted_whatever_its_content_type(
        keyed: tuple[TestClient, Harness], content_type: str | None) -> None:
    client, harness = keyed
    headers = {"X-API-Key": KEY} | ({"Content-Type": content_type} if content_type else {})
    response = client.post(PUSH, content=JSON_BODY, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["value"] == {"rows": 42} and pushed(harness) == ["PASS"]


@pytest.mark.parametrize(("body", "content_type"), [
    (b"status=PASS", "application/x-www-form-urlencoded"),
    (b"PASS", "text/plain"),
    (b"<status>PASS</status>", "application/xml"),
    (b'--b\r\nContent-Disposition: form-data; name="status"\r\n\r\nPASS\r\n--b--\r\n',
     "multipart/form-data; boundary=b"),
    (b'{"status": "PASS"', None),
    (b"\xff\xfe{}", None),
])
def test_with_a_key_a_body_that_is_not_json_is_a_400_and_stores_nothing(
        keyed: tuple[TestClient, Harness], body: bytes, content_type: str | None) -> None:
    client, harness = keyed
    headers = {"X-API-Key": KEY} | ({"Content-Type": content_type} if content_type else {})
    response = client.post(PUSH, content=body, headers=headers)
    assert error(response) == (400, "bad_request")
    assert pushed(harness) == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=b", "application/jsonp"])
def test_without_a_key_a_body_not_labelled_json_is_a_415_and_stores_nothing(
        open_api: tuple[TestClient, Harness], content_type: str | None) -> None:
    # A page on any site can make a browser post text/plain, a form or an unlabelled body here.
    client, harness = open_api
    response = client.post(PUSH, content=JSON_BODY, headers={"Content-Type": content_type} if content_type else {})
    assert error(response) == (415, "unsupported_media_type")
    assert "application/json" in response.json()["error"]["message"]
    assert pushed(harness) == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/merge-patch+json"])
def test_without_a_key_a_body_labelled_json_is_accepted(open_api: tuple[TestClient, Harness],
                                                        content_type: str) -> None:
    client, harness = open_api
    assert client.post(PUSH, content=JSON_BODY, headers={"Content-Type": content_type}).status_code == 201
    assert pushed(harness) == ["PASS"]


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://testserver.evil.example"}])
def test_without_a_key_a_browser_request_from_another_site_is_refused(
        open_api: tuple[TestClient, Harness], headers: dict[str, str]) -> None:
    # A cross-site form can POST .../run with no body at all: no Content-Type rule would stop it.
    client, harness = open_api
    assert error(client.post("/api/pipelines/orders/run", headers=headers)) == (403, "cross_site_request")
    assert error(client.delete("/api/pipelines/orders", headers=headers)) == (403, "cross_site_request")
    assert harness.store.get_readiness("orders") is None
    assert [p.name for p in harness.store.list_pipelines()] == ["blocked", "orders"]
    assert client.get("/api/pipelines", headers=headers).status_code == 200  # reading is not a side effect


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                                     {"Origin": "http://testserver"}])
def test_without_a_key_curl_and_same_origin_requests_go_through(open_api: tuple[TestClient, Harness],
                                                               headers: dict[str, str]) -> None:
    client, harness = open_api
    assert client.post("/api/pipelines/orders/run", headers=headers).status_code == 200
    assert harness.store.get_readiness("orders") is not None


def test_with_a_key_the_key_is_what_decides_not_the_origin(keyed: tuple[TestClient, Harness]) -> None:
    client, _ = keyed
    headers = {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
    assert error(client.post("/api/pipelines/orders/run", headers=headers)) == (401, "unauthorized")
    assert client.post("/api/pipelines/orders/run", headers=headers | {"X-API-Key": KEY}).status_code == 200
