"""A small world for the lifecycle tests: accounts in two places, fresh grids, cases.

"Here" is the first sample station's community (its squad, its officers);
"elsewhere" a community of another squad. Accounts are made once per name
(the database lives for the whole session); cases are filed through the real
intake (`submit_complaint`) in grids that have no case yet, so no other test's
reports raise or merge them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal, load_principal
from cases.accounts.store import create_account
from cases.errors import Conflict
from cases.intake import ComplaintIn, submit_complaint
from cases.lifecycle.transitions import Move, apply_move
from gis.settings import Settings

PASSWORD = "correct horse 42"
HERE_STATION = "ST440703001001"
HERE_COMMUNITY = "440703001001"
HERE_SQUAD = "SQ440703001"
ELSEWHERE_SQUAD = "SQ440703002"
DEPARTMENT = "D05"  # 住建: e.g. 0106 and 0501 name it
NEIGHBOUR = (113.1230, 22.5450)  # in 江海区
_serial = itertools.count(1)


@dataclass(frozen=True)
class Place:
    """A grid with no case yet: its code, community, station, squad and an interior point."""

    grid: str
    community: str
    station: str | None
    squad: str | None
    lon: float
    lat: float


_FRESH = sa.text("""
SELECT g.code, g.community_code, st.code AS station, sc.squad_code AS squad,
       ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
FROM grid_cell g
JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
LEFT JOIN station st ON st.community_code = g.community_code
LEFT JOIN squad_community sc ON sc.community_code = g.community_code
WHERE (CAST(:community AS text) IS NULL OR g.community_code = :community)
  AND (CAST(:squad AS text) IS NULL OR sc.squad_code = :squad)
  AND (CAST(:department AS text) IS NULL OR EXISTS (
        SELECT 1 FROM grid_department gd
        WHERE gd.grid_code = g.code AND gd.department_code = :department))
  AND (CAST(:without AS text) IS NULL OR NOT EXISTS (
        SELECT 1 FROM grid_department gd
        WHERE gd.grid_code = g.code AND gd.department_code = :without))
  AND NOT EXISTS (SELECT 1 FROM case_file c WHERE c.grid_code = g.code)
  AND g.code > :after
ORDER BY g.code
LIMIT 1
""")
_taken: set[str] = set()


def fresh_place(
    engine: Engine,
    *,
    community: str | None = None,
    squad: str | None = None,
    department: str | None = None,
    without: str | None = None,
) -> Place:
    """A grid nobody has filed a case in (nor taken in this session), by place."""
    after = ""
    with engine.connect() as conn:
        while True:
            row = conn.execute(
                _FRESH,
                {
                    "community": community,
                    "squad": squad,
                    "department": department,
                    "without": without,
                    "after": after,
                },
            ).first()
            assert row is not None, "no fresh grid left for the lifecycle tests"
            if row.code not in _taken:
                _taken.add(row.code)
                return Place(
                    row.code,
                    row.community_code,
                    row.station,
                    row.squad,
                    float(row.lon),
                    float(row.lat),
                )
            after = row.code


_here: list[Place] = []


def here_place(engine: Engine) -> Place:
    """A grid of the "here" community (the same one every time; see `file_case(apart=)`)."""
    if not _here:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, "
                    "ST_Y(ST_PointOnSurface(g.geom)) AS lat FROM grid_cell g "
                    "JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current "
                    "WHERE g.community_code = :c ORDER BY g.code LIMIT 1"
                ),
                {"c": HERE_COMMUNITY},
            ).one()
        _here.append(
            Place(found.code, HERE_COMMUNITY, HERE_STATION, HERE_SQUAD, found.lon, found.lat)
        )
    return _here[0]


_apart = itertools.count(1)


def account(engine: Engine, role: str, **place: str) -> Principal:
    """A new account of `role` (at `place`), as the principal a token would give."""
    name = f"lc-{role.replace('_', '-')}-{next(_serial)}"
    try:
        info = create_account(engine, name, role, PASSWORD, **place)
    except Conflict:  # pragma: no cover - names are unique per session
        raise
    return load_principal(engine, info.id, role)


@dataclass(frozen=True)
class Cast:
    """One principal per role and place."""

    dispatcher: Principal
    officer: Principal  # at HERE_STATION
    officer_elsewhere: Principal
    squad_leader: Principal  # of HERE_SQUAD
    squad_leader_elsewhere: Principal
    deputy_leader: Principal
    chief: Principal
    analyst: Principal
    admin: Principal
    department_staff: Principal  # of DEPARTMENT
    department_staff_other: Principal


def cast(engine: Engine) -> Cast:
    """Every role, here and elsewhere."""
    with engine.connect() as conn:
        other_station = conn.execute(
            sa.text(
                "SELECT st.code FROM station st JOIN squad_community sc "
                "ON sc.community_code = st.community_code WHERE sc.squad_code = :sq "
                "ORDER BY st.code LIMIT 1"
            ),
            {"sq": ELSEWHERE_SQUAD},
        ).scalar_one()
    return Cast(
        dispatcher=account(engine, "dispatcher"),
        officer=account(engine, "officer", station_code=HERE_STATION),
        officer_elsewhere=account(engine, "officer", station_code=other_station),
        squad_leader=account(engine, "squad_leader", squad_code=HERE_SQUAD),
        squad_leader_elsewhere=account(engine, "squad_leader", squad_code=ELSEWHERE_SQUAD),
        deputy_leader=account(engine, "deputy_leader"),
        chief=account(engine, "chief"),
        analyst=account(engine, "analyst"),
        admin=account(engine, "admin"),
        department_staff=account(engine, "department_staff", department_code=DEPARTMENT),
        department_staff_other=account(engine, "department_staff", department_code="D03"),
    )


def file_case(
    engine: Engine,
    settings: Settings,
    place: Place | None,
    subclass: str = "0101",
    *,
    reported_at: datetime | None = None,
    name: str | None = "陈小明",
    phone: str | None = "13812345678",
    address: str | None = None,
    at: tuple[float, float] | None = None,
    apart: bool = False,
) -> int:
    """A complaint through the real intake; returns the case id.

    `apart`: reported two days after every other such complaint (so never a
    duplicate of one: the duplicate windows are shorter), for settings without
    the repeat rule."""
    if apart and reported_at is None:
        reported_at = datetime.now(UTC) - timedelta(days=2 * next(_apart))
    lon, lat = at if at is not None else ((place.lon, place.lat) if place else (None, None))
    complaint = ComplaintIn(
        lon=lon,
        lat=lat,
        subclass=subclass,
        description="生命周期测试",
        reporter_name=name,
        reporter_phone=phone,
        address=address if address is not None else ("某路 1 号" if place is None else None),
        reported_at=reported_at,
    )
    return submit_complaint(engine, complaint, settings=settings).id


def row(engine: Engine, case_id: int) -> dict[str, Any]:
    """The case row as stored."""
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.text("SELECT * FROM case_file WHERE id = :i"), {"i": case_id})
            .mappings()
            .one()
        )


def events(engine: Engine, case_id: int) -> list[dict[str, Any]]:
    """The case's events, oldest first."""
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text("SELECT * FROM case_event WHERE case_id = :i ORDER BY at, id"),
                {"i": case_id},
            ).mappings()
        ]


def move(
    engine: Engine,
    settings: Settings,
    who: Principal,
    case_id: int,
    action: str,
    **fields: Any,
) -> dict[str, Any]:
    """Take a move with the case's current version (as a client that just read it)."""
    version = fields.pop("version", None) or row(engine, case_id)["version"]
    return apply_move(engine, who, case_id, action, Move(version=version, **fields), settings)
