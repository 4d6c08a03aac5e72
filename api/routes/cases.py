"""Routes: the case workflow for staff (/api/v1/cases): list, read, move.

- `GET /api/v1/cases?status=&tier=&holder=me&overdue=&page=&size=`: the cases
  the caller may see (their scope, cases.access), newest first;
- `GET /api/v1/cases/{id}`: one case with its events, and its ETag;
- `POST /api/v1/cases/{id}/{action}`: one move of the lifecycle
  (cases.lifecycle.states), JSON `{note, photos, reason, tier, rating,
  grid_code, master_id, version}`; the version the caller saw goes in
  `version` or as `If-Match: <ETag>` (RFC 9110). A change based on an old
  version is refused (409, or 412 for If-Match) with the case as it is now in
  `current`, never applied; a move the table does not allow from the case's
  state is 409 with `current` too; no version at all is 428.

Every route needs a bearer token (401 without); a case outside the caller's
scope is 404, the same as one that does not exist; a role the move is not for
is 403. Handlers parse, call one function of cases.lifecycle, shape.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import CurrentPrincipal
from api.contract import REF, ApiErrors, api_errors, component, ok
from api.deps import EngineDep, SettingsDep
from api.errors import error_response
from api.schemas import JsonBody, json_body, parse_model
from cases.lifecycle.errors import CaseConflict, PreconditionFailed, PreconditionRequired
from cases.lifecycle.states import API_ACTIONS, STATE_CODES, TIERS
from cases.lifecycle.transitions import Move, apply_move
from cases.lifecycle.views import MAX_ID, MAX_PAGE_SIZE, CaseFilter, get_case, list_cases

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

CaseId = Annotated[int, Path(gt=0, le=MAX_ID, description="the case's id")]
Action = Annotated[
    str,
    Path(
        description="a move of the lifecycle (docs/lifecycle.md)",
        json_schema_extra={"enum": list(API_ACTIONS)},
    ),
]


class MoveIn(BaseModel):
    """The body of a move; which fields a move needs is in the transition table."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=2000, description="what was done or said")
    photos: list[str] = Field(default_factory=list, max_length=9, description="http(s) URLs")
    reason: str | None = Field(default=None, max_length=2000)
    tier: Literal["minor", "moderate", "major"] | None = Field(
        default=None, description="raise_tier: the new, higher tier"
    )
    rating: int | None = Field(default=None, ge=1, le=5, description="evaluate: 1 to 5")
    grid_code: str | None = Field(
        default=None, pattern="^[0-9]{15}$", description="file: the grid of an unplaced case"
    )
    master_id: int | None = Field(default=None, gt=0, le=MAX_ID, description="mark_duplicate")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="the version this change is based on"
    )

    @field_validator("note", "reason")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("photos")
    @classmethod
    def _photos(cls, value: list[str]) -> list[str]:
        for i, url in enumerate(value):
            if (
                not url.startswith(("http://", "https://"))
                or len(url) > 1000
                or any(ch.isspace() or ch == "\x00" for ch in url)
            ):
                raise ValueError(f"photo {i + 1} must be an http(s) URL of at most 1000 characters")
        return value

    def move(self) -> Move:
        """The domain's form of the body."""
        return Move(
            note=self.note,
            photos=tuple(self.photos),
            reason=self.reason,
            tier=self.tier,
            rating=self.rating,
            grid_code=self.grid_code,
            master_id=self.master_id,
            version=self.version,
        )


_STRING = {"type": "string"}
_NSTRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_CASE_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "status": {"enum": list(STATE_CODES)},
    "status_label": _STRING,
    "status_note": _STRING,
    "subclass": _STRING,
    "subclass_name": _NSTRING,
    "tier": {"enum": list(TIERS)},
    "tier_label": _STRING,
    "description": _STRING,
    "address": _STRING,
    "photos": {"type": "array", "items": _STRING},
    "lon": {"type": ["number", "null"]},
    "lat": {"type": ["number", "null"]},
    "locate_method": _STRING,
    **{
        k: _NSTRING
        for k in (
            "grid_code",
            "community_code",
            "subdistrict_code",
            "station_code",
            "squad_code",
            "district_code",
            "holder_role",
            "holder_code",
            "holder_label",
            "department_code",
            "officer_code",
        )
    },
    "master_id": {"type": ["integer", "null"]},
    "report_count": {"type": "integer"},
    "source": _STRING,
    **{
        k: _TIME
        for k in (
            "reported_at",
            "created_at",
            "dispatched_at",
            "due_at",
            "reply_due_at",
            "replied_at",
            "closed_at",
        )
    },
    "due_provisional": {"type": "boolean"},
    "overdue": {"type": "boolean"},
    "reply_provisional": {"type": "boolean"},
    "rating": {"type": ["integer", "null"]},
    "version": {"type": "integer"},
    "etag": _STRING,
    "actions": {"type": "array", "items": {"enum": list(API_ACTIONS)}},
}
_CONTACT = {
    "reporter_name": {
        **_NSTRING,
        "description": "plain to who handles the case, masked to other staff, absent for analysts",
    },
    "reporter_phone": {**_NSTRING, "description": "as reporter_name (e.g. 138****5678)"},
}
STAFF_CASE = component(
    "StaffCase",
    {
        "type": "object",
        "required": list(_CASE_FIELDS),
        "properties": {**_CASE_FIELDS, **_CONTACT},
        "additionalProperties": False,
    },
)
EVENT = {
    "type": "object",
    "required": ["id", "at", "kind", "actor", "data"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "kind": _STRING,
        "actor": _STRING,
        "data": {"type": "object"},
    },
}
STAFF_CASE_DETAIL = component(
    "StaffCaseDetail",
    {
        "type": "object",
        "required": [*_CASE_FIELDS, "events"],
        "properties": {**_CASE_FIELDS, **_CONTACT, "events": {"type": "array", "items": EVENT}},
        "additionalProperties": False,
    },
)
CASE_LIST = component(
    "CaseList",
    {
        "type": "object",
        "required": ["page", "size", "has_more", "items"],
        "properties": {
            "page": {"type": "integer"},
            "size": {"type": "integer"},
            "has_more": {"type": "boolean"},
            "items": {"type": "array", "items": STAFF_CASE},
        },
        "additionalProperties": False,
    },
)
CONFLICT = component(
    "CaseConflict",
    {
        "type": "object",
        "required": ["detail", "current"],
        "properties": {
            "detail": ApiErrors.model_json_schema(ref_template=REF + "{model}")["properties"][
                "detail"
            ],
            "current": STAFF_CASE_DETAIL,
        },
        "additionalProperties": False,
    },
)
MOVE_BODY = component("CaseMove", MoveIn.model_json_schema(ref_template=REF + "{model}"))
ETAG = {"ETag": {"description": "the case's entity tag", "schema": {"type": "string"}}}


