"""Who holds a case (三事分流), and who is next when it is overdue.

- minor (小事): the station's officers; the one on duty at dispatch is named
  (from the duty shifts: cases.stations.onduty, rule 4 of cases.intake.rules);
- moderate (中事): the squad leader of the case's squad;
- major (大事): the deputy bureau leader in charge (分管局领导), and when the
  deputy cannot (the case is overdue with them), the chief (局主要领导).

Before dispatch the command centre holds a case (`dispatcher`, no code);
finished cases are held by nobody. The holder is kept in the case's own
columns (`holder_role`, `holder_code`), apart from where it was located
(grid, community, station, squad).

Leaders are officer records (`officer.role`): a squad's leader is its active
squad leader with the lowest code; the deputy in charge is the setting
`CG_DEPUTY_IN_CHARGE` when it names an active deputy leader, else the active
deputy leader with the lowest code; the chief likewise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

TIER_HOLDER: dict[str, str] = {
    "minor": "officer",
    "moderate": "squad_leader",
    "major": "deputy_leader",
}
"""The role that holds a dispatched case of each tier."""

UP: dict[str, tuple[str, str]] = {
    "officer": ("moderate", "squad_leader"),
    "squad_leader": ("major", "deputy_leader"),
    "deputy_leader": ("major", "chief"),
}
"""When a holder's time runs out: the case's next (tier, holder role). The chief is last."""

HOLDER_LABELS = {
    "dispatcher": "指挥中心",
    "officer": "社区执法队员",
    "squad_leader": "中队长",
    "deputy_leader": "分管局领导",
    "chief": "局主要领导",
}

LEADERS_SQL = sa.text("""
SELECT code, role, squad_code FROM officer
WHERE active AND role IN ('squad_leader', 'deputy_leader', 'chief')
ORDER BY code
""")


@dataclass(frozen=True)
class Leaders:
    """The leaders who hold moderate and major cases (officer codes)."""

    squad_leaders: Mapping[str, str] = field(default_factory=dict)
    deputy: str | None = None
    chief: str | None = None

    def code_for(self, role: str | None, squad: str | None, duty_officer: str | None) -> str | None:
        """The code of who holds a case in `role`: the duty officer, the squad's
        leader, the deputy in charge or the chief (None: nobody, or the command centre)."""
        if role == "officer":
            return duty_officer
        if role == "squad_leader":
            return self.squad_leaders.get(squad) if squad else None
        if role == "deputy_leader":
            return self.deputy
        if role == "chief":
            return self.chief
        return None

    def codes_for(
        self,
        roles: npt.NDArray[np.object_],
        squads: npt.NDArray[np.object_],
        duty_officers: npt.NDArray[np.object_],
    ) -> npt.NDArray[np.object_]:
        """`code_for` over columns (object arrays of str or None), without a loop per row."""
        out = np.full(len(roles), None, dtype=object)
        is_officer = roles == "officer"
        out[is_officer] = duty_officers[is_officer]
        lead = roles == "squad_leader"
        if lead.any() and self.squad_leaders:
            keys = pa.array(list(self.squad_leaders), pa.string())
            vals = pa.array(list(self.squad_leaders.values()), pa.string())
            at = pc.index_in(pa.array(squads[lead], pa.string()), value_set=keys)
            out[lead] = np.asarray(vals.take(at).to_pylist(), dtype=object)
        out[roles == "deputy_leader"] = self.deputy
        out[roles == "chief"] = self.chief
        return out


def leaders_from_rows(
    rows: Iterable[Mapping[str, Any]], deputy_in_charge: str | None = None
) -> Leaders:
    """Leaders from officer rows (code, role, squad_code) of active leaders, lowest code first."""
    squads: dict[str, str] = {}
    deputies: list[str] = []
    chiefs: list[str] = []
    for r in sorted(rows, key=lambda r: str(r["code"])):
        code, role = str(r["code"]), r["role"]
        if role == "squad_leader" and r["squad_code"]:
            squads.setdefault(str(r["squad_code"]), code)
        elif role == "deputy_leader":
            deputies.append(code)
        elif role == "chief":
            chiefs.append(code)
    deputy = deputy_in_charge if deputy_in_charge in deputies else None
    return Leaders(
        squad_leaders=squads,
        deputy=deputy or (deputies[0] if deputies else None),
        chief=chiefs[0] if chiefs else None,
    )


def load_leaders(conn: Connection, deputy_in_charge: str | None = None) -> Leaders:
    """The active leaders, read in one statement."""
    rows = [dict(r) for r in conn.execute(LEADERS_SQL).mappings()]
    return leaders_from_rows(rows, deputy_in_charge)


def holder_role_for(tier: str) -> str:
    """The role that holds a dispatched case of `tier`."""
    return TIER_HOLDER[tier]


def holder_roles_for(tiers: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """`holder_role_for` over a column of tiers."""
    out = np.full(len(tiers), None, dtype=object)
    for tier, role in TIER_HOLDER.items():
        out[tiers == tier] = role
    return out


def leaders_of(
    squad: str | None,
    squad_leader: str | None,
    deputies: Iterable[str],
    chief: str | None,
    deputy_in_charge: str | None = None,
) -> Leaders:
    """Leaders for one case's place (the single path reads them in its own statement)."""
    ordered = sorted(deputies)
    deputy = deputy_in_charge if deputy_in_charge in ordered else None
    return Leaders(
        squad_leaders={squad: squad_leader} if squad and squad_leader else {},
        deputy=deputy or (ordered[0] if ordered else None),
        chief=chief,
    )
