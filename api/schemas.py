"""Request parsing for the JSON API: content type, size, JSON, then the model.

Bodies are read here rather than by FastAPI so that every failure has a clear
answer: wrong content type → 415, over the size limit (also when sent chunked,
without a Content-Length) → 413, malformed JSON or a non-object → 422, and
model errors → 422 naming each field. The raw bytes are kept for idempotency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from cases.errors import InvalidInput
from cases.intake import ComplaintIn

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = ["ComplaintIn", "JsonBody", "json_body", "parse_model"]


@dataclass(frozen=True)
class JsonBody:
    """A request body that is a JSON object: the parsed value and a canonical form."""

    data: dict[str, Any]
    canonical: bytes
    """Sorted-key compact JSON: the same request sent twice hashes the same."""


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body(request: Request) -> JsonBody:
    """Dependency: the body as a JSON object, or a clear 415/413/422."""
    from api.app import MAX_BODY_BYTES  # here: api.app imports the routes that import this

    if not _is_json(request.headers.get("content-type")):
        raise HTTPException(415, "send the body as JSON with Content-Type: application/json")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body over {MAX_BODY_BYTES // 1024} KiB")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidInput("the request body is empty; send a JSON object", field="body")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", field="body"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text", field="body") from None
    except RecursionError:
        raise InvalidInput("the JSON is nested too deeply", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    try:
        canonical = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8", "surrogatepass")
    except ValueError:  # circular cannot happen from JSON; NaN is fine for json.dumps
        canonical = raw
    return JsonBody(data=data, canonical=canonical)


def parse_model(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate `data` against `model`; errors become a 422 naming every field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False, include_input=False):
            loc = tuple(e.get("loc", ()))
            if not loc:
                loc = tuple(str(e.get("ctx", {}).get("field", "body")).split("."))
            msg = str(e.get("msg", "invalid"))
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            if e.get("type") == "extra_forbidden":
                msg = "unknown field; see the API documentation for the accepted fields"
            errors.append({"loc": ("body", *loc), "msg": msg, "type": e.get("type")})
        raise RequestValidationError(errors) from None
