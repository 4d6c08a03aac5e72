"""Taking one move of the lifecycle: checked against the table, one transaction.

`apply_move` does, in one transaction: lock the case row, check the caller's
scope (404 outside it), the version the change was based on (If-Match or
`version`: 412 or 409 with the case as it is now), that the table has this
move from the case's state (409 with the current state otherwise), the
caller's role and whether it must hold the case (403), and the fields the
move needs (422); then update the case (version + 1), append the event (who,
when, from, to, note, photos and what the move changed) and, when the case
has a new holder, a notification for them.

What some moves do besides the state:
- `file` (立案): a case that was not placed in a grid needs `grid_code`; the
  grid of the current layout gives its community, station and squad;
- `dispatch` (派遣): the clock starts now: the due time is the subclass's
  handling limit on the working-time calendar (`handling_deadline`), the
  reply deadline (答复, from receipt) is set when it was not, both flagged
  provisional in a year the calendar does not cover; the holder is the one
  of the case's tier (cases.lifecycle.holders; the officer on duty now for a
  minor case);
- `raise_tier` (提级): to a higher tier only, with a reason; a dispatched
  case changes hands to the new tier's holder;
- `close` (核查结案): closed_at now; finished cases are held by nobody;
- `evaluate` (综合评价): the resident's rating, 1 to 5;
- `mark_duplicate`: the case joins its master, which counts one more report;
- `reply` (答复群众): the first reply sets replied_at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.access import Principal, acts_on
from cases.calendar import handling_deadline, reply_deadline
from cases.catalogue import Subclass
from cases.errors import Forbidden, InvalidInput
from cases.lifecycle.errors import (
    IllegalTransition,
    PreconditionFailed,
    PreconditionRequired,
    StaleVersion,
)
from cases.lifecycle.holders import TIER_HOLDER, Leaders, load_leaders
from cases.lifecycle.states import (
    ACTION_BY_CODE,
    API_ACTIONS,
    BY_CODE,
    TIER_LABELS,
    Transition,
    roles_for,
    tier_rank,
    transition,
)
from cases.lifecycle.views import ONE, Context, detail, etag, etag_matches, read_case
from gis.settings import Settings

MAX_NOTE = 2000


@dataclass(frozen=True)
class Move:
    """What the caller sends with a move (checked for shape by the API's model)."""

    note: str = ""
    photos: tuple[str, ...] = ()
    reason: str | None = None
    tier: str | None = None
    rating: int | None = None
    grid_code: str | None = None
    master_id: int | None = None
    version: int | None = None


@dataclass
class _Change:
    """What a move writes: columns of the case, event data, a notification."""

    columns: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    notify: tuple[str, str | None, str] | None = None  # role, code, message


def _need(t: Transition, move: Move) -> None:
    """The fields this move needs (422 naming the first missing one)."""
    if "reason" in t.needs and not (move.reason and move.reason.strip()):
        raise InvalidInput(f"`{t.action}` needs a reason", field="reason")
    if "photos" in t.needs and not move.photos:
        raise InvalidInput(f"`{t.action}` needs at least one photo (URL)", field="photos")
    if "note" in t.needs and not move.note.strip():
        raise InvalidInput(f"`{t.action}` needs a note (what the resident was told)", field="note")
    if "tier" in t.needs and move.tier is None:
        raise InvalidInput(f"`{t.action}` needs the new tier", field="tier")
    if "rating" in t.needs and move.rating is None:
        raise InvalidInput(f"`{t.action}` needs the resident's rating, 1 to 5", field="rating")
    if "master_id" in t.needs and move.master_id is None:
        raise InvalidInput(f"`{t.action}` needs master_id (the case it repeats)", field="master_id")


_GRID = sa.text("""
SELECT g.id, g.code, g.community_code, cm.subdistrict_code, st.code AS station,
       sc.squad_code AS squad
FROM grid_cell g
JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
LEFT JOIN community cm ON cm.generation_id = g.generation_id AND cm.code = g.community_code
LEFT JOIN station st ON st.community_code = g.community_code
LEFT JOIN squad_community sc ON sc.community_code = g.community_code
WHERE g.code = :code
""")
_SHARED = sa.text("""
SELECT 1 FROM grid_department WHERE grid_code = :grid AND department_code = :dept
""")


def shared_department(
    conn: Connection, grid_code: str | None, sub: Subclass, settings: Settings
) -> str | None:
    """The subclass's department when the grid lists it (党建+N) and it is not the bureau."""
    if grid_code is None or sub.department == settings.bureau_department:
        return None
    found = conn.execute(_SHARED, {"grid": grid_code, "dept": sub.department}).first()
    return sub.department if found else None


def duty_officer(conn: Connection, station: str | None, at: datetime) -> str | None:
    """The officer who takes a case at `station` at `at`: intake's rule 4, from the
    duty shifts (cases.stations.onduty)."""
    from cases.stations.onduty import pick_officers

    if station is None:
        return None
    return pick_officers(conn, [station], [at])[0]


def _holder_of(
    conn: Connection, tier: str, row: Any, leaders: Leaders, now: datetime
) -> tuple[str, str | None]:
    role = TIER_HOLDER[tier]
    duty = duty_officer(conn, row.station_code, now) if role == "officer" else None
    return role, leaders.code_for(role, row.squad_code, duty)


def _message(row: Any, sub_name: str | None, what: str, due: datetime | None, tz: Any) -> str:
    due_text = f"，请于 {due.astimezone(tz):%Y-%m-%d %H:%M} 前处置" if due else ""
    name = sub_name or row.subclass_code
    return f"案件 {row.id}（{name}）{what}{due_text}"


def _change(
    conn: Connection,
    t: Transition,
    row: Any,
    move: Move,
    principal: Principal,
    ctx: Context,
) -> _Change:
    """The columns, event data and notification of move `t` on `row`."""
    settings, now, tz = ctx.settings, ctx.now, ctx.tz
    out = _Change()
    cols, data = out.columns, out.data
    try:
        sub: Subclass | None = ctx.catalogue.subclass(row.subclass_code)
    except InvalidInput:
        sub = None
    if t.action == "file":
        if move.grid_code is not None:
            grid = conn.execute(_GRID, {"code": move.grid_code}).first()
            if grid is None:
                raise InvalidInput(
                    f"no grid {move.grid_code!r} in the current layout", field="grid_code"
                )
            cols.update(
                grid_cell_id=grid.id,
                grid_code=grid.code,
                community_code=grid.community_code,
                subdistrict_code=grid.subdistrict_code,
                station_code=grid.station,
                squad_code=grid.squad,
                district_code=settings.home_district_code,
            )
            data["grid_code"] = grid.code
            if sub is not None:
                cols["department_code"] = shared_department(conn, grid.code, sub, settings)
        elif row.grid_code is None:
            raise InvalidInput(
                "this case is not in a grid yet: give grid_code (where it is)", field="grid_code"
            )
    elif t.action == "dispatch":
        if sub is None:
            raise InvalidInput(f"subclass {row.subclass_code} is no longer in the catalogue")
        role, code = _holder_of(
            conn, row.tier, row, load_leaders(conn, settings.deputy_in_charge), now
        )
        due = handling_deadline(now, sub)
        cols.update(
            dispatched_at=now,
            due_at=due.at,
            due_provisional=due.provisional,
            holder_role=role,
            holder_code=code,
        )
        if role == "officer":
            cols["officer_code"] = code
        if row.reply_due_at is None:
            reply = reply_deadline(row.created_at, sub)
            cols.update(reply_due_at=reply.at, reply_provisional=reply.provisional)
        data.update(holder_role=role, holder_code=code, due_at=due.at.astimezone(tz).isoformat())
        out.notify = (role, code, _message(row, sub.name, "已派遣给您", due.at, tz))
    elif t.action == "raise_tier":
        assert move.tier is not None
        if tier_rank(move.tier) <= tier_rank(row.tier):
            raise InvalidInput(
                f"the tier can only go up: this case is {row.tier} already", field="tier"
            )
        cols["tier"] = move.tier
        data.update(tier_from=row.tier, tier_to=move.tier, rule="manual")
        if BY_CODE[row.status].clock:
            role, code = _holder_of(
                conn, move.tier, row, load_leaders(conn, settings.deputy_in_charge), now
            )
            cols.update(holder_role=role, holder_code=code)
            data.update(holder_role=role, holder_code=code)
            what = f"已提级为{TIER_LABELS[move.tier]}，交由您处置"
            out.notify = (
                role,
                code,
                _message(row, sub.name if sub else None, what, row.due_at, tz),
            )
    elif t.action == "close":
        cols["closed_at"] = now
    elif t.action == "evaluate":
        assert move.rating is not None
        cols["rating"] = move.rating
        data["rating"] = move.rating
    elif t.action == "reply":
        if row.replied_at is None:
            cols["replied_at"] = now
    elif t.action == "mark_duplicate":
        from cases.intake.duplicates import add_report

        assert move.master_id is not None
        master = read_case(conn, principal, move.master_id, lock=True)
        if master.id == row.id or master.status == "duplicate":
            raise InvalidInput(
                "the master must be another case, not a duplicate", field="master_id"
            )
        cols["master_id"] = master.id
        data["master_id"] = master.id
        add_report(conn, master.id, row.id)
    if t.action in ("cancel", "refer", "mark_duplicate", "send_back") and move.reason:
        cols["status_note"] = move.reason.strip()
    if not BY_CODE[t.target].held:
        cols.update(holder_role=None, holder_code=None)
    return out


_INSERT_EVENT = sa.text("""
INSERT INTO case_event (case_id, at, kind, actor, data)
VALUES (:case_id, :at, :kind, :actor, CAST(:data AS jsonb))
""")
_INSERT_NOTICE = sa.text("""
INSERT INTO notification (case_id, kind, recipient_role, recipient_code, message)
VALUES (:case_id, :kind, :role, :code, :message)
""")


def _update(conn: Connection, case_id: int, columns: dict[str, Any]) -> None:
    """One UPDATE of the case: the given columns and version + 1 (names from code)."""
    sets = ", ".join(f"{name} = :c_{name}" for name in columns)
    sql = f"UPDATE case_file SET {sets + ', ' if sets else ''}version = version + 1 WHERE id = :id"
    conn.execute(sa.text(sql), {"id": case_id, **{f"c_{k}": v for k, v in columns.items()}})


def apply_move(
    engine: Engine,
    principal: Principal,
    case_id: int,
    action: str,
    move: Move,
    settings: Settings,
    *,
    if_match: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Take `action` on the case for `principal`; returns the case as it is after.

    Raises Forbidden (role, or not holding the case), NotFound (outside the
    scope), PreconditionRequired (no version), PreconditionFailed /
    StaleVersion / IllegalTransition (with the current state), InvalidInput.
    """
    if action not in API_ACTIONS:
        raise InvalidInput(
            f"unknown action {action[:40]!r}; the actions are {', '.join(API_ACTIONS)}",
            field="action",
        )
    if principal.role not in roles_for(action):
        allowed = ", ".join(sorted(roles_for(action)))
        raise Forbidden(f"a {principal.role} may not {action}; it is for: {allowed}")
    if len(move.note) > MAX_NOTE or len(move.reason or "") > MAX_NOTE:
        raise InvalidInput(f"a note or reason has at most {MAX_NOTE} characters", field="note")
    ctx = Context.make(settings, now)
    with engine.begin() as conn:
        row = read_case(conn, principal, case_id, lock=True)
        tag = etag(row.id, row.version)

        def current() -> dict[str, Any]:
            return detail(conn, principal, row, ctx)

        if if_match is not None:
            if not etag_matches(if_match, tag):
                raise PreconditionFailed(
                    f"the case changed since that ETag: it is {tag} now",
                    current=current(),
                    etag=tag,
                    field="If-Match",
                )
        elif move.version is None:
            raise PreconditionRequired(
                "say which version this change is based on: `version` or an If-Match header "
                "with the ETag of GET /api/v1/cases/{id}",
                field="version",
            )
        if move.version is not None and move.version != row.version:
            raise StaleVersion(
                f"the case is at version {row.version} now, not {move.version}; "
                "read it again and decide on what it is now",
                current=current(),
                etag=tag,
                field="version",
            )
        t = transition(row.status, action)
        if t is None:
            raise IllegalTransition(
                f"a case that is {row.status} cannot be {ACTION_BY_CODE[action].event}",
                current=current(),
                etag=tag,
                field="action",
            )
        if principal.role not in t.roles:
            raise Forbidden(f"a {principal.role} may not {action} a case that is {row.status}")
        if t.must_hold and not acts_on(principal, row):
            raise Forbidden(f"only who holds this case may {action} it ({row.holder_role})")
        _need(t, move)
        change = _change(conn, t, row, move, principal, ctx)
        columns = (
            {"status": t.target, **change.columns} if t.target != row.status else change.columns
        )
        _update(conn, row.id, columns)
        data = {
            "from": row.status,
            "to": t.target,
            "account_id": principal.account_id,
            "note": move.note,
            "photos": list(move.photos),
            **({"reason": move.reason.strip()} if move.reason else {}),
            **change.data,
        }
        kind = ACTION_BY_CODE[action].event
        conn.execute(
            _INSERT_EVENT,
            {
                "case_id": row.id,
                "at": ctx.now,
                "kind": kind,
                "actor": principal.username,
                "data": json.dumps(data, ensure_ascii=False, default=str),
            },
        )
        if change.notify is not None:
            role, code, message = change.notify
            conn.execute(
                _INSERT_NOTICE,
                {"case_id": row.id, "kind": kind, "role": role, "code": code, "message": message},
            )
        # As it is now (read without the scope: a move never takes a case out of
        # the mover's sight, and a read must not undo the move).
        return detail(conn, principal, conn.execute(ONE, {"id": row.id}).one(), ctx)
