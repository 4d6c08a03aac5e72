"""Open311 service requests: cases read as the spec's requests, by query, id or token.

Mapping to the workflow (cases.lifecycle.states):
- status: the finished states are `closed` (closed, evaluated, cancelled,
  and referred out: 转办, handled by another district); every other state
  is `open` (received, filed, dispatched, in progress, reported back,
  rework); a duplicate follows its master case (open while the master is),
  with a status note naming the master.
- requested_datetime is when the resident reported; updated_datetime the
  close, else the latest event; expected_datetime the due time of the tier.
- agency_responsible names the squad and station the case was located to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.catalogue import Subclass
from cases.errors import NotFound
from cases.idempotency import transaction
from cases.lifecycle.states import ACTIVE_STATES, CLOSED_STATES
from cases.open311.params import (
    TOKEN,
    Params,
    RequestQuery,
    check_jurisdiction,
    parse_request_query,
    w3c,
)
from cases.open311.services import catalogue

OPEN311_CLOSED = CLOSED_STATES
"""Workflow states answered as `closed` (as cases.intake.open311_status has it); every
other one is `open`, except that a duplicate answers its master's status."""

TIER_NOTICE = {
    "minor": "小事：由社区城管服务站执法队员现场处置",
    "moderate": "中事：由执法中队中队长在中队内统筹处置",
    "major": "大事：由分管局领导在局内统筹协调处置",
}


@dataclass(frozen=True)
class ServiceRequest:
    """One case as an Open311 service request."""

    service_request_id: int
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    token: str

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields, in the spec's order (address_id and zipcode: none kept)."""
        return {
            "service_request_id": self.service_request_id,
            "status": self.status,
            "status_notes": self.status_notes,
            "service_name": self.service_name,
            "service_code": self.service_code,
            "description": self.description,
            "agency_responsible": self.agency_responsible,
            "service_notice": self.service_notice,
            "requested_datetime": w3c(self.requested_datetime),
            "updated_datetime": w3c(self.updated_datetime),
            "expected_datetime": w3c(self.expected_datetime),
            "address": self.address,
            "address_id": None,
            "zipcode": None,
            "lat": self.lat,
            "long": self.long,
            "media_url": self.media_url,
        }


_CLOSED_SQL = "('" + "','".join(OPEN311_CLOSED) + "')"

_EFFECTIVE = "CASE WHEN c.status = 'duplicate' AND m.id IS NOT NULL THEN m.status ELSE c.status END"
_OPEN311 = f"CASE WHEN {_EFFECTIVE} IN {_CLOSED_SQL} THEN 'closed' ELSE 'open' END"

_SELECT = f"""
SELECT c.id, c.token, c.status, c.status_note, c.subclass_code, c.tier, c.description,
       c.address, c.photos ->> 0 AS media_url,
       ST_Y(c.geom) AS lat, ST_X(c.geom) AS lon,
       c.reported_at, c.created_at, c.due_at, c.closed_at, c.master_id,
       sq.name AS squad_name, st.name AS station_name,
       COALESCE(c.closed_at, CASE WHEN c.status = 'duplicate' THEN m.closed_at END,
                GREATEST(c.created_at, ev.last_at)) AS updated_at,
       {_OPEN311} AS open311_status
FROM case_file c
LEFT JOIN case_file m ON m.id = c.master_id
LEFT JOIN squad sq ON sq.code = c.squad_code
LEFT JOIN station st ON st.code = c.station_code
LEFT JOIN LATERAL (SELECT max(e.at) AS last_at FROM case_event e WHERE e.case_id = c.id) ev
       ON true
"""

_ORDER = " ORDER BY c.reported_at DESC, c.id DESC"


def _status_notes(row: Any) -> str | None:
    if row.status_note:
        return str(row.status_note)
    if row.status == "duplicate" and row.master_id is not None:
        return f"重复诉求，已并入第 {row.master_id} 号诉求处理 (duplicate of {row.master_id})"
    if row.status == "received":
        return "位置待调度员核定 (location to be confirmed by a dispatcher)"
    if row.status == "referred_out":
        return "不在本区范围，已转办 (outside the district, referred out)"
    return None


