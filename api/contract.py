"""The OpenAPI contract: error schemas, declared statuses, enums and patterns.

Two doors, one error schema each, used by every route of that door:
- the JSON API (/api/v1, /healthz): `ApiErrors`, `{"detail": [{code, message, field}]}`;
- Open311 (/open311/v2): `Open311Errors`, the spec's list of `{code, description}`
  (in XML `<errors><error><code/><description/></error></errors>`).

Every operation declares each status it can answer (`api_errors`,
`open311_errors`); FastAPI's own 422 (a schema this API never sends) is
removed. Where an input set is finite the document says so: subclass and
service codes are an enum built from the catalogue, CRS names an enum with a
pattern for `EPSG:n`, formats `json`/`xml`. A 405 (any method a path does not
list) always carries `Allow`; see api.errors.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter

from gis.crs import CANONICAL_NAMES

REF = "#/components/schemas/"

DESCRIPTIONS = {
    400: "Bad request: a parameter or field is missing, malformed or out of range",
    403: "Forbidden: the api_key is missing, wrong or revoked",
    404: "Not found: no such resource, format, service, request, token or jurisdiction",
    409: "Conflict: this Idempotency-Key was used before with a different request",
    413: "Request body too large (also when sent chunked, without Content-Length)",
    415: "Unsupported media type: send the body as application/json",
    422: "Unprocessable: invalid field(s), each named in detail[].field",
    503: "Unavailable: the database is down or no layout is loaded yet",
}


# ------------------------------------------------------------- error bodies ---


class ApiError(BaseModel):
    """One error of the JSON API: a code, a message for people, the field it is about."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="e.g. invalid, not_found, conflict, too_large")
    message: str = Field(min_length=1, description="what is wrong, for people")
    field: str | None = Field(description="the field or parameter, dotted; null for the request")


class ApiErrors(BaseModel):
    """Every error answer of the JSON API (/api/v1, /healthz)."""

    model_config = ConfigDict(extra="forbid")

    detail: list[ApiError] = Field(min_length=1)


class Open311Error(BaseModel):
    """One error of Open311 GeoReport v2: the HTTP status and a description."""

    model_config = ConfigDict(extra="forbid")

    code: int = Field(description="the HTTP status")
    description: str = Field(min_length=1, description="`field: message` or a message")


class Open311Errors(RootModel[list[Open311Error]]):
    """Every error answer under /open311/v2 (JSON; the XML has the same elements)."""

    root: list[Open311Error] = Field(min_length=1)


XML = {"type": "string", "contentMediaType": "text/xml"}
"""What an XML answer is declared as (the elements are the JSON fields, see the spec)."""


RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def _headers(status: int) -> dict[str, Any]:
    return {"headers": RETRY_AFTER} if status == 503 else {}


def api_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a JSON API route: each status with the ApiErrors schema."""
    return {
        s: {"model": ApiErrors, "description": DESCRIPTIONS[s], **_headers(s)} for s in statuses
    }


def open311_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an Open311 route: each status as the spec's errors, JSON or XML."""
    return {
        s: {
            "model": Open311Errors,
            "description": DESCRIPTIONS[s],
            "content": {"text/xml": {"schema": XML}},
            **_headers(s),
        }
        for s in statuses
    }


# ------------------------------------------------------------- components ---

_components: dict[str, dict[str, Any]] = {}


def component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Register `schema` under components/schemas/`name`; return a $ref to it."""
    _components[name] = schema
    return {"$ref": REF + name}


def schema_of(tp: Any, name: str) -> dict[str, Any]:
    """A $ref to the JSON Schema of a type as serialised (its parts hoisted to components)."""
    schema = TypeAdapter(tp).json_schema(mode="serialization", ref_template=REF + "{model}")
    for sub_name, sub in schema.pop("$defs", {}).items():
        _components.setdefault(sub_name, sub)
    schema["title"] = name
    return component(name, schema)


def input_of(tp: Any, name: str) -> dict[str, Any]:
    """A $ref to the JSON Schema of a type as accepted (a request body; parts hoisted)."""
    schema = TypeAdapter(tp).json_schema(mode="validation", ref_template=REF + "{model}")
    for sub_name, sub in schema.pop("$defs", {}).items():
        _components.setdefault(sub_name, sub)
    schema["title"] = name
    return component(name, schema)


def json_request(tp: Any, name: str) -> dict[str, Any]:
    """`openapi_extra` declaring the JSON body an operation reads itself (api.schemas)."""
    schema = input_of(tp, name)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def ok(
    schema: dict[str, Any], status: int = 200, description: str = "OK"
) -> dict[int | str, dict[str, Any]]:
    """A JSON success response of `schema`."""
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def ok_open311(schema: dict[str, Any], description: str = "OK") -> dict[int | str, dict[str, Any]]:
    """An Open311 success response: `schema` in JSON, or the same elements in XML."""
    return {
        200: {
            "description": description,
            "content": {"application/json": {"schema": schema}, "text/xml": {"schema": XML}},
        }
    }


# ---------------------------------------------------------- finite inputs ---

EPSG_PATTERN = r"^[Ee][Pp][Ss][Gg]:[0-9]{1,6}$"


def crs_schema(default: str | None = "wgs84") -> dict[str, Any]:
    """A CRS name: one of the named CRSs, or EPSG:n (a 2-D CRS that PROJ knows)."""
    schema: dict[str, Any] = {
        "anyOf": [
            {"type": "string", "enum": list(CANONICAL_NAMES)},
            {"type": "string", "pattern": EPSG_PATTERN, "format": "epsg"},
        ],
        "description": "wgs84 | cgcs2000 | gcj02 (AMap, Tencent, WeChat) | bd09 (Baidu) | "
        "EPSG:n of a 2-D geographic or projected CRS known to PROJ (EPSG:4326 is wgs84, "
        "EPSG:4490 cgcs2000); names are case-insensitive",
    }
    if default is not None:
        schema["default"] = default
    return schema


def codes_enum(codes: Iterable[str], description: str) -> dict[str, Any]:
    """A string that is one of `codes`."""
    return {"type": "string", "enum": list(codes), "description": description}


FORMAT = {"type": "string", "enum": ["json", "xml"], "description": "the answer's format"}


# ------------------------------------------------------------- the document ---


def _strip_default_422(doc: dict[str, Any]) -> None:
    """Drop FastAPI's own 422 (HTTPValidationError): this API never answers it."""
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            answer = responses.get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == REF + "HTTPValidationError":
                del responses["422"]
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def install(app: FastAPI, extend: Iterable[Callable[[dict[str, Any]], None]] = ()) -> None:
    """Serve the contract as /openapi.json: FastAPI's document, made truthful.

    `extend` are further edits of the document (each door adds what it alone knows).
    """
    edits = list(extend)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _components.items():
                schemas.setdefault(name, copy.deepcopy(schema))
            _strip_default_422(doc)
            for edit in edits:
                edit(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
