"""The routes an app really serves, read from the app itself (so a new route is covered at once)."""

from __future__ import annotations

from typing import Any


def app_routes(app: Any) -> set[tuple[str, str, bool]]:
    """``(METHOD, path template, in the OpenAPI schema)`` for every route of the (guarded) app.

    Reads FastAPI's route table: plain routes, and the routes of included routers (FastAPI ≥ 0.150
    keeps those behind an inclusion object). HEAD, which Starlette adds to every GET, is left out.
    """
    fastapi = getattr(app, "fastapi", app)
    found: set[tuple[str, str, bool]] = set()
    for route in fastapi.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            original = getattr(context, "original_route", context)
            in_schema = bool(getattr(context, "include_in_schema", getattr(original, "include_in_schema", False)))
            for method in getattr(original, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, context.path, in_schema))
    return found
