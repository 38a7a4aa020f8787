"""HTTP endpoints as evaluators, against a real HTTP server.

Each test scripts what a real ``ThreadingHTTPServer`` on 127.0.0.1 answers per path and checks what
the evaluator returned and what the server received. Breakage is ERROR (not FAIL), network errors
are ERROR/TRANSIENT results (not exceptions), and the SSRF guard runs before any request.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from interlock.evaluators import http as http_module
from interlock.evaluators.base import MAX_OUTPUT_BYTES, EvaluationRequest, EvaluatorOutput
from interlock.evaluators.http import HttpEvaluator
from interlock.model import FailureCategory, TraitStatus

REQUEST = EvaluationRequest("daily-sales", "source-freshness", {"maxLagSeconds": 300, "nested": {"a": [1, 2]}})
PASS_BODY = {"status": "PASS", "value": {"lagSeconds": 12}, "reason": "within threshold"}
# How long a "hanging" handler waits at most; the fixture releases it at teardown.
HANG_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    content_type: str | None
    body: bytes


Responder = Callable[["_Handler"], None]


class ScriptedServer:
    """A real HTTP server whose answers per path are scripted; it records every request."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Responder]] = {}
        self.received: list[Received] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.scripted = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), name="scripted-http",
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def script(self, path: str, *responders: Responder) -> str:
        """Answer requests to ``path`` with ``responders`` in turn; the last one repeats."""
        self.scripts[path] = list(responders)
        return self.url(path)

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _next(self, received: Received) -> Responder | None:
        with self._lock:
            self.received.append(received)
            queue = self.scripts.get(received.path)
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        scripted: ScriptedServer = self.server.scripted  # type: ignore[attr-defined]
        responder = scripted._next(Received(self.command, self.path, self.headers.get("Content-Type"), body))
        try:
            if responder is None:
                reply(599, b"unscripted path")(self)
            else:
                responder(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, size cap): expected in several tests

    def log_message(self, format: str, *args: object) -> None:
        pass


