"""The request-body limit as plain ASGI middleware: 413 above `api_max_body_bytes`.

A declared Content-Length over the limit (or one that is not a number) is
answered at once, before the application runs. A body sent without one
(chunked transfer) is counted as it is received: the chunk that crosses the
limit raises `BodyTooLarge`, an HTTP 413 that the application's error table
answers in the door's own format (the JSON API's list or Open311's). GET and
HEAD bodies are never read by any route, so they are not limited either.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: no extra task, queue
or response streaming per request, which the API's hot path cannot afford.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors

UNLIMITED_METHODS = frozenset({"GET", "HEAD"})
"""Methods whose bodies no route reads (and so are never refused for size)."""


class BodyTooLarge(HTTPException):
    """A request body over the limit (413); raised while the body is being received."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit // 1024} KiB")


class BodyLimit:
    """ASGI middleware refusing request bodies over `limit` bytes with 413.

    `larger` names the few paths that take more (a patrol's GPS track): path -> limit.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    def limit_for(self, scope: Scope) -> int:
        """The limit of this request's path (below the app's root path, if mounted)."""
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        return self.larger.get(path.rstrip("/") or "/", self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes as the application reads them."""
        if scope["type"] != "http" or scope["method"] in UNLIMITED_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await self._refuse(scope, send, limit)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            # Only when the application let it through unanswered (its error table
            # normally answers it); nothing can be said once a response has begun.
            if started:
                raise
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        request = Request(scope)
        exc = BodyTooLarge(limit)
        response = errors.error_response(
            request, 413, [{"code": "too_large", "message": exc.detail, "field": None}]
        )
        response.headers["Connection"] = "close"
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
