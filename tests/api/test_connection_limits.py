"""Body limit and read deadlines against a live `interlock serve` on loopback, over real sockets.

Each test asserts what the server did to the connection (a 408/413 answer, then the server closing
it), never how long it took: the socket timeouts below only bound a test that would otherwise hang.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from interlock.store.base import TraitSource
from interlock.store.redis import RedisStore
from tests.api.live import serve
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

KEY = "limits-key"
LIMIT = 2048
# Small deadlines so the tests are quick; a server without them would leave the sockets open.
CONFIG = (f"server: {{apiKey: {KEY}, maxRequestBody: {LIMIT}, headerTimeout: 1s, bodyTimeout: 1s, "
          "maxHeaderSize: 4096}\n")
PUSH = "/api/pipelines/orders/traits/marker"
JSON_HEADERS = {"X-API-Key": KEY, "Content-Type": "application/json"}
GIVE_UP = 20  # seconds a socket read may block before the test fails (the server should act in ~1 s)


class Live:
    def __init__(self, base: str, store: RedisStore) -> None:
        self.base = base
        self.port = int(base.rsplit(":", 1)[1])
        self.store = store

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(GIVE_UP)
        return sock

    def pushed(self) -> list[str]:
        return [t.status.value for t in self.store.get_traits("orders", TraitSource.PUSH)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    store = RedisStore(redis.Redis(host="127.0.0.1", port=6379, decode_responses=True),
                       f"interlock-test-{uuid.uuid4().hex[:12]}:")
    harness = Harness(Path(tmp_path_factory.mktemp("limits")) / "project", store)
    harness.archetype("marked", ["marker"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    try:
        with serve(harness, CONFIG) as base:
            yield Live(base, store)
    finally:
        store.purge()
        store.close()


@pytest.fixture(autouse=True)
def no_pushes_yet(live: Live) -> None:
    live.store.r.delete(live.store.k("pushed", "orders"))  # the store's documented key of pushed traits


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a recv timeout fails the test)."""
    data = b""
    for _ in range(1000):
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server kept sending: {data[:200]!r}")


