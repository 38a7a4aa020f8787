"""No DNS rebinding between the SSRF check and the connection: the address checked is the one connected to.

The resolver (:func:`interlock.netguard.resolve`) is patched to answer differently on its second
lookup; the target is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock import netguard
from interlock.alerts.webhook import WebhookSink
from interlock.model import Alert, AlertLevel, TriggerConfig
from interlock.netguard import OutboundPolicy
from interlock.triggers.base import TriggerError

HOST = "hooks.example.test"  # resolved only by the patched resolver


class Server:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server.hosts.append(self.headers["Host"])
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


class Resolver:
    """Answers one list of addresses per lookup, in order (the last one repeats), and counts lookups."""

    def __init__(self) -> None:
        self.answers: list[list[str]] = []
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[str]:
        assert host == HOST
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    found = Resolver()
    monkeypatch.setattr(netguard, "resolve", found)
    return found


ALERT = Alert(level=AlertLevel.ERROR, message="m", timestamp="2026-03-02T12:00:00Z")


def test_a_rebinding_answer_on_the_second_lookup_is_refused_at_connect(server: Server,
                                                                       resolver: Resolver) -> None:
    # First lookup (the check when the sink is built): loopback, allowed by the default policy.
    # Second (the connection): the metadata address. The connection is refused, not made.
    resolver.answers.extend([["127.0.0.1"], ["169.254.169.254"]])
    sink = WebhookSink(f"http://{HOST}:{server.port}/hook")
    # The address may show as [REDACTED]: an earlier test in the process may have used it as a secret.
    with pytest.raises(RuntimeError,
                       match=r"refusing hooks\.example\.test \((169\.254\.169\.254|\[REDACTED\])\): link-local"):
        sink.send(ALERT)
    assert server.hosts == []


def test_blocked_private_target_behind_a_public_first_answer_is_never_reached(server: Server,
                                                                            resolver: Resolver) -> None:
    resolver.answers.extend([["93.184.216.34"], ["127.0.0.1"]])  # public when checked, the local server when connecting
    rules = OutboundPolicy(block_private=True)
    netguard.check_url(f"http://{HOST}:{server.port}/", using=rules)  # the first answer passes
    with pytest.raises(httpx.ConnectError, match=r"refusing hooks\.example\.test \(127\.0\.0\.1\): private"):
        netguard.request("POST", f"http://{HOST}:{server.port}/", using=rules, timeout=5)
    assert server.hosts == []


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(server: Server,
                                                                           resolver: Resolver) -> None:
    resolver.answers.extend([["127.0.0.1"]])
    sink = WebhookSink(f"http://{HOST}:{server.port}/hook")
    asked = resolver.asked
    sink.send(ALERT)
    assert server.hosts == [f"{HOST}:{server.port}"]  # Host header: the name, not the address
    assert resolver.asked == asked + 1  # one lookup for the connection, the one judged


def test_an_http_trigger_is_pinned_too(server: Server, resolver: Resolver, tmp_path: Path) -> None:
    from interlock.triggers.base import TriggerContext
    from interlock.triggers.http import HttpTrigger

    resolver.answers.extend([["127.0.0.1"], ["169.254.169.254"]])
    config = TriggerConfig.model_validate({"type": "http", "http": {"url": f"http://{HOST}:{server.port}/run"}})
    ctx = TriggerContext("orders-daily-2026-03-02-1", "orders", "daily", "2026-03-02", tmp_path, OutboundPolicy())
    with pytest.raises(TriggerError, match="refusing"):
        HttpTrigger().start(config, ctx)
    assert server.hosts == []


def test_an_unresolvable_host_fails_as_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "resolve", fail)
    with pytest.raises(httpx.ConnectError, match=f"cannot resolve {HOST}"):
        netguard.request("GET", f"http://{HOST}/", timeout=5)
