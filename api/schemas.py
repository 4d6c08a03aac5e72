"""Request parsing for the JSON API: content type, size, JSON, then the model.

Bodies are read here rather than by FastAPI so that every failure has a clear
answer: wrong content type → 415, malformed JSON or a non-object → 422, and
model errors → 422 naming each field (over the size limit, also when sent
chunked: 413 from api.limits while the body is read). A canonical form of the
body is kept for idempotency. `complaint_schema` is the documented body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from cases.errors import InvalidInput
from cases.intake import ComplaintIn
from cases.open311 import URL_PATTERN as URL
from gis import crs as crsmod

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = [
    "ComplaintIn",
    "JsonBody",
    "china_box",
    "complaint_schema",
    "json_body",
    "parse_model",
]


@dataclass(frozen=True)
class JsonBody:
    """A request body that is a JSON object, and the bytes it came as."""

    data: dict[str, Any]
    raw: bytes

    @property
    def canonical(self) -> bytes:
        """Sorted-key compact JSON: the same request sent twice hashes the same.

        Computed when asked (only requests with an Idempotency-Key need it).
        """
        try:
            return json.dumps(
                self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8", "surrogatepass")
        except ValueError:  # circular cannot happen from JSON; NaN is fine for json.dumps
            return self.raw


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_body(request: Request) -> JsonBody:
    """Dependency: the body as a JSON object, or a clear 415/422 (413: api.limits)."""
    if not _is_json(request.headers.get("content-type")):
        raise HTTPException(415, "send the body as JSON with Content-Type: application/json")
    raw = await request.body()
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
    return JsonBody(data=data, raw=raw)


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


# ------------------------------------------------------- the documented body ---


def _edge(inside: float, outside: float, probe: Any) -> float:
    """Where `probe` turns false between `inside` and `outside`, to 1e-7 (bisection)."""
    for _ in range(200):
        middle = (inside + outside) / 2
        if bool(probe(middle)):
            inside = middle
        else:
            outside = middle
        if abs(inside - outside) < 1e-9:
            break
    return round(inside, 7)


@lru_cache(maxsize=1)
def china_box() -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of gis.crs.in_china, read off the function itself.

    The intake refuses points outside this box; the contract states the box as
    ranges, from the one rule rather than a copy of its numbers.
    """
    lon0, lat0 = 105.0, 30.0
    return (
        _edge(lon0, -180.0, lambda x: crsmod.in_china(x, lat0)),
        _edge(lon0, 180.0, lambda x: crsmod.in_china(x, lat0)),
        _edge(lat0, -90.0, lambda y: crsmod.in_china(lon0, y)),
        _edge(lat0, 90.0, lambda y: crsmod.in_china(lon0, y)),
    )


NO_NUL = r"^[^\u0000]*$"
SINCE_2000 = r"^(?:2000-(?:0[2-9]|1[0-2])|200[1-9]|20[1-9][0-9]|2[1-9][0-9]{2}|[3-9][0-9]{3})-"
"""A date-time from February 2000 on (the intake refuses reports before 2000)."""
PHONE = r"^(?:[0-9+-][0-9+ -]{3,18}[0-9+-])?$"
"""5-20 digits, '+', '-' or spaces (inside), or empty (none)."""


def complaint_schema(subclass: dict[str, Any], crs: dict[str, Any]) -> dict[str, Any]:
    """The documented body of POST /api/v1/complaints (ComplaintIn, with its rules stated).

    Lengths come from ComplaintIn; what its validators check is written as
    ranges, patterns and the two ways to give a location (lon and lat
    together, or a non-blank address).
    """
    base = ComplaintIn.model_json_schema()["properties"]
    lon_min, lon_max, lat_min, lat_max = china_box()

    def length(name: str) -> int:
        prop = base[name]
        for option in prop.get("anyOf", [prop]):
            if "maxLength" in option:
                return int(option["maxLength"])
        raise KeyError(name)

    def optional(schema: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [schema, {"type": "null"}]}

    text = {"type": "string", "pattern": NO_NUL}
    return {
        "title": "ComplaintSubmission",
        "type": "object",
        "additionalProperties": False,
        "required": ["subclass"],
        "properties": {
            "lon": {
                "type": "number",
                "minimum": lon_min,
                "maximum": lon_max,
                "description": "longitude (x) in `crs`; with lat. The point must lie in "
                "China (the GCJ-02 box) once converted to WGS84",
            },
            "lat": {
                "type": "number",
                "minimum": lat_min,
                "maximum": lat_max,
                "description": "latitude (y) in `crs`; with lon",
            },
            "crs": crs,
            "subclass": subclass,
            "description": {**text, "maxLength": length("description"), "default": ""},
            "reporter_name": optional({**text, "maxLength": length("reporter_name")}),
            "reporter_phone": optional(
                {"type": "string", "pattern": PHONE, "description": "5-20 digits, +, - or spaces"}
            ),
            "address": optional({**text, "maxLength": length("address")}),
            "photos": {
                "type": "array",
                "maxItems": int(base["photos"]["maxItems"]),
                "items": {"type": "string", "pattern": URL, "maxLength": 1000},
                "description": "up to 9 http(s) URLs",
            },
            "reported_at": optional(
                {
                    "type": "string",
                    "format": "date-time",
                    "pattern": SINCE_2000,
                    "description": "when it was seen: ISO 8601 with a time-zone offset, "
                    "from 2000 to now",
                }
            ),
        },
        "dependentRequired": {"lon": ["lat"], "lat": ["lon"]},
        "anyOf": [
            {"required": ["lon", "lat"]},
            {
                "required": ["address"],
                "properties": {"address": {"type": "string", "pattern": r"\S"}},
            },
        ],
    }
