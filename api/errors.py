"""One table from domain errors to HTTP status, and the JSON API's error shape.

Every error a client can cause answers with `{"detail": [{"code", "message",
"field"}]}` (api.contract.ApiErrors) and a 4xx status; nothing a client sends
produces a 500. Open311 paths shape their errors their own way (the spec's
list of code and description) and register their shaper by path prefix.
A 405 always carries `Allow`: every method the path answers, across routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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

HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
"""The `code` of errors that HTTP itself raises (not a domain error)."""

Shaper = Callable[[Request, int, list[dict[str, Any]], dict[str, str] | None], Response]

# Paths whose errors another module shapes (e.g. Open311's list format).
_custom_error_shapers: list[tuple[str, Shaper]] = []


def register_error_shaper(prefix: str, shaper: Shaper) -> None:
    """Let a router shape the errors of paths under `prefix` (request, status, items, headers)."""
    if all(p != prefix for p, _ in _custom_error_shapers):
        _custom_error_shapers.append((prefix, shaper))


def status_for(exc: Exception) -> int:
    """The HTTP status of a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_response(
    request: Request,
    status: int,
    items: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Response:
    """Shape an error answer, by the path's own rules when it has them."""
    for prefix, shaper in _custom_error_shapers:
        if request.url.path.startswith(prefix):
            return shaper(request, status, items, headers)
    return JSONResponse({"detail": items}, status_code=status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (for `Allow`)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        route_methods = getattr(route, "methods", None)
        if match is not Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


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
                "message": str(e.get("msg") or "invalid"),
                "field": _field(e.get("loc", ())) or None,
            }
            for e in exc.errors()
        ]
        return error_response(request, 422, items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(
            request,
            exc.status_code,
            [{"code": code, "message": str(exc.detail), "field": None}],
            headers or None,
        )
