"""The FastAPI application: routes, error mapping, the request guard. OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock import __version__
from interlock.api import errors
from interlock.api.middleware import Guard
from interlock.api.page import router as page_router
from interlock.api.pipeline_page import router as pipeline_page_router
from interlock.api.routes import router
from interlock.config.project import ServerConfig
from interlock.errors import DomainError
from interlock.steps.deps import Deps


def create_app(deps: Deps) -> Guard:
    """The ASGI app for ``deps`` (wrapped in the request guard: ids, API key, body limit)."""
    app = FastAPI(title="Interlock", version=__version__,
                  description="Evaluate pipeline preconditions, trigger exactly once, watch the run.")
    app.state.deps = deps
    app.include_router(router)
    app.include_router(page_router)
    app.include_router(pipeline_page_router)
    app.add_exception_handler(errors.ApiError, errors.api_error)
    app.add_exception_handler(DomainError, errors.domain_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(Exception, errors.unexpected_error)
    server = deps.project.config.server or ServerConfig()
    guarded = Guard(app, server.api_key, server.max_request_body, open_metrics=server.open_metrics,
                    open_status_page=server.open_status_page)
    guarded.fastapi = app  # type: ignore[attr-defined]
    return guarded