def responses(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP/1.1 response in ``raw`` (bodies framed by Content-Length)."""
    found = []
    while raw.startswith(b"HTTP/1.1 "):
        head, _, rest = raw.partition(b"\r\n\r\n")
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        length = int(fields.get(b"content-length", b"0"))
        found.append((int(head[9:12]), rest[:length]))
        raw = rest[length:]
    return found


def code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def request_head(length: int | None = None, chunked: bool = False, path: str = PUSH) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"X-API-Key: {KEY}", "Content-Type: application/json"]
    lines += [f"Content-Length: {length}"] if length is not None else []
    lines += ["Transfer-Encoding: chunked"] if chunked else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# Item 7: the body limit, however the body is framed.

def test_a_chunked_body_over_the_limit_is_413_request_too_large(live: Live) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"status": "PASS", "reason": "'
        for _ in range(LIMIT // 256 + 2):
            yield b"x" * 256
        yield b'"}'

    response = httpx.post(live.base + PUSH, content=chunks(), headers=JSON_HEADERS, timeout=GIVE_UP)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (response.status_code, response.json()["error"]["code"]) == (413, "request_too_large")
    assert live.pushed() == []


def test_a_chunked_body_under_the_limit_is_taken(live: Live) -> None:
    response = httpx.post(live.base + PUSH, content=iter([b'{"status": ', b'"PASS"}']), headers=JSON_HEADERS)
    assert response.status_code == 201 and live.pushed() == ["PASS"]


def test_a_content_length_over_the_limit_is_413_before_the_body_is_sent(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(request_head(length=LIMIT + 1))  # and not one byte of the body
        answered = responses(read_until_closed(sock))
    assert [(status, code(body)) for status, body in answered] == [(413, "request_too_large")]


def test_a_chunked_body_with_a_small_content_length_beside_it_is_still_limited(live: Live) -> None:
    # Transfer-Encoding wins over Content-Length (RFC 9112 §6.3): the limit must count what arrives.
    with live.connect() as sock:
        sock.sendall(request_head(length=10, chunked=True))
        for _ in range(LIMIT // 1000 + 2):
            sock.sendall(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        answered = responses(read_until_closed(sock))
    assert [(status, code(body)) for status, body in answered] == [(413, "request_too_large")]
    assert live.pushed() == []


def test_a_content_length_smaller_than_the_body_reads_only_what_it_declares(live: Live) -> None:
    # The declared 17 bytes are a whole push; the rest (over the limit) is not taken as part of it
    # and, being no HTTP request, ends the connection with a JSON 400.
    body = b'{"status":"PASS"}' + b"x" * (2 * LIMIT) + b"\r\n\r\n"
    with live.connect() as sock:
        sock.sendall(request_head(length=17) + body)
        answered = responses(read_until_closed(sock))
    assert [status for status, _ in answered] == [201, 400]
    assert code(answered[1][1]) == "malformed_request"
    assert live.pushed() == ["PASS"]


# Item 11: read deadlines (headerTimeout / bodyTimeout = 1 s here), header size.

def test_a_slowloris_partial_header_gets_408_and_the_server_closes_the_connection(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # then nothing more
        answered = responses(read_until_closed(sock))
    assert [(status, code(body)) for status, body in answered] == [(408, "request_timeout")]


def test_a_header_trickled_a_byte_at_a_time_is_cut_off(live: Live) -> None:
    # Each byte resets uvicorn's own keep-alive timer; the header deadline is a total, not an idle, time.
    with live.connect() as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed = False
        for _ in range(100):  # 100 × 0.2 s, far past the 1 s deadline
            try:
                sock.sendall(b"X-Slow-" + str(_).encode() + b": y\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
        data = b"" if closed else read_until_closed(sock)
    assert closed or data.startswith(b"HTTP/1.1 408 ")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(live: Live) -> None:
    with live.connect() as sock:
        assert read_until_closed(sock) == b""


def test_a_stalled_body_gets_408_and_the_server_closes_the_connection(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(request_head(length=100) + b'{"status": ')  # 11 of the 100 bytes promised
        answered = responses(read_until_closed(sock))
    assert [(status, code(body)) for status, body in answered] == [(408, "request_timeout")]
    assert live.pushed() == []


def test_a_chunked_body_trickled_slowly_is_cut_off(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(request_head(chunked=True))
        closed = False
        for _ in range(100):
            try:
                sock.sendall(b"1\r\n \r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
        data = b"" if closed else read_until_closed(sock)
    assert closed or data.startswith(b"HTTP/1.1 408 ")
    assert live.pushed() == []


def test_a_kept_alive_connection_gets_the_header_deadline_again_for_its_next_request(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/health HTTP/1.1\r\nHo")
        answered = responses(read_until_closed(sock))
    assert [status for status, _ in answered] == [200, 408]


def test_an_unfinished_head_over_max_header_size_is_a_json_400_at_once(live: Live) -> None:
    # h11 bounds what it buffers of an incomplete head (a head that arrives whole is parsed).
    with live.connect() as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 5000)
        answered = responses(read_until_closed(sock))
    assert [(status, code(body)) for status, body in answered] == [(400, "malformed_request")]
    assert httpx.get(live.base + "/api/health", headers={"X-Pad": "y" * 3000}).status_code == 200


def test_max_connections_turns_away_requests_beyond_it(harness: Harness) -> None:
    harness.archetype("marked", ["marker"])
    with serve(harness, "server: {maxConnections: 3, headerTimeout: 30s}\n") as base:
        port = int(base.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            assert httpx.get(base + "/api/health").status_code == 503
        finally:
            for sock in held:
                sock.close()
        statuses = []
        for _ in range(50):  # the server notices the closed sockets at its next loop turn
            statuses.append(httpx.get(base + "/api/health").status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200
