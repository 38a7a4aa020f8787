"""The triggers' shared HTTP call (interlock.triggers.calls.call) against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from interlock.model import FailureCategory
from interlock.triggers import TriggerError
from interlock.triggers.calls import call


@pytest.fixture
def answering() -> Iterator[str]:
    """A server answering ``/<status>`` with that status and the body ``answer-<status>``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            code = int(self.path.strip("/"))
            data = f"answer-{code}".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_success_and_an_accepted_status_are_returned(answering: str) -> None:
    assert call("x trigger", lambda: httpx.get(f"{answering}/200")).status_code == 200
    assert call("x trigger", lambda: httpx.get(f"{answering}/409"), accept={409}).status_code == 409


@pytest.mark.parametrize(("code", "category"), [(404, FailureCategory.PERMANENT), (503, FailureCategory.TRANSIENT)])
def test_an_error_status_is_a_trigger_error_quoting_the_answer_when_asked(answering: str, code: int,
                                                                          category: FailureCategory) -> None:
    with pytest.raises(TriggerError) as quoted:
        call("x trigger", lambda: httpx.get(f"{answering}/{code}"), quoted=100)
    assert str(quoted.value) == f"x trigger: returned status {code}: answer-{code}"
    assert quoted.value.category is category
    with pytest.raises(TriggerError) as bare:
        call("x status", lambda: httpx.get(f"{answering}/{code}"))
    assert str(bare.value) == f"x status: returned status {code}"


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(TriggerError) as exc:
        call("x trigger", lambda: httpx.get(f"http://127.0.0.1:{port}/"))
    assert str(exc.value).startswith("x trigger: request failed: ")
    assert exc.value.category is FailureCategory.TRANSIENT


def test_a_timeout_is_timeout_only_where_the_caller_asks() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(TriggerError) as timed:
            call("x trigger", lambda: httpx.get(url, timeout=0.2), timeouts=True)
        assert str(timed.value) == "x trigger: request timed out"
        assert timed.value.category is FailureCategory.TIMEOUT
        with pytest.raises(TriggerError) as failed:
            call("x status", lambda: httpx.get(url, timeout=0.2))
        assert str(failed.value).startswith("x status: request failed: ")
        assert failed.value.category is FailureCategory.TRANSIENT
