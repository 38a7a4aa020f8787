"""Request middleware: request id first (so even a 401 carries one), API key, cross-site refusal,
body limit and the body's media type.

Pure ASGI so a body over the limit is refused while it is being read (413), not after: the guard
reads the whole body itself (the routes read it whole anyway) and hands the app a replay of it.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from email.message import Message as MimeHeader
from typing import Any
from urllib.parse import urlsplit

from interlock.api.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# An incoming X-Request-ID is kept only if it looks like an id (no log injection, bounded length).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The path of one pipeline's page (interlock.api.pipeline_page); a name cannot hold a slash.
_PIPELINE_PAGE = re.compile(r"^/pipelines/[^/]{1,255}$")
OPEN_PATHS = frozenset({("GET", "/api/health")})
# Methods a cross-site page can make a browser send without asking the server first (no CORS preflight).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Guard:
    """X-Request-ID on every response, X-API-Key on every route but GET /api/health, a body limit.

    Bodies are JSON. With an API key configured a body is read as JSON whatever its Content-Type
    says (``curl -d`` sends ``application/x-www-form-urlencoded``): a cross-site page cannot add
    X-API-Key without a CORS preflight, which this API never grants. Without a key there is nothing
    a browser cannot forge, so a body must be labelled ``application/json`` (which a cross-site page
    cannot send without a preflight either; 415 otherwise) and an unsafe method from a browser on
    another site (``Sec-Fetch-Site``, else ``Origin``) is refused: 403 ``cross_site_request``.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int, open_metrics: bool = False,
                 open_status_page: bool = False) -> None:
        self.app = app
        self.api_key = api_key or None
        self.max_body = max_body
        self.open = OPEN_PATHS | ({("GET", "/metrics")} if open_metrics else set()) | (
            {("GET", "/")} if open_status_page else set())
        self.open_pages = open_status_page

    def _open_page(self, scope: Scope) -> bool:
        """A pipeline's page (``GET /pipelines/{name}``) is as open as the overview that links to it."""
        return self.open_pages and scope["method"] == "GET" and _PIPELINE_PAGE.match(scope["path"]) is not None

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

        if self.api_key and (scope["method"], scope["path"]) not in self.open and not self._open_page(scope):
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                await _reply(send_with_id, 401, "unauthorized", "missing or wrong X-API-Key header")
                return
        if not self.api_key and scope["method"] not in _SAFE_METHODS and _cross_site(headers):
            await _reply(send_with_id, 403, "cross_site_request",
                         "refused a request a page on another site made your browser send (no server.apiKey is set)")
            return
        too_large = f"the body is larger than {self.max_body} bytes"
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            await _reply(send_with_id, 413, "request_too_large", too_large, close=True)
            return
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            await _reply(send_with_id, 413, "request_too_large", too_large, close=True)
            return
        if body is None:  # the client went away (or the server's body timeout closed the connection)
            return
        if body and not _is_json(headers.get("content-type")):
            if not self.api_key:
                await _reply(send_with_id, 415, "unsupported_media_type",
                             "send the body with Content-Type: application/json (required while no server.apiKey "
                             "is set, so that no other site's page can post here)")
                return
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
            scope["headers"].append((b"content-type", b"application/json"))
        await self.app(scope, _replay(body, receive), send_with_id)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client left; BodyTooLarge as soon as it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class BodyTooLarge(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then the connection's own messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    header = MimeHeader()
    header["content-type"] = content_type
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _cross_site(headers: dict[str, str]) -> bool:
    """Whether a browser says a page on another origin made this request (curl and SDKs say nothing)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


async def _reply(send: Send, status: int, code: str, message: str, close: bool = False) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is never read: end the connection rather than parse it as a request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
