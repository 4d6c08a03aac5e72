"""Routes: the five ledgers (台账) of a station (/api/v1/ledgers).

Thin handlers: parse, call one function of cases.ledgers, shape the answer.
Every route needs a login (401 without one, before the body is read) and a
role (403 otherwise); the station must then be in the caller's scope (403),
which cases.ledgers checks:

| route                                                | roles                            |
|------------------------------------------------------|----------------------------------|
| GET  /ledgers/{station}/{kind}?month=                 | every role (analysts: no personal data) |
| GET  /ledgers/{station}/{kind}.xlsx?month=            | every role (analysts: no personal data) |
| GET  /ledgers/{station}/{kind}/entries?month=         | every role (analysts: no personal data) |
| POST /ledgers/{station}/{kind}/entries                | officer, squad_leader, dispatcher, admin |
| POST /ledgers/{station}/{kind}/entries/{id}/revisions | officer, squad_leader, dispatcher, admin |

Scope: an officer its own station, a squad leader its squad's stations, the
leaders, the command centre, admins and analysts every station. Residents'
names and phones are masked in every answer and every .xlsx (138****5678).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from api.auth import require_roles
from api.contract import REF, RETRY_AFTER, ApiErrors, component, ok, schema_of
from api.deps import EngineDep, SettingsDep
from api.schemas import JsonBody, json_body, parse_model
from cases.access import Principal
from cases.ledgers import (
    EntryIn,
    EntryView,
    LedgerKind,
    RevisionIn,
    add_entry,
    build_ledger,
    ledger_xlsx,
    list_entries,
    parse_month,
    revise_entry,
)

router = APIRouter(prefix="/api/v1/ledgers", tags=["ledgers"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READERS = (
    "officer",
    "squad_leader",
    "deputy_leader",
    "chief",
    "dispatcher",
    "admin",
    "analyst",
)
WRITERS = ("officer", "squad_leader", "dispatcher", "admin")

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]
Body = Annotated[JsonBody, Depends(json_body)]
Station = Annotated[str, Path(min_length=1, max_length=16, description="a station's code")]
Kind = Annotated[LedgerKind, Path(description="which ledger")]
EntryId = Annotated[int, Path(gt=0, le=2**63 - 1, description="the entry's id")]
MonthQuery = Annotated[
    str, Query(min_length=1, max_length=16, description="YYYY-MM, e.g. 2018-03 (Asia/Shanghai)")
]

_DESCRIPTIONS = {
    401: "Unauthorised: log in first (bearer token or session cookie)",
    403: "Forbidden: this role may not do this, or the station is outside its scope",
    404: "Not found: no such station, or no such entry in this station's ledger",
    409: "Conflict: the entry was corrected since the version given",
    413: "Request body too large",
    415: "Unsupported media type: send the body as application/json",
    422: "Unprocessable: a malformed or future month, an unknown ledger, or invalid fields "
    "(each named in detail[].field)",
    503: "Unavailable: the database is not reachable just now",
}

LEDGER = component(
    "Ledger",
    {
        "type": "object",
        "required": [
            "kind",
            "title",
            "station_code",
            "station_name",
            "community_code",
            "month",
            "columns",
            "rows",
            "notes",
            "figures",
        ],
        "properties": {
            "kind": {"type": "string", "enum": [k.value for k in LedgerKind]},
            "title": {"type": "string", "description": "the ledger's Chinese title"},
            "station_code": {"type": "string"},
            "station_name": {"type": "string"},
            "community_code": {"type": "string"},
            "month": {"type": "string", "description": "YYYY-MM"},
            "columns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "label"],
                    "properties": {"key": {"type": "string"}, "label": {"type": "string"}},
                },
            },
            "rows": {
                "type": "array",
                "items": {"type": "object"},
                "description": "each row: the columns' values as printed, plus reference keys "
                "(case_id, entry_id, shift_id, patrol_id)",
            },
            "notes": {"type": "array", "items": {"type": "string"}},
            "figures": {
                "type": ["object", "null"],
                "description": "meeting minutes only: intake, closed, overdue of the month",
            },
        },
    },
)
ENTRY = schema_of(EntryView, "LedgerEntry")
ENTRIES = schema_of(list[EntryView], "LedgerEntries")
ENTRY_IN = component(
    "LedgerEntryIn", TypeAdapter(EntryIn).json_schema(ref_template=REF + "{model}")
)
REVISION_IN = component(
    "LedgerRevisionIn", TypeAdapter(RevisionIn).json_schema(ref_template=REF + "{model}")
)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {
            "model": ApiErrors,
            "description": _DESCRIPTIONS[s],
            **({"headers": RETRY_AFTER} if s == 503 else {}),
        }
        for s in statuses
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers={"X-Content-Type-Options": "nosniff"},
    )


# The .xlsx route comes first: `{kind}` alone would also match `work_log.xlsx`.
@router.get(
    "/{station}/{kind}.xlsx",
    responses={
        200: {
            "description": "The ledger as a print-ready .xlsx workbook (A4, Chinese headers)",
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
        },
        **_errors(401, 403, 404, 422, 503),
    },
    response_class=Response,
)
def download(
    station: Station,
    kind: Kind,
    month: MonthQuery,
    engine: EngineDep,
    settings: SettingsDep,
    principal: Reader,
) -> Response:
    """One ledger of a station's month as a print-ready .xlsx (personal data masked)."""
    name, data = ledger_xlsx(
        engine, station, kind, parse_month(month), principal=principal, settings=settings
    )
    ascii_name = f"{name.rsplit('_', 1)[0]}_{kind.value}.xlsx"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/{station}/{kind}",
    responses={**ok(LEDGER), **_errors(401, 403, 404, 422, 503)},
)
def show(
    station: Station,
    kind: Kind,
    month: MonthQuery,
    engine: EngineDep,
    settings: SettingsDep,
    principal: Reader,
) -> Response:
    """One ledger of a station's month as JSON: its columns and rows as printed."""
    ledger = build_ledger(
        engine, station, kind, parse_month(month), principal=principal, settings=settings
    )
    return _json(ledger.as_dict())


