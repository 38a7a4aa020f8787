"""Request bodies are read as strict JSON (:mod:`interlock.strictjson`).

A body with NaN, duplicate keys, a lone surrogate or NUL is a 400 ``bad_request`` like any other
malformed JSON: a lone surrogate taken in would be stored, then fail every read of the record
(a 500 on the way out).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from interlock import strictjson


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = strictjson.loads(body)
            except strictjson.NotStrictJson as exc:
                # FastAPI turns a JSONDecodeError into its validation error: one 400 path for all.
                raise json.JSONDecodeError(str(exc), body.decode("utf-8", "replace"), 0) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute whose handler reads the body with :class:`StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
