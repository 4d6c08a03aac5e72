"""Open311 GeoReport v2 under /open311/v2/ (wiki.open311.org/GeoReport_v2).

Every resource answers in `.json` and `.xml`, chosen by the path's extension;
any other extension is not found. XML is built with ElementTree (text is
escaped, characters XML cannot carry are dropped) in the spec's element names;
JSON follows the spec's Spark convention (a container of repeated elements is
an array). Errors on these paths, including FastAPI's own, come out as the
spec's list of code and description: 400 for bad or missing parameters, 403
for the api_key, 404 for what does not exist.

Handlers are thin: collect the parameters, call cases.open311, shape.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.contract import FORMAT, ok_open311, open311_errors
from api.deps import EngineDep, SettingsDep
from api.errors import register_error_shaper
from api.routes.open311_contract import (
    CREATED,
    DISCOVERY,
    FORM_BODY,
    IDEMPOTENCY_KEY,
    JURISDICTION,
    PREFIX,
    REQUEST_QUERY,
    SERVICE_DEFINITION,
    SERVICE_REQUESTS,
    SERVICES,
    TOKEN_LOOKUP,
)
from cases import open311
from cases.apikeys import verify_api_key
from cases.errors import InvalidInput, NotFound
from cases.idempotency import run_idempotent

router = APIRouter(prefix=PREFIX, tags=["open311"])

MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

# XML: the element name of the items of each container (the spec's ⇊ ↴ pairs).
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}

# Characters XML 1.0 cannot carry at all (escaping does not help): dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# ---------------------------------------------------------------- shaping ---


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list | tuple):
        item = ITEMS[element.tag]
        for child in value:
            _fill(ET.SubElement(element, item), child)
    elif value is None:
        return
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = _NOT_XML.sub("", str(value))


def render(fmt: str, root: str, value: Any) -> tuple[str, str]:
    """Body and media type of `value` as the document `root` in `fmt`."""
    if fmt == "xml":
        element = ET.Element(root)
        _fill(element, value)
        declaration = '<?xml version="1.0" encoding="utf-8"?>\n'
        return declaration + ET.tostring(element, encoding="unicode"), MEDIA["xml"]
    return json.dumps(value, ensure_ascii=False, allow_nan=False), MEDIA["json"]


def respond(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """A response of `value` as the document `root` in `fmt`."""
    body, media = render(fmt, root, value)
    return Response(content=body, status_code=status, media_type=media)


def _format(fmt: str) -> str:
    if fmt not in MEDIA:
        raise NotFound(f"format {fmt[:20]!r} not found; use .json or .xml", field="format")
    return fmt


def _shape_error(
    request: Request,
    status: int,
    items: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Response:
    """Errors under /open311/ as the spec's list; 422 becomes 400, as the spec says."""
    if status == 422:
        status = 400
    errors = []
    for item in items or [{"message": "error", "field": None}]:
        field = open311.open311_field(item.get("field"))
        message = str(item.get("message") or item.get("code") or "error")
        errors.append({"code": status, "description": f"{field}: {message}" if field else message})
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    response = respond(fmt, "errors", errors, status)
    response.headers.update(headers or {})
    return response


register_error_shaper("/open311/", _shape_error)


def _query(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


Fmt = Annotated[str, Path(description="json or xml", json_schema_extra=FORMAT)]

KEYED_GETS = ("/requests.{fmt}", "/requests/{service_request_id}.{fmt}", "/tokens/{token}.{fmt}")
"""The GETs that read requests: public as the spec intends (the spec's fields only, no
personal data), or behind an api_key when `CG_OPEN311_GET_REQUIRES_KEY` is set."""


def _keyed_get(request: Request, engine: EngineDep) -> None:
    """403 without a valid api_key, when the setting asks for one on GETs."""
    if request.app.state.settings.open311_get_requires_key:
        verify_api_key(engine, request.query_params.get("api_key"))


def keyed_gets_document(doc: dict[str, Any]) -> None:
    """The document's edit when GETs need a key: the api_key scheme and a 403 on them."""
    refused = doc["paths"][PREFIX + "/requests.{fmt}"]["post"]["responses"]["403"]
    for path in KEYED_GETS:
        operation = doc["paths"][PREFIX + path]["get"]
        operation["security"] = [{"api_key": []}]
        operation["responses"]["403"] = copy.deepcopy(refused)


# ------------------------------------------------------------------- GET ---


@router.get(
    "/discovery.{fmt}",
    summary="Service discovery",
    responses={**ok_open311(DISCOVERY), **open311_errors(404)},
)
def get_discovery(fmt: Fmt, request: Request) -> Response:
    """Where the GeoReport v2 endpoint is and what it speaks."""
    kind = _format(fmt)
    url = str(request.base_url).rstrip("/") + PREFIX
    return respond(kind, "discovery", open311.discovery(url))


@router.get(
    "/services.{fmt}",
    summary="GET Service List",
    responses={**ok_open311(SERVICES), **open311_errors(400, 404)},
    openapi_extra={"parameters": [JURISDICTION]},
)
def get_services(fmt: Fmt, request: Request) -> Response:
    """Every service type (a catalogue subclass)."""
    kind = _format(fmt)
    services = open311.list_services(_query(request))
    return respond(kind, "services", [s.as_spec() for s in services])


@router.get(
    "/services/{service_code}.{fmt}",
    summary="GET Service Definition",
    responses={**ok_open311(SERVICE_DEFINITION), **open311_errors(400, 404)},
    openapi_extra={"parameters": [JURISDICTION]},
)
def get_service_definition(service_code: str, fmt: Fmt, request: Request) -> Response:
    """A service's extra attributes (none: every service has metadata false)."""
    kind = _format(fmt)
    definition = open311.service_definition(_query(request), service_code)
    return respond(kind, "service_definition", definition)


@router.get(
    "/requests.{fmt}",
    summary="GET Service Requests",
    responses={**ok_open311(SERVICE_REQUESTS), **open311_errors(400, 404, 503)},
    openapi_extra={"parameters": REQUEST_QUERY},
)
def get_requests(fmt: Fmt, request: Request, engine: EngineDep) -> Response:
    """Requests by id, service, status and date (default: the last 90 days, at most 1000)."""
    kind = _format(fmt)
    _keyed_get(request, engine)
    found = open311.list_requests(engine, _query(request))
    return respond(kind, "service_requests", [r.as_spec() for r in found])


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    responses={**ok_open311(SERVICE_REQUESTS), **open311_errors(400, 404, 503)},
    openapi_extra={"parameters": [JURISDICTION]},
)
def get_request(
    service_request_id: Annotated[
        str, Path(json_schema_extra={"pattern": "^[0-9]{1,18}$"}, description="the case id")
    ],
    fmt: Fmt,
    request: Request,
    engine: EngineDep,
) -> Response:
    """One request."""
    kind = _format(fmt)
    _keyed_get(request, engine)
    found = open311.get_request(engine, _query(request), service_request_id)
    return respond(kind, "service_requests", [found.as_spec()])


