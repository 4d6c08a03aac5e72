"""What staff see of cases: one case with its events, and listings, by scope.

Every read goes through the caller's scope (cases.access): a case outside it
is not found (404), the same answer as a case that does not exist, so ids
cannot be probed. Reporters' names and phones are shown plain to those
handling the case, masked (138****5678) to other staff who may see it, and
left out for analysts (`cases.access.reporter_contact`).

A case's ETag is `"<id>-<version>"` (strong): it changes with every move, so
If-Match with the ETag a client read refuses a change based on an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.access import (
    Principal,
    acts_on,
    holder_condition,
    may_see,
    reporter_contact,
    scope_condition,
)
from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.lifecycle.holders import HOLDER_LABELS
from cases.lifecycle.states import (
    BY_CODE,
    CLOCK_STATES,
    STATE_CODES,
    TIER_LABELS,
    TIERS,
    actions_from,
)
from gis.privacy import decrypt
from gis.settings import Settings

MAX_ID = 2**63 - 1
MAX_PAGE_SIZE = 200

CASE_COLUMNS = """
c.id, c.status, c.status_note, c.subclass_code, c.tier, c.description, c.address, c.photos,
ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.locate_method, c.grid_code, c.community_code,
c.subdistrict_code, c.station_code, c.squad_code, c.district_code, c.officer_code,
c.holder_role, c.holder_code, c.department_code, c.master_id, c.report_count, c.source,
c.reported_at, c.created_at, c.dispatched_at, c.due_at, c.due_provisional, c.reply_due_at,
c.reply_provisional, c.replied_at, c.closed_at, c.rating, c.version,
c.reporter_name_enc, c.reporter_phone_enc
"""

ONE = sa.text(f"SELECT {CASE_COLUMNS} FROM case_file c WHERE c.id = :id")
_EVENTS = sa.text("""
SELECT id, at, kind, actor, data FROM case_event WHERE case_id = :id ORDER BY at, id
""")


def etag(case_id: int, version: int) -> str:
    """The strong ETag of a case at a version."""
    return f'"{case_id}-{version}"'


def etag_matches(if_match: str, current: str) -> bool:
    """Whether an If-Match header value matches the current ETag (RFC 9110 §13.1.1:
    `*`, or a list of entity tags compared strongly; weak tags never match)."""
    value = if_match.strip()
    if value == "*":
        return True
    return any(
        tag.strip() == current for tag in value.split(",") if not tag.strip().startswith("W/")
    )


def check_id(case_id: int) -> int:
    """A case id is a positive integer (InvalidInput otherwise)."""
    if isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 < case_id <= MAX_ID:
        raise InvalidInput("a case id is a positive integer", field="id")
    return case_id


def _iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def _subclass_name(catalogue: Catalogue, code: str) -> str | None:
    try:
        return catalogue.subclass(code).name
    except InvalidInput:
        return None  # a code since removed from the catalogue


@dataclass(frozen=True)
class Context:
    """What shaping a view needs besides the row: settings, catalogue, zone, now."""

    settings: Settings
    catalogue: Catalogue
    tz: ZoneInfo
    now: datetime

    @classmethod
    def make(cls, settings: Settings, now: datetime | None = None) -> Context:
        """The context for `settings`, now (or the given moment)."""
        calendar = load_calendar(settings.data_dir)
        return cls(
            settings=settings,
            catalogue=load_catalogue(settings.data_dir / CATALOGUE_FILE),
            tz=ZoneInfo(calendar.config.timezone),
            now=now or datetime.now(UTC),
        )


def api_actions(principal: Principal, row: Any) -> list[str]:
    """The moves this principal may take on the case now (from the table)."""
    out = []
    for t in actions_from(row.status):
        if t.system or principal.role not in t.roles:
            continue
        if t.must_hold and not acts_on(principal, row):
            continue
        out.append(t.action)
    return out


def staff_view(row: Any, principal: Principal, ctx: Context) -> dict[str, Any]:
    """One case as this principal may see it (JSON-ready); `row` has CASE_COLUMNS."""
    tz = ctx.tz
    overdue = bool(row.status in CLOCK_STATES and row.due_at is not None and row.due_at < ctx.now)
    view: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "status_label": BY_CODE[row.status].label if row.status in BY_CODE else row.status,
        "status_note": row.status_note,
        "subclass": row.subclass_code,
        "subclass_name": _subclass_name(ctx.catalogue, row.subclass_code),
        "tier": row.tier,
        "tier_label": TIER_LABELS.get(row.tier, row.tier),
        "description": row.description,
        "address": row.address,
        "photos": list(row.photos or []),
        "lon": None if row.lon is None else round(float(row.lon), 7),
        "lat": None if row.lat is None else round(float(row.lat), 7),
        "locate_method": row.locate_method,
        "grid_code": row.grid_code,
        "community_code": row.community_code,
        "subdistrict_code": row.subdistrict_code,
        "station_code": row.station_code,
        "squad_code": row.squad_code,
        "district_code": row.district_code,
        "holder_role": row.holder_role,
        "holder_code": row.holder_code,
        "holder_label": HOLDER_LABELS.get(row.holder_role) if row.holder_role else None,
        "department_code": row.department_code,
        "officer_code": row.officer_code,
        "master_id": row.master_id,
        "report_count": row.report_count,
        "source": row.source,
        "reported_at": _iso(row.reported_at, tz),
        "created_at": _iso(row.created_at, tz),
        "dispatched_at": _iso(row.dispatched_at, tz),
        "due_at": _iso(row.due_at, tz),
        "due_provisional": bool(row.due_provisional),
        "overdue": overdue,
        "reply_due_at": _iso(row.reply_due_at, tz),
        "reply_provisional": bool(row.reply_provisional),
        "replied_at": _iso(row.replied_at, tz),
        "closed_at": _iso(row.closed_at, tz),
        "rating": row.rating,
        "version": row.version,
        "etag": etag(row.id, row.version),
        "actions": api_actions(principal, row),
    }
    contact = reporter_contact(
        principal,
        row,
        decrypt(row.reporter_name_enc, ctx.settings),
        decrypt(row.reporter_phone_enc, ctx.settings),
    )
    if contact is not None:
        view.update(contact)
    return view


def events_of(conn: Connection, case_id: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The events of a case, oldest first."""
    return [
        {"id": r.id, "at": _iso(r.at, tz), "kind": r.kind, "actor": r.actor, "data": r.data}
        for r in conn.execute(_EVENTS, {"id": case_id})
    ]


