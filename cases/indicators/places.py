"""Which place an indicator request names, and whether the caller may see it.

A level (district, subdistrict, community, grid, station, squad, department,
officer) and a code name a place; the code must exist (a grid, community or
subdistrict of any layout generation, the current one's name first; a
station, squad, department or officer of the organisation). The district
is the bureau's own (its code may be left out).

Who sees which figures (aggregates only, never a case or a name):
- analysts, leaders (deputy, chief), the command centre and admins: every place;
- a squad leader: their squad, and the communities, grids, stations and
  officers of the squad's communities;
- an officer: their station (and its community and grids) and themselves;
- a department's staff: their department (党建+N);
- the command line (no principal): every place.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.access import Principal
from cases.errors import Forbidden, InvalidInput
from cases.indicators.definitions import LEVEL_BY_KEY, LEVELS, Level

MAX_CODE = 32


@dataclass(frozen=True)
class Place:
    """A place of a level: its code, its name for people, and its community
    (None for the places above or beside a community)."""

    level: Level
    code: str
    name: str
    community: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready."""
        return {"level": self.level.key, "code": self.code, "name": self.name}


_LOOKUP = {
    "district": sa.text(
        "SELECT d.name, NULL AS community FROM district d "
        "JOIN layout_generation g ON g.id = d.generation_id "
        "WHERE d.code = :code AND d.is_home ORDER BY g.is_current DESC, g.id DESC LIMIT 1"
    ),
    "subdistrict": sa.text(
        "SELECT s.name, NULL AS community FROM subdistrict s "
        "JOIN layout_generation g ON g.id = s.generation_id "
        "WHERE s.code = :code ORDER BY g.is_current DESC, g.id DESC LIMIT 1"
    ),
    "community": sa.text(
        "SELECT c.name, c.code AS community FROM community c "
        "JOIN layout_generation g ON g.id = c.generation_id "
        "WHERE c.code = :code ORDER BY g.is_current DESC, g.id DESC LIMIT 1"
    ),
    "grid": sa.text(
        "SELECT c.code AS name, c.community_code AS community FROM grid_cell c "
        "JOIN layout_generation g ON g.id = c.generation_id "
        "WHERE c.code = :code ORDER BY g.is_current DESC, g.id DESC LIMIT 1"
    ),
    "station": sa.text("SELECT name, community_code AS community FROM station WHERE code = :code"),
    "squad": sa.text("SELECT name, NULL AS community FROM squad WHERE code = :code"),
    "department": sa.text("SELECT name, NULL AS community FROM department WHERE code = :code"),
    "officer": sa.text(
        "SELECT o.code AS name, s.community_code AS community FROM officer o "
        "LEFT JOIN station s ON s.code = o.station_code WHERE o.code = :code"
    ),
}


def parse_level(value: object) -> Level:
    """The level named by `value` (InvalidInput naming `level` otherwise)."""
    names = ", ".join(lv.key for lv in LEVELS)
    if not isinstance(value, str) or value.strip() not in LEVEL_BY_KEY:
        shown = str(value)[:40] if value is not None else "nothing"
        raise InvalidInput(f"unknown level {shown!r}; the levels are {names}", field="level")
    return LEVEL_BY_KEY[value.strip()]


def resolve_place(conn: Connection, level: Level, code: object, home_district: str) -> Place:
    """The place of `level` with `code` (the home district when the level is district
    and no code is given). InvalidInput naming `code` when there is none such."""
    if code is None or (isinstance(code, str) and not code.strip()):
        if level.key != "district":
            raise InvalidInput(f"give the {level.key}'s code", field="code")
        code = home_district
    if not isinstance(code, str) or len(code) > MAX_CODE or "\x00" in code:
        raise InvalidInput(f"a code is text of at most {MAX_CODE} characters", field="code")
    code = code.strip()
    row = conn.execute(_LOOKUP[level.key], {"code": code}).first()
    if row is None:
        extra = f" (the bureau's district is {home_district})" if level.key == "district" else ""
        raise InvalidInput(f"no {level.key} {code!r}{extra}", field="code")
    name = str(row.name)
    if level.key == "officer":
        name = f"队员 {code}"
    return Place(level, code, name, row.community)


def check_scope(principal: Principal | None, place: Place) -> None:
    """Forbidden unless the principal may see this place's figures (module docs)."""
    if principal is None or principal.rule.place == "all":
        return
    level = place.level.key
    role = principal.role
    if principal.rule.place == "department":
        if level == "department" and place.code == principal.department_code:
            return
        raise Forbidden(f"a {role} sees the indicators of their own department only")
    if principal.rule.place == "squad":
        if level == "squad" and place.code == principal.squad_code:
            return
        if level in ("community", "grid", "station", "officer") and principal.scope.covers(
            place.community
        ):
            return
        raise Forbidden(
            f"a {role} sees the indicators of their squad and of its communities, stations, "
            "grids and officers"
        )
    # An officer: their station, its community and grids, and themselves.
    if level == "officer" and place.code == principal.officer_code:
        return
    if level == "station" and place.code == principal.station_code:
        return
    if level in ("community", "grid") and principal.scope.covers(place.community):
        return
    raise Forbidden(
        f"a {role} sees the indicators of their station (its community and grids) and their own"
    )