@router.get(
    "/tokens/{token}.{fmt}",
    summary="GET service_request_id from a token",
    responses={**ok_open311(TOKEN_LOOKUP), **open311_errors(400, 404, 503)},
    openapi_extra={"parameters": [JURISDICTION]},
)
def get_token(
    token: Annotated[
        str,
        Path(json_schema_extra={"pattern": open311.TOKEN_PATTERN}, description="tracking token"),
    ],
    fmt: Fmt,
    request: Request,
    engine: EngineDep,
) -> Response:
    """The service_request_id a tracking token belongs to."""
    kind = _format(fmt)
    _keyed_get(request, engine)
    found = open311.request_id_for_token(engine, _query(request), token)
    return respond(kind, "service_requests", [found])


# ------------------------------------------------------------------ POST ---


@dataclass(frozen=True)
class FormFields:
    """The fields of a POST: every value per name, and a canonical form of the request."""

    params: dict[str, list[str]]
    canonical: bytes
    """Sorted, urlencoded, without api_key: what an idempotent retry must repeat."""

    def first(self, name: str) -> str | None:
        """The first non-blank value of `name`."""
        return next((v for v in self.params.get(name, ()) if v.strip()), None)


async def read_form(request: Request) -> FormFields:
    """The POST body as form fields (urlencoded as the spec says; multipart also read).

    Fields in the query string count too, after the body's (some clients put
    api_key or jurisdiction_id there).
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    max_fields = request.app.state.settings.api_max_form_fields
    pairs: list[tuple[str, str]] = []
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_fields=max_fields, max_files=0)
        except HTTPException:
            raise  # e.g. the body limit (413)
        except Exception as exc:  # malformed multipart: a client error, never a 500
            raise InvalidInput(f"malformed multipart body: {exc}", field="body") from exc
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise InvalidInput("file uploads are not accepted; send media_url", field=name)
            pairs.append((name, value))
    elif ctype in ("application/x-www-form-urlencoded", ""):
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(
                text, keep_blank_values=True, max_num_fields=max_fields, errors="strict"
            )
        except UnicodeDecodeError as exc:
            raise InvalidInput("the body is not UTF-8", field="body") from exc
        except ValueError as exc:
            raise InvalidInput(f"malformed form body: {exc}", field="body") from exc
    else:
        raise InvalidInput(
            f"send Content-Type application/x-www-form-urlencoded, not {ctype[:60]}",
            field="Content-Type",
        )
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    for name, value in request.query_params.multi_items():
        if name not in params:
            params.setdefault(name, []).append(value)
    canonical = urlencode(
        sorted((k, v) for k, vs in params.items() if k != "api_key" for v in vs)
    ).encode("utf-8")
    return FormFields(params=params, canonical=canonical)


FormDep = Annotated[FormFields, Depends(read_form)]


@router.post(
    "/requests.{fmt}",
    summary="POST Service Request",
    responses={**ok_open311(CREATED), **open311_errors(400, 403, 404, 409, 413, 503)},
    openapi_extra={
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": FORM_BODY,
                "multipart/form-data": FORM_BODY,
            },
        },
        "security": [{"api_key": []}],
    },
)
def post_request(
    fmt: Fmt, request: Request, form: FormDep, engine: EngineDep, settings: SettingsDep
) -> Response:
    """File a request (api_key required); honours an Idempotency-Key header."""
    kind = _format(fmt)
    key_id = verify_api_key(engine, form.first("api_key"))

    def produce() -> tuple[int, str, str]:
        created = open311.submit_request(engine, form.params, api_key_id=key_id, settings=settings)
        body, media = render(kind, "service_requests", [created.as_spec()])
        return 200, body, media

    # A retry with the same key and body gets the first answer and files nothing;
    # the same key with another body (or format) is refused with 409.
    status, body, media = run_idempotent(
        engine,
        f"open311:{key_id}",
        request.headers.get("idempotency-key"),
        kind.encode() + b"\n" + form.canonical,
        produce,
    )
    return Response(content=body, status_code=status, media_type=media)
