"""One table from domain errors to HTTP status, and the JSON API's error shape.

Every error a client can cause answers with `{"detail": [{"code", "message",
"field"}]}` (api.contract.ApiErrors) and a 4xx status; nothing a client sends
produces a 500. Open311 paths shape their errors their own way (the spec's
list of code and description) and register their shaper by path prefix.
A 405 always carries `Allow`: every method the path answers, across routes.
A database that cannot be reached is a 503 (with Retry-After), not a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
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

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
"""The `code` of errors that HTTP itself raises (not a domain error)."""

log = logging.getLogger(__name__)

UNAVAILABLE = "the database is not reachable just now; try again shortly"

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


def _allow_table(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each documented path as a regex, with its documented methods (HEAD with GET)."""
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            parts = re.split(r"(\{[^}]+\})", template)
            regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            methods = {m.upper() for m in item if m.upper() in HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((re.compile(regex), methods))
        app.state.allow_table = table
    return table


def allowed_methods(request: Request, fallback: str | None = None) -> str:
    """Every method the request's path answers, as `Allow` says it (from the contract).

    A path with several routes (Open311's requests: GET and POST) lists them
    all; paths outside the document keep what the router said (`fallback`).
    """
    methods: set[str] = set()
    for regex, declared in _allow_table(request.app):
        if regex.fullmatch(request.url.path):
            methods |= declared
    if not methods:
        return fallback or ""
    return ", ".join(sorted(methods))


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

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # Connection refused, database missing, pool exhausted, statement cancelled:
        # nothing the client did; it may retry. The log gets the driver's first line
        # (never the statement's parameters, which may hold personal data).
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).splitlines() or [""])[0][:200]
        log.warning("database unavailable: %s: %s", type(orig).__name__, first)
        return error_response(
            request,
            503,
            [{"code": "unavailable", "message": UNAVAILABLE, "field": None}],
            {"Retry-After": "5"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow"))
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(
            request,
            exc.status_code,
            [{"code": code, "message": str(exc.detail), "field": None}],
            headers or None,
        )