_ONE_LOCKED = sa.text(f"SELECT {CASE_COLUMNS} FROM case_file c WHERE c.id = :id FOR UPDATE")


def read_case(conn: Connection, principal: Principal, case_id: int, lock: bool = False) -> Any:
    """The case row if the principal may see it (FOR UPDATE with `lock`), else NotFound."""
    query = _ONE_LOCKED if lock else ONE
    row = conn.execute(query, {"id": check_id(case_id)}).first()
    if row is None or not may_see(principal, row):
        raise NotFound(f"no case with id {case_id}", field="id")
    return row


def detail(conn: Connection, principal: Principal, row: Any, ctx: Context) -> dict[str, Any]:
    """One case with its events, as this principal may see it."""
    view = staff_view(row, principal, ctx)
    view["events"] = events_of(conn, row.id, ctx.tz)
    return view


def get_case(
    engine: Engine, principal: Principal, case_id: int, settings: Settings
) -> dict[str, Any]:
    """`GET /api/v1/cases/{id}`: the case with its events (NotFound outside the scope)."""
    ctx = Context.make(settings)
    with engine.connect() as conn:
        return detail(conn, principal, read_case(conn, principal, case_id), ctx)


@dataclass(frozen=True)
class CaseFilter:
    """What a listing keeps: states, tiers, the caller's own cases, overdue, a page."""

    statuses: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    holder_me: bool = False
    overdue: bool | None = None
    page: int = 1
    size: int = 50

    def checked(self) -> CaseFilter:
        """The filter if every value is known (InvalidInput naming the field otherwise)."""
        bad = [s for s in self.statuses if s not in STATE_CODES]
        if bad:
            raise InvalidInput(
                f"unknown status {bad[0]!r}; the states are {', '.join(STATE_CODES)}",
                field="status",
            )
        bad = [t for t in self.tiers if t not in TIERS]
        if bad:
            raise InvalidInput(f"unknown tier {bad[0]!r}; use {', '.join(TIERS)}", field="tier")
        if not 1 <= self.page <= 100_000:
            raise InvalidInput("page is 1 to 100000", field="page")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"size is 1 to {MAX_PAGE_SIZE}", field="size")
        return self