def _described(status: int, text: str, model: Any = ApiErrors) -> dict[int | str, Any]:
    return {status: {"model": model, "description": text}}


UNAUTHORISED = _described(401, "Unauthorised: no bearer token, or a bad or expired one")
FORBIDDEN = _described(
    403, "Forbidden: this move is not for the caller's role, or they do not hold the case"
)
NOT_FOUND = _described(404, "Not found: no such case in the caller's scope")


def _conflicts() -> dict[int | str, Any]:
    body = {"application/json": {"schema": CONFLICT}}
    return {
        409: {
            "description": "Conflict: stale `version`, or a move the table does not allow "
            "from the case's state; `current` is the case now",
            "content": body,
            "headers": ETAG,
        },
        412: {
            "description": "Precondition failed: If-Match is not the case's ETag now; "
            "`current` is the case now",
            "content": body,
            "headers": ETAG,
        },
        428: {
            "model": ApiErrors,
            "description": "Precondition required: send `version` or If-Match",
        },
    }


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        media_type="application/json",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


@router.get(
    "",
    responses={**ok(CASE_LIST), **UNAUTHORISED, **api_errors(422, 503)},
)
def cases(
    principal: CurrentPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    status: Annotated[
        list[str] | None,
        Query(
            description="keep these states",
            json_schema_extra={"items": {"enum": list(STATE_CODES)}},
        ),
    ] = None,
    tier: Annotated[
        list[str] | None,
        Query(description="keep these tiers", json_schema_extra={"items": {"enum": list(TIERS)}}),
    ] = None,
    holder: Annotated[
        Literal["me"] | None, Query(description="`me`: only the cases the caller holds")
    ] = None,
    overdue: Annotated[bool | None, Query(description="only overdue (or only not)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> Response:
    """The cases the caller may see, newest first (reporters masked unless handling)."""
    filt = CaseFilter(
        statuses=tuple(status or ()),
        tiers=tuple(tier or ()),
        holder_me=holder == "me",
        overdue=overdue,
        page=page,
        size=size,
    )
    return _json(list_cases(engine, principal, filt, settings))


@router.get(
    "/{case_id}",
    responses={
        200: {
            "description": "The case with its events",
            "content": {"application/json": {"schema": STAFF_CASE_DETAIL}},
            "headers": ETAG,
        },
        **UNAUTHORISED,
        **NOT_FOUND,
        **api_errors(422, 503),
    },
)
def case(
    case_id: CaseId, principal: CurrentPrincipal, engine: EngineDep, settings: SettingsDep
) -> Response:
    """One case with its events, as the caller may see it; ETag for If-Match."""
    view = get_case(engine, principal, case_id, settings)
    return _json(view, {"ETag": view["etag"]})


@router.post(
    "/{case_id}/{action}",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": MOVE_BODY}}}
    },
    responses={
        200: {
            "description": "The case after the move, with its events",
            "content": {"application/json": {"schema": STAFF_CASE_DETAIL}},
            "headers": ETAG,
        },
        **UNAUTHORISED,
        **FORBIDDEN,
        **NOT_FOUND,
        **_conflicts(),
        **api_errors(413, 415, 422, 503),
    },
)
def move(
    case_id: CaseId,
    action: Action,
    principal: CurrentPrincipal,
    body: Annotated[JsonBody, Depends(json_body)],
    engine: EngineDep,
    settings: SettingsDep,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="the ETag the change is based on",
            json_schema_extra={"maxLength": 200},
        ),
    ] = None,
) -> Response:
    """Take one move of the lifecycle on the case (one transaction, one event)."""
    parsed = parse_model(MoveIn, body.data)
    view = apply_move(
        engine, principal, case_id, action, parsed.move(), settings, if_match=if_match
    )
    return _json(view, {"ETag": view["etag"]})


def install(app: FastAPI) -> None:
    """Answer refused moves with the case as it is now (409/412) and 428."""

    @app.exception_handler(CaseConflict)
    async def conflict(request: Request, exc: CaseConflict) -> Response:
        status = 412 if isinstance(exc, PreconditionFailed) else 409
        body = {
            "detail": [{"code": exc.code, "message": exc.message, "field": exc.field}],
            "current": exc.current,
        }
        return Response(
            json.dumps(body, ensure_ascii=False),
            status_code=status,
            media_type="application/json",
            headers={"ETag": exc.etag},
        )

    @app.exception_handler(PreconditionRequired)
    async def required(request: Request, exc: PreconditionRequired) -> Response:
        return error_response(
            request, 428, [{"code": exc.code, "message": exc.message, "field": exc.field}]
        )