def _service_notice(row: Any, sub: Subclass | None) -> str | None:
    if row.status not in ACTIVE_STATES:
        return None
    parts = [TIER_NOTICE.get(row.tier, "")]
    if sub is not None and sub.time_limit_hours:
        parts.append(f"处理时限 {sub.time_limit_hours:g} 个工作小时")
    if row.station_name:
        parts.append(f"承办：{row.station_name}")
    return "；".join(p for p in parts if p) or None


def _agency(row: Any) -> str | None:
    names = [n for n in (row.squad_name, row.station_name) if n]
    return " / ".join(names) or None


def _to_request(row: Any, subs: Mapping[str, Subclass]) -> ServiceRequest:
    sub = subs.get(row.subclass_code)
    return ServiceRequest(
        service_request_id=int(row.id),
        status=row.open311_status,
        status_notes=_status_notes(row),
        service_name=sub.name if sub is not None else None,
        service_code=row.subclass_code,
        description=row.description or None,
        agency_responsible=_agency(row),
        service_notice=_service_notice(row, sub),
        requested_datetime=row.reported_at,
        updated_datetime=row.updated_at or row.created_at,
        expected_datetime=row.due_at,
        address=row.address or None,
        lat=None if row.lat is None else round(float(row.lat), 7),
        long=None if row.lon is None else round(float(row.lon), 7),
        media_url=row.media_url or None,
        token=row.token,
    )


def _fetch(engine: Engine, where: str, params: dict[str, Any], tail: str = "") -> list[Any]:
    # Under run_idempotent this reads in the transaction that is filing the case.
    with transaction(engine) as conn:
        return list(conn.execute(sa.text(_SELECT + " WHERE " + where + _ORDER + tail), params))


def _convert(rows: Iterable[Any]) -> list[ServiceRequest]:
    subs = {s.code: s for s in catalogue().subclasses}
    return [_to_request(r, subs) for r in rows]


def query_requests(engine: Engine, query: RequestQuery) -> list[ServiceRequest]:
    """The cases a checked query selects, newest report first, one page of them."""
    if query.ids is not None:
        return _convert(_fetch(engine, "c.id = ANY(:ids)", {"ids": list(query.ids)}))
    clauses = ["c.reported_at >= :start", "c.reported_at <= :end"]
    bind: dict[str, Any] = {
        "start": query.start,
        "end": query.end,
        "limit": query.page_size,
        "offset": (query.page - 1) * query.page_size,
    }
    if query.service_codes:
        clauses.append("c.subclass_code = ANY(:codes)")
        bind["codes"] = list(query.service_codes)
    if len(query.statuses) == 1:
        clauses.append(f"({_OPEN311}) = :status")
        bind["status"] = query.statuses[0]
    rows = _fetch(engine, " AND ".join(clauses), bind, " LIMIT :limit OFFSET :offset")
    return _convert(rows)


def list_requests(
    engine: Engine,
    params: Params,
    *,
    now: datetime | None = None,
) -> list[ServiceRequest]:
    """GET requests: check the parameters, then query (400 on bad ones, 404 on jurisdiction)."""
    return query_requests(engine, parse_request_query(params, now=now))


def _case_id(value: str) -> int:
    if not re.fullmatch("[0-9]{1,18}", value.strip()):
        raise NotFound(f"service_request_id {value[:40]!r} not found", field="service_request_id")
    return int(value.strip())


def get_request(engine: Engine, params: Params, service_request_id: str) -> ServiceRequest:
    """GET requests/{id}: the one request, or NotFound."""
    check_jurisdiction(params)
    case_id = _case_id(service_request_id)
    found = _convert(_fetch(engine, "c.id = :id", {"id": case_id}))
    if not found:
        raise NotFound(f"service_request_id {case_id} not found", field="service_request_id")
    return found[0]


def request_id_for_token(engine: Engine, params: Params, token: str) -> dict[str, Any]:
    """GET tokens/{token}: the service_request_id a tracking token belongs to."""
    check_jurisdiction(params)
    token = token.strip()
    case_id = None
    if TOKEN.fullmatch(token):
        with transaction(engine) as conn:
            case_id = conn.execute(
                sa.text("SELECT id FROM case_file WHERE token = :t"), {"t": token}
            ).scalar()
    if case_id is None:
        raise NotFound("token not found", field="token")
    return {"service_request_id": int(case_id), "token": token}
