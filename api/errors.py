"""One table from domain errors to HTTP status, and the JSON error shape.

Every error a client can cause answers with `{"detail": [{"code", "message",
"field"}]}` and a 4xx status; nothing a client sends produces a 500. Open311
paths shape their errors their own way (a list of code and description) and
register their own handlers by path prefix.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cases.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from gis.crs import UnknownCRSError
from gis.locate import InvalidLocation

STATUS: dict[type[Exception], int] = {
    InvalidInput: 422,
    InvalidLocation: 422,
    UnknownCRSError: 422,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
}

# Paths whose errors another module shapes (e.g. Open311's list format).
_custom_error_shapers: list[tuple[str, Any]] = []


def register_error_shaper(prefix: str, shaper: Any) -> None:
    """Let a router shape errors for paths under `prefix`: shaper(request, status, items)."""
    _custom_error_shapers.append((prefix, shaper))


def status_for(exc: Exception) -> int:
    """The HTTP status of a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_response(request: Request, status: int, items: list[dict[str, Any]]) -> Response:
    """Shape an error answer, by the path's own rules when it has them."""
    for prefix, shaper in _custom_error_shapers:
        if request.url.path.startswith(prefix):
            return shaper(request, status, items)
    return JSONResponse({"detail": items}, status_code=status)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path", "header"))


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return error_response(
            request,
            status_for(exc),
            [{"code": exc.code, "message": exc.message, "field": exc.field}],
        )

    @app.exception_handler(InvalidLocation)
    @app.exception_handler(UnknownCRSError)
    async def value_error(request: Request, exc: ValueError) -> Response:
        field = "crs" if isinstance(exc, UnknownCRSError) else "lon,lat"
        return error_response(
            request, 422, [{"code": "invalid", "message": str(exc), "field": field}]
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        items = [
            {
                "code": "invalid",
                "message": e.get("msg", "invalid"),
                "field": _field(e.get("loc", ())),
            }
            for e in exc.errors()
        ]
        return error_response(request, 422, items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "error"
        )
        return error_response(
            request, exc.status_code, [{"code": code, "message": str(exc.detail), "field": None}]
        )
