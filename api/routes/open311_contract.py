"""The Open311 door's part of the OpenAPI contract: its answers, parameters and form.

The route declarations (api.routes.open311) use these; `document` adds what
only the whole document can hold (the form's schema, the api_key scheme, the
catalogue's codes on the service_code path parameter).
"""

from __future__ import annotations

from typing import Any

from api.contract import REF, component, crs_schema
from api.schemas import PHONE, URL, china_box
from cases import open311

PREFIX = "/open311/v2"


_NULLABLE_STR = {"type": ["string", "null"]}
DISCOVERY = component(
    "Discovery",
    {
        "type": "object",
        "required": ["changeset", "contact", "key_service", "endpoints"],
        "properties": {
            "changeset": {"type": "string", "format": "date-time"},
            "contact": {"type": "string"},
            "key_service": {"type": "string"},
            "jurisdiction_id": {"type": "string"},
            "max_requests": {"type": "integer"},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["specification", "url", "changeset", "type", "formats"],
                    "properties": {
                        "specification": {"type": "string"},
                        "url": {"type": "string"},
                        "changeset": {"type": "string", "format": "date-time"},
                        "type": {"enum": ["production", "test"]},
                        "formats": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
)
SERVICES = component(
    "Services",
    {
        "type": "array",
        "items": {
            "type": "object",
            "required": list(open311.Service("", "", "", "", "").as_spec()),
            "properties": {
                "service_code": {"$ref": REF + "SubclassCode"},
                "service_name": {"type": "string"},
                "description": {"type": "string"},
                "metadata": {"type": "boolean"},
                "type": {"enum": ["realtime", "batch", "blackbox"]},
                "keywords": {"type": "string"},
                "group": {"type": "string"},
            },
        },
    },
)
SERVICE_DEFINITION = component(
    "ServiceDefinition",
    {
        "type": "object",
        "required": ["service_code", "attributes"],
        "properties": {
            "service_code": {"$ref": REF + "SubclassCode"},
            "attributes": {"type": "array", "items": {"type": "object"}},
        },
    },
)
SERVICE_REQUESTS = component(
    "ServiceRequests",
    {
        "type": "array",
        "items": {
            "type": "object",
            "required": [
                "service_request_id",
                "status",
                "service_code",
                "requested_datetime",
                "updated_datetime",
            ],
            "properties": {
                "service_request_id": {"type": "integer"},
                "status": {"enum": ["open", "closed"]},
                "status_notes": _NULLABLE_STR,
                "service_name": _NULLABLE_STR,
                "service_code": {"type": "string"},
                "description": _NULLABLE_STR,
                "agency_responsible": _NULLABLE_STR,
                "service_notice": _NULLABLE_STR,
                "requested_datetime": {"type": "string", "format": "date-time"},
                "updated_datetime": {"type": "string", "format": "date-time"},
                "expected_datetime": {"type": ["string", "null"], "format": "date-time"},
                "address": _NULLABLE_STR,
                "address_id": _NULLABLE_STR,
                "zipcode": _NULLABLE_STR,
                "lat": {"type": ["number", "null"]},
                "long": {"type": ["number", "null"]},
                "media_url": _NULLABLE_STR,
            },
        },
    },
)
TOKEN_LOOKUP = component(
    "TokenLookup",
    {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["service_request_id", "token"],
            "properties": {"service_request_id": {"type": "integer"}, "token": {"type": "string"}},
        },
    },
)
CREATED = component(
    "CreatedRequest",
    {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["service_request_id"],
            "properties": {
                "service_request_id": {"type": "integer"},
                "service_notice": _NULLABLE_STR,
                "account_id": _NULLABLE_STR,
            },
        },
    },
)


def _query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_NOT_BLANK = {"type": "string", "pattern": "[^ ]"}


def _whole_number(pattern: str) -> dict[str, Any]:
    """Digits (a number in range), or empty (absent)."""
    return {"type": "string", "pattern": pattern}


JURISDICTION = _query_param(
    "jurisdiction_id",
    {"type": "string", "enum": [open311.JURISDICTION_ID, ""]},
    "this endpoint's jurisdiction (case does not matter; empty means absent); "
    "any other is not found",
)
REQUEST_QUERY = [
    JURISDICTION,
    _query_param(
        "service_request_id",
        {"type": "string", "pattern": open311.ID_LIST_PATTERN},
        f"comma-delimited ids (at most {open311.MAX_IDS}); overrides every other filter",
    ),
    _query_param(
        "service_code",
        {"type": "string", "pattern": open311.CODE_LIST_PATTERN},
        "comma-delimited service codes",
    ),
    _query_param(
        "status",
        {"type": "string", "pattern": open311.STATUS_LIST_PATTERN},
        "open, closed or both, comma-delimited",
    ),
    _query_param(
        "start_date",
        {"type": "string", "pattern": open311.W3C_PATTERN},
        "earliest requested_datetime (W3C: a date, or a time with its offset); "
        "with end_date at most 90 days apart",
    ),
    _query_param(
        "end_date",
        {"type": "string", "pattern": open311.W3C_PATTERN},
        "latest requested_datetime; default: the last 90 days",
    ),
    _query_param(
        "page",
        _whole_number(open311.PAGE_PATTERN),
        f"page number from 1 (to {open311.MAX_PAGE})",
    ),
    _query_param(
        "page_size",
        _whole_number(open311.PAGE_SIZE_PATTERN),
        f"requests per page, 1 to {open311.MAX_RESULTS}",
    ),
]


def _form_schema() -> dict[str, Any]:
    """The fields of POST requests (the spec's, and crs), as the form carries them."""
    lon_min, lon_max, lat_min, lat_max = china_box()
    text = {"type": "string", "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"}
    return {
        "title": "Open311RequestForm",
        "type": "object",
        "required": ["service_code"],
        "properties": {
            "jurisdiction_id": JURISDICTION["schema"],
            "service_code": {"$ref": REF + "SubclassCode"},
            "lat": {"type": "number", "minimum": lat_min, "maximum": lat_max},
            "long": {"type": "number", "minimum": lon_min, "maximum": lon_max},
            "crs": crs_schema(),
            "address_string": {**text, "maxLength": 300},
            "address_id": {**text, "maxLength": 100},
            "email": text,
            "device_id": text,
            "account_id": text,
            "first_name": {**text, "maxLength": 25},
            "last_name": {**text, "maxLength": 25},
            "phone": {"type": "string", "pattern": PHONE},
            "description": {**text, "maxLength": 2000},
            "media_url": {"type": "string", "pattern": URL, "maxLength": 1000},
        },
        "dependentRequired": {"lat": ["long"], "long": ["lat"]},
        "anyOf": [
            {"required": ["lat", "long"]},
            {"required": ["address_string"], "properties": {"address_string": _NOT_BLANK}},
            {"required": ["address_id"], "properties": {"address_id": _NOT_BLANK}},
        ],
    }


def document(doc: dict[str, Any]) -> None:
    """What the route declarations cannot say: the POST form and the api_key scheme."""
    schemes = doc["components"].setdefault("securitySchemes", {})
    schemes["api_key"] = {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "a key from `grid apikey create NAME`; the form field api_key also works",
    }
    doc["components"]["schemas"]["Open311RequestForm"] = _form_schema()
    for path, item in doc["paths"].items():
        if not path.startswith(PREFIX):
            continue
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "service_code" and parameter["in"] == "path":
                    parameter["schema"] = {"$ref": REF + "SubclassCode"}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
    "description": "a retry with the same key and fields gets the first answer",
}
FORM_BODY = {"schema": {"$ref": REF + "Open311RequestForm"}}
