"""API errors: exceptions carrying a stable code, mapped once to a JSON response.

Every error body is ``{"error": {"code": "pipeline_not_found", "message": "..."}}``; the codes are
part of the API contract, the messages are for people. Domain errors (:mod:`interlock.errors`)
raised by the steps get their status here, by family (:data:`DOMAIN_STATUS`); :class:`ApiError`
is for what only the API refuses.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock.errors import BadInput, Conflict, DomainError, NotFound

# The HTTP status of each family of domain errors, most specific first; a DomainError outside
# every family is the caller's fault until shown otherwise (400).
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (BadInput, 400),
    (Conflict, 409),
    (DomainError, 400),
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


async def api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details)


def domain_status(exc: DomainError) -> int:
    return next(status for family, status in DOMAIN_STATUS if isinstance(exc, family))


async def domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    details = [{"path": exc.path, "message": exc.message}] if isinstance(exc, BadInput) and exc.path else None
    return error_response(domain_status(exc), exc.code, exc.message, details)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"path": ".".join(str(p) for p in e["loc"] if p != "body"), "message": _why(e)} for e in exc.errors()]
    return error_response(400, "bad_request", "the request is not valid; see details", problems)


def _why(error: Any) -> str:
    """pydantic's message; for a body that is not (strict) JSON, what is wrong with it."""
    detail = (error.get("ctx") or {}).get("error") if error.get("type") == "json_invalid" else None
    return f"{error['msg']}: {detail}" if detail else str(error["msg"])


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: ("not_found", "no such route"), 405: ("method_not_allowed", "method not allowed on this route")}
    code, message = codes.get(exc.status_code, ("http_error", str(exc.detail)))
    response = error_response(exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    import logging

    logging.getLogger(__name__).exception("unhandled API error", exc_info=exc)
    return error_response(500, "internal_error", "an internal error occurred; see the server log")
