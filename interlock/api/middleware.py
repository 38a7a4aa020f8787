"""Request middleware: request id first (so even a 401 carries one), body limit, API key.

Pure ASGI so a body over the limit is refused while it is being read (413), not after.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from interlock.api.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# An incoming X-Request-ID is kept only if it looks like an id (no log injection, bounded length).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
OPEN_PATHS = frozenset({("GET", "/api/health")})


class Guard:
    """X-Request-ID on every response, X-API-Key on every route but GET /api/health, a body limit."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int, open_metrics: bool = False,
                 open_status_page: bool = False) -> None:
        self.app = app
        self.api_key = api_key or None
        self.max_body = max_body
        self.open = OPEN_PATHS | ({("GET", "/metrics")} if open_metrics else set()) | (
            {("GET", "/")} if open_status_page else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        if self.api_key and (scope["method"], scope["path"]) not in self.open:
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                await _reply(send_with_id, 401, "unauthorized", "missing or wrong X-API-Key header")
                return
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            await _reply(send_with_id, 413, "request_too_large", f"the body is larger than {self.max_body} bytes")
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            await _reply(send_with_id, 413, "request_too_large", f"the body is larger than {self.max_body} bytes")


class BodyTooLarge(Exception):
    pass


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