_case = sa.table(
    "case_file",
    *(
        sa.column(name)
        for name in (
            "id",
            "status",
            "tier",
            "community_code",
            "department_code",
            "holder_role",
            "station_code",
            "squad_code",
            "due_at",
        )
    ),
)


def list_cases(
    engine: Engine,
    principal: Principal,
    filt: CaseFilter,
    settings: Settings,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`GET /api/v1/cases`: the cases the caller may see, newest first, one page."""
    filt = filt.checked()
    ctx = Context.make(settings, now)
    c = _case.c
    where: list[sa.ColumnElement[bool]] = [
        scope_condition(principal, c.community_code, c.department_code)
    ]
    if filt.statuses:
        where.append(c.status.in_(filt.statuses))
    if filt.tiers:
        where.append(c.tier.in_(filt.tiers))
    if filt.holder_me:
        where.append(holder_condition(principal, c.holder_role, c.station_code, c.squad_code))
    if filt.overdue is not None:
        late = sa.and_(c.status.in_(CLOCK_STATES), c.due_at < ctx.now)
        where.append(late if filt.overdue else sa.not_(late))
    ids = (
        sa.select(c.id)
        .where(*where)
        .order_by(c.id.desc())
        .limit(filt.size + 1)
        .offset((filt.page - 1) * filt.size)
    )
    with engine.connect() as conn:
        found = list(conn.execute(ids).scalars())
        more = len(found) > filt.size
        found = found[: filt.size]
        rows = conn.execute(
            sa.text(
                f"SELECT {CASE_COLUMNS} FROM case_file c WHERE c.id = ANY(:ids) ORDER BY c.id DESC"
            ),
            {"ids": found},
        ).all()
    return {
        "page": filt.page,
        "size": filt.size,
        "has_more": more,
        "items": [staff_view(r, principal, ctx) for r in rows],
    }


# ------------------------------------------------------------ complaint reads


def complaint_for(
    engine: Engine, principal: Principal, case_id: int, settings: Settings
) -> dict[str, Any]:
    """`GET /api/v1/complaints/{id}` for staff: the intake's view of the case, in the
    caller's scope (NotFound outside it), the reporter as they may read them
    (plain, masked, or null for analysts)."""
    from cases.intake.views import get_case as intake_case

    with engine.connect() as conn:
        row = read_case(conn, principal, case_id)
    view = intake_case(engine, case_id, settings).as_dict()
    contact = reporter_contact(
        principal,
        row,
        decrypt(row.reporter_name_enc, settings),
        decrypt(row.reporter_phone_enc, settings),
    )
    view.update(contact or {"reporter_name": None, "reporter_phone": None})
    return view


def complaint_events_for(
    engine: Engine, principal: Principal, case_id: int, settings: Settings
) -> list[dict[str, Any]]:
    """`GET /api/v1/complaints/{id}/events` for staff: the events, in the caller's scope."""
    tz = Context.make(settings).tz
    with engine.connect() as conn:
        read_case(conn, principal, case_id)
        return events_of(conn, case_id, tz)
