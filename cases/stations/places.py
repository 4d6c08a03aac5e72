"""Who may act where in the stations' work: the places of stations, and the
scope rule of cases.access applied to them.

`principal` is None for the command line (an operator on the server, who may
do everything); otherwise the station's community must be in the principal's
scope (cases.access: an officer its station, a squad leader its squad's
communities, the command centre and the bureau everywhere). Officers act only
for themselves where a rule says so (`check_self`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.access import Principal
from cases.errors import Forbidden, NotFound


@dataclass(frozen=True)
class StationPlace:
    """A station with its community and squad (codes) and name."""

    code: str
    name: str
    community_code: str
    squad_code: str | None


_PLACES = sa.text("""
SELECT s.code, s.name, s.community_code, sc.squad_code
FROM station s LEFT JOIN squad_community sc ON sc.community_code = s.community_code
WHERE s.code = ANY(CAST(:codes AS text[]))
""")


def station_places(conn: Connection, codes: Iterable[str]) -> dict[str, StationPlace]:
    """The stations among `codes` that exist, by code (one statement). A code
    PostgreSQL could not hold (NUL) names no station."""
    wanted = sorted({c for c in codes if "\x00" not in c})
    rows = conn.execute(_PLACES, {"codes": wanted})
    return {r.code: StationPlace(r.code, r.name, r.community_code, r.squad_code) for r in rows}


def station_place(conn: Connection, code: str, field: str = "station_code") -> StationPlace:
    """The station `code`; NotFound naming `field` when there is none."""
    place = station_places(conn, [code]).get(code)
    if place is None:
        raise NotFound(f"no station {code!r}", field=field)
    return place


def check_place(principal: Principal | None, place: StationPlace, what: str) -> None:
    """Forbidden unless `place` is in the principal's scope (None: the CLI)."""
    if principal is None or principal.scope.covers(place.community_code):
        return
    raise Forbidden(
        f"a {principal.role} may not {what} at station {place.code}: "
        "it is outside this account's communities"
    )


def check_self(principal: Principal | None, officer_code: str, what: str) -> None:
    """An officer acts only for themselves (its account's officer record)."""
    if principal is None or principal.role != "officer":
        return
    if principal.officer_code is None:
        raise Forbidden(
            f"this officer account is not linked to an officer record, so it may not {what}"
        )
    if principal.officer_code != officer_code:
        raise Forbidden(f"an officer may {what} only for themselves, not for {officer_code}")