def reply(status: int, body: bytes | str | dict[str, Any], content_type: str = "application/json") -> Responder:
    data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body

    def respond(handler: _Handler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return respond


def hang_then(responder: Responder) -> Responder:
    """Wait (up to HANG_SECONDS, or until the test ends) before answering."""

    def respond(handler: _Handler) -> None:
        handler.server.scripted.release.wait(HANG_SECONDS)  # type: ignore[attr-defined]
        responder(handler)

    return respond


def trickle(body: dict[str, Any], pause: float, padding: int) -> Responder:
    """Send the headers at once, then the body one byte at a time with ``pause`` between bytes."""
    data = json.dumps(body).encode() + b" " * padding

    def respond(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.flush()
        for byte in data:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if handler.server.scripted.release.wait(pause):  # type: ignore[attr-defined]
                return

    return respond


def drop_connection(handler: _Handler) -> None:
    """Close the socket without sending any response."""
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the retry back-off (a tuning constant) so retry tests do not sleep for seconds."""
    monkeypatch.setattr(http_module, "BACKOFF_BASE", 0.01)


class Tripwire:
    """A real httpx client whose request hook records and then aborts every request before it is sent.

    Handed to the evaluator where a request must never happen (metadata addresses), so a test can
    both prove no request was attempted and never actually send one.
    """

    def __init__(self) -> None:
        self.attempted: list[str] = []
        self.client = httpx.Client(follow_redirects=False, event_hooks={"request": [self._stop]})

    def _stop(self, request: httpx.Request) -> None:
        self.attempted.append(str(request.url))
        raise httpx.ConnectError("test tripwire: request not sent", request=request)


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    t = Tripwire()
    yield t
    t.client.close()


def evaluate(url: str, timeout: float = 10.0) -> EvaluatorOutput:
    return HttpEvaluator(url).evaluate(REQUEST, timeout)


def assert_error(out: EvaluatorOutput, category: FailureCategory, reason_prefix: str) -> None:
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, category), out
    assert out.reason is not None and out.reason.startswith(reason_prefix), out.reason


# -- success and the request on the wire -----------------------------------------------------------


def test_pass_object_is_returned_as_sent(server: ScriptedServer) -> None:
    out = evaluate(server.script("/evaluate/freshness", reply(200, PASS_BODY)))
    assert out == EvaluatorOutput(TraitStatus.PASS, {"lagSeconds": 12}, "within threshold", None)


def test_request_is_a_json_post_of_exactly_pipeline_trait_and_config(server: ScriptedServer) -> None:
    evaluate(server.script("/evaluate/freshness", reply(200, PASS_BODY)))
    (seen,) = server.received
    assert (seen.method, seen.path, seen.content_type) == ("POST", "/evaluate/freshness", "application/json")
    assert json.loads(seen.body) == {"pipelineId": "daily-sales", "traitType": "source-freshness",
                                     "config": {"maxLagSeconds": 300, "nested": {"a": [1, 2]}}}


def test_fail_and_error_outputs_pass_through_with_their_category(server: ScriptedServer) -> None:
    fail = evaluate(server.script("/fail", reply(200, {"status": "FAIL", "reason": "no data yet"})))
    error = evaluate(server.script("/error", reply(200, {"status": "ERROR", "reason": "db down",
                                                         "failureCategory": "TRANSIENT"})))
    assert fail == EvaluatorOutput(TraitStatus.FAIL, None, "no data yet", None)
    assert error == EvaluatorOutput(TraitStatus.ERROR, None, "db down", FailureCategory.TRANSIENT)


def test_loopback_url_passes_the_ssrf_guard(server: ScriptedServer) -> None:
    url = server.script("/ok", reply(200, PASS_BODY))
    assert url.startswith("http://127.0.0.1:")
    assert evaluate(url).status is TraitStatus.PASS
    assert len(server.requests_to("/ok")) == 1


# -- invalid 2xx bodies ---------------------------------------------------------------------------


def test_non_json_200_body_is_a_permanent_invalid_output_error(server: ScriptedServer) -> None:
    out = evaluate(server.script("/bad", reply(200, "not json", "text/plain")))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID")
    assert "not json" in (out.reason or "")


def test_unknown_status_in_200_body_is_a_permanent_invalid_output_error(server: ScriptedServer) -> None:
    out = evaluate(server.script("/lower", reply(200, {"status": "pass"})))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID")
    assert "status must be PASS, FAIL or ERROR, got 'pass'" in (out.reason or "")


@pytest.mark.parametrize("body", [
    {"status": "PASS", "value": [1, 2]},
    {"status": "PASS", "reason": 7},
    {"status": "PASS", "failureCategory": "FLAKY"},
    {"value": {}},
], ids=["value-not-object", "reason-not-string", "unknown-category", "no-status"])
def test_malformed_output_objects_are_permanent_invalid_output_errors(
    server: ScriptedServer, body: dict[str, Any]
) -> None:
    out = evaluate(server.script("/malformed", reply(200, body)))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID")


def test_json_array_body_is_a_permanent_invalid_output_error(server: ScriptedServer) -> None:
    out = evaluate(server.script("/array", reply(200, '[{"status": "PASS"}]')))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID")


def test_redirect_is_not_followed(server: ScriptedServer) -> None:
    target = server.script("/target", reply(200, PASS_BODY))

    def redirect(handler: _Handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    out = evaluate(server.script("/moved", redirect))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID")
    assert server.requests_to("/target") == []


# -- error statuses and retries -------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_error_status_is_permanent_and_not_retried(server: ScriptedServer, status: int) -> None:
    out = evaluate(server.script("/missing", reply(status, "no such evaluator", "text/plain")))
    assert_error(out, FailureCategory.PERMANENT, f"EVALUATOR_HTTP_ERROR: status {status}")
    assert "no such evaluator" in (out.reason or "")
    assert len(server.requests_to("/missing")) == 1


def test_500_is_transient_but_not_retried(server: ScriptedServer) -> None:
    out = evaluate(server.script("/boom", reply(500, "internal error", "text/plain"), reply(200, PASS_BODY)))
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: status 500")
    assert len(server.requests_to("/boom")) == 1


def test_503_twice_then_200_returns_the_200_result_after_three_requests(server: ScriptedServer) -> None:
    url = server.script("/flaky", reply(503, "busy", "text/plain"), reply(503, "busy", "text/plain"),
                        reply(200, {"status": "PASS", "reason": "ok"}))
    out = evaluate(url)  # the real back-off (0.5 s, then 1 s) fits the 10 s timeout
    assert (out.status, out.reason) == (TraitStatus.PASS, "ok")
    assert len(server.requests_to("/flaky")) == 3


def test_429_three_times_is_transient_after_three_requests(server: ScriptedServer) -> None:
    out = evaluate(server.script("/throttled", reply(429, "slow down", "text/plain")))
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: status 429")
    assert len(server.requests_to("/throttled")) == 3


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@pytest.mark.usefixtures("fast_backoff")
def test_retryable_status_then_success_is_retried_once(server: ScriptedServer, status: int) -> None:
    out = evaluate(server.script("/retry", reply(status, "later", "text/plain"), reply(200, PASS_BODY)))
    assert out.status is TraitStatus.PASS
    assert len(server.requests_to("/retry")) == 2


@pytest.mark.usefixtures("fast_backoff")
def test_always_503_is_transient_and_quotes_the_last_status(server: ScriptedServer) -> None:
    out = evaluate(server.script("/down", reply(503, "maintenance", "text/plain")))
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: status 503: maintenance")
    assert len(server.requests_to("/down")) == 3


def test_back_off_that_would_overrun_the_timeout_is_a_timeout(server: ScriptedServer) -> None:
    # The first retry waits 0.5 s; with a 0.3 s budget the runner gives up instead of sleeping.
    out = evaluate(server.script("/busy", reply(503, "busy", "text/plain")), timeout=0.3)
    assert (out.status, out.reason, out.failure_category) == (
        TraitStatus.ERROR, "EVALUATOR_TIMEOUT", FailureCategory.TIMEOUT)
    assert len(server.requests_to("/busy")) == 1


def test_long_error_body_is_truncated_in_the_reason(server: ScriptedServer) -> None:
    out = evaluate(server.script("/verbose", reply(500, "x" * 10_000, "text/plain")))
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: status 500")
    assert (out.reason or "").endswith("... (8000 more characters)")
    assert len(out.reason or "") < 2_100


# -- timeouts, size cap, network failures ----------------------------------------------------------


def test_server_slower_than_the_timeout_is_a_timeout_and_not_retried(server: ScriptedServer) -> None:
    out = evaluate(server.script("/slow", hang_then(reply(200, PASS_BODY))), timeout=0.3)
    assert (out.status, out.reason, out.failure_category) == (
        TraitStatus.ERROR, "EVALUATOR_TIMEOUT", FailureCategory.TIMEOUT)
    assert len(server.requests_to("/slow")) == 1


def test_body_trickled_past_the_timeout_is_a_timeout(server: ScriptedServer) -> None:
    # 20 bytes at one per 50 ms take ~1 s; every single read completes well inside the 0.3 s budget.
    url = server.script("/trickle", trickle({"status": "PASS"}, pause=0.05, padding=2))
    out = evaluate(url, timeout=0.3)
    assert (out.status, out.reason, out.failure_category) == (
        TraitStatus.ERROR, "EVALUATOR_TIMEOUT", FailureCategory.TIMEOUT)


def test_body_over_one_mib_is_a_permanent_error(server: ScriptedServer) -> None:
    body = b'{"status": "PASS", "reason": "' + b"x" * MAX_OUTPUT_BYTES + b'"}'
    out = evaluate(server.script("/huge", reply(200, body)))
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_OUTPUT_INVALID: response larger than")


def test_body_of_exactly_one_mib_is_accepted(server: ScriptedServer) -> None:
    head, tail = b'{"status": "PASS", "reason": "', b'"}'
    body = head + b"x" * (MAX_OUTPUT_BYTES - len(head) - len(tail)) + tail
    assert len(body) == MAX_OUTPUT_BYTES
    out = evaluate(server.script("/big", reply(200, body)))
    assert out.status is TraitStatus.PASS


def test_connection_refused_is_transient() -> None:
    # A bound socket that never listens: connecting to its port is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        out = evaluate(f"http://127.0.0.1:{closed.getsockname()[1]}/evaluate", timeout=5)
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: request failed")


def test_connection_dropped_without_a_response_is_transient(server: ScriptedServer) -> None:
    out = evaluate(server.script("/drop", drop_connection))
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: request failed")


# -- SSRF guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://2852039166/",  # 169.254.169.254 written as one decimal number
    "http://169.254.10.1:8080/",
    "http://[fe80::1]/",
    "http://100.100.100.200/",
])
def test_ssrf_guard_refuses_metadata_and_link_local_hosts_without_a_request(tripwire: Tripwire, url: str) -> None:
    out = HttpEvaluator(url, client=tripwire.client).evaluate(REQUEST, 5)
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_HTTP_ERROR: refusing")
    assert tripwire.attempted == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http:///no-host"])
def test_non_http_urls_are_refused_without_a_request(tripwire: Tripwire, url: str) -> None:
    out = HttpEvaluator(url, client=tripwire.client).evaluate(REQUEST, 5)
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_HTTP_ERROR: not an http(s) URL")
    assert tripwire.attempted == []


def test_ssrf_guard_refuses_ipv4_mapped_metadata_address(tripwire: Tripwire) -> None:
    out = HttpEvaluator("http://[::ffff:169.254.169.254]/latest/meta-data/", client=tripwire.client).evaluate(
        REQUEST, 5)
    assert tripwire.attempted == []
    assert_error(out, FailureCategory.PERMANENT, "EVALUATOR_HTTP_ERROR: refusing")


def test_allow_link_local_lets_a_link_local_url_through_the_guard(tripwire: Tripwire) -> None:
    out = HttpEvaluator("http://169.254.10.1/", allow_link_local=True, client=tripwire.client).evaluate(REQUEST, 5)
    assert tripwire.attempted == ["http://169.254.10.1/"]
    assert_error(out, FailureCategory.TRANSIENT, "EVALUATOR_HTTP_ERROR: request failed")