@router.get(
    "/{station}/{kind}/entries",
    responses={**ok(ENTRIES), **_errors(401, 403, 404, 422, 503)},
)
def entries(
    station: Station,
    kind: Kind,
    month: MonthQuery,
    engine: EngineDep,
    settings: SettingsDep,
    principal: Reader,
    history: Annotated[bool, Query(description="every version, not only the current")] = False,
) -> Response:
    """The manual entries of a ledger dated in the month (withdrawn ones marked)."""
    found = list_entries(
        engine,
        station,
        kind,
        parse_month(month),
        history=history,
        principal=principal,
        settings=settings,
    )
    return _json([e.as_dict() for e in found])


@router.post(
    "/{station}/{kind}/entries",
    status_code=201,
    openapi_extra=_body(ENTRY_IN),
    responses={
        **ok(ENTRY, 201, "Written (version 1)"),
        **_errors(401, 403, 404, 413, 415, 422, 503),
    },
)
def add(
    principal: Writer,
    station: Station,
    kind: Kind,
    body: Body,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    """Write a manual entry (`{"date": "YYYY-MM-DD", "fields": {...}}`) in a
    ledger; the case register takes none."""
    entry = parse_model(EntryIn, body.data)
    view = add_entry(engine, station, kind, entry, principal=principal, settings=settings)
    return _json(view.as_dict(), 201)


@router.post(
    "/{station}/{kind}/entries/{entry_id}/revisions",
    status_code=201,
    openapi_extra=_body(REVISION_IN),
    responses={
        **ok(ENTRY, 201, "Corrected or withdrawn: the new version"),
        **_errors(401, 403, 404, 409, 413, 415, 422, 503),
    },
)
def revise(
    principal: Writer,
    station: Station,
    kind: Kind,
    entry_id: EntryId,
    body: Body,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    """Correct or withdraw an entry against the version read (409 when stale)."""
    revision = parse_model(RevisionIn, body.data)
    view = revise_entry(
        engine, station, kind, entry_id, revision, principal=principal, settings=settings
    )
    return _json(view.as_dict(), 201)
