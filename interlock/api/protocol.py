"""uvicorn's h11 protocol with request read deadlines, and the uvicorn settings from ``server:``.

uvicorn has no header or body read timeout (its issue #157): ``timeout_keep_alive`` runs only
between requests and is cancelled by the first byte received, so a client that sends half a
header, or a body a byte at a time, holds its connection forever. ASGI middleware cannot help
with headers: the app is called only once they are complete. So the deadline lives here, on the
connection: the headers must be complete within ``header_timeout`` of the connection opening
(or of the previous response), the body within ``body_timeout`` of the headers. On expiry the
client gets a 408 if it had started a request, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from interlock.api.errors import error_body
from interlock.config.project import ServerConfig


class DeadlineH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request headers or body arrive too slowly."""

    header_timeout: float = 10.0  # seconds; set by protocol_for()
    body_timeout: float = 30.0

    _deadline: asyncio.TimerHandle | None = None
    _phase: Any = None  # the h11 state the running deadline is for: h11.IDLE (headers) or h11.SEND_BODY

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes h11 cannot parse (or headers over the size limit), as a JSON error."""
        body = json.dumps(error_body("malformed_request", f"{msg} Not HTTP/1.1, or headers over server.maxHeaderSize."))
        self.transport.write(self.conn.send(h11.Response(status_code=400, reason=b"Bad Request", headers=[
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")])) or b"")
        self.transport.write(self.conn.send(h11.Data(data=body.encode())) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()

    def _arm(self) -> None:
        """Start the deadline of what we are waiting for; a running one keeps running (a total, not idle, time)."""
        state = self.conn.their_state
        if self.transport.is_closing() or state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is in (the app has it) or the connection is ending
            return
        if state is self._phase:
            return
        self._disarm()
        self._phase = state
        timeout = self.header_timeout if state is h11.IDLE else self.body_timeout
        self._deadline = self.loop.call_later(timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._phase = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        waiting_headers = self.conn.their_state is h11.IDLE
        started = bool(self.conn.trailing_data[0]) if waiting_headers else not (
            self.cycle is not None and self.cycle.response_started)
        self.logger.warning("closing a connection whose request %s did not arrive in time",
                            "headers" if waiting_headers else "body")
        if started:  # a 408 only to a client that began this request; an idle keep-alive is just closed
            body = json.dumps(error_body("request_timeout", "the request did not arrive in time")).encode()
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()


def protocol_for(server: ServerConfig) -> type[DeadlineH11Protocol]:
    """The protocol class with ``server``'s header and body timeouts."""
    return type("ConfiguredDeadlineH11Protocol", (DeadlineH11Protocol,), {
        "header_timeout": server.header_timeout.total_seconds(),
        "body_timeout": server.body_timeout.total_seconds(),
    })


def uvicorn_options(server: ServerConfig) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` that apply ``server``'s limits."""
    return {
        "http": protocol_for(server),
        "timeout_keep_alive": math.ceil(server.keep_alive_timeout.total_seconds()),
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_size,
    }
