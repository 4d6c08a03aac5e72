"""Who may see what: the principal behind a request, the places in its scope,
and whether it handles a case (and so may read the reporter's name and phone).

One rule, in one table (`RULES`), read by the API, the CLI and the workflow:

| role          | places it sees                         | handles (unmasked)       |
|---------------|----------------------------------------|--------------------------|
| officer       | its station's community                | every case it sees       |
| squad_leader  | the squad's communities (squad_community) | every case it sees    |
| deputy_leader | all                                    | major cases (its tier)   |
| chief         | all                                    | major cases (its tier)   |
| dispatcher    | all (the command centre)               | every case (calls back)  |
| admin         | all                                    | none: masked             |
| analyst       | all, aggregates and cases              | none: personal data absent |

Residents have no principal: they follow one case by its token and never see
personal data. No HTTP here; `api.auth` turns a request into a Principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.accounts.errors import Unauthenticated
from cases.accounts.models import ROLES
from gis.privacy import mask_name, mask_phone

Place = Literal["station", "squad", "all"]
Handles = Literal["in_scope", "major", "every", "none"]


@dataclass(frozen=True)
class RoleRule:
    """What one role reaches: its place, which cases it handles, and whether it
    may read personal data at all (masked when not handling)."""

    place: Place
    handles: Handles
    personal_data: bool = True


RULES: dict[str, RoleRule] = {
    "officer": RoleRule(place="station", handles="in_scope"),
    "squad_leader": RoleRule(place="squad", handles="in_scope"),
    "deputy_leader": RoleRule(place="all", handles="major"),
    "chief": RoleRule(place="all", handles="major"),
    "dispatcher": RoleRule(place="all", handles="every"),
    "admin": RoleRule(place="all", handles="none"),
    "analyst": RoleRule(place="all", handles="none", personal_data=False),
}
if set(RULES) != set(ROLES):  # pragma: no cover - caught by any import in the tests
    raise RuntimeError("every account role needs exactly one rule in cases.access.RULES")


def rule_for(role: str) -> RoleRule:
    """The rule of `role`; ValueError for a role that does not exist."""
    try:
        return RULES[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}") from None


@dataclass(frozen=True)
class Scope:
    """The places a principal may see: everywhere, or these communities (by code)."""

    everywhere: bool
    communities: frozenset[str] = frozenset()

    def covers(self, community_code: str | None) -> bool:
        """Whether a case located in `community_code` is in scope. Cases in no
        community (outside, unassigned, waiting for a location) are for the
        roles that see everywhere."""
        if self.everywhere:
            return True
        return community_code is not None and community_code in self.communities

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {"everywhere": bool, "communities": [codes]}."""
        return {"everywhere": self.everywhere, "communities": sorted(self.communities)}


@dataclass(frozen=True)
class Principal:
    """The account behind a request, with its scope resolved."""

    account_id: int
    username: str
    role: str
    station_code: str | None
    squad_code: str | None
    officer_code: str | None
    scope: Scope

    @property
    def rule(self) -> RoleRule:
        """The rule of this principal's role."""
        return RULES[self.role]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for `GET /api/v1/auth/me`."""
        return {
            "id": self.account_id,
            "username": self.username,
            "role": self.role,
            "station_code": self.station_code,
            "squad_code": self.squad_code,
            "officer_code": self.officer_code,
            "scope": self.scope.as_dict(),
            "personal_data": self.rule.personal_data,
        }


class CasePlace(Protocol):
    """What the rules read of a case (a case row, a view, or a test's stand-in)."""

    @property
    def community_code(self) -> str | None: ...

    @property
    def tier(self) -> str: ...


def scope_for(role: str, station_community: str | None, squad_communities: frozenset[str]) -> Scope:
    """The places of a role, given its station's community and its squad's communities."""
    place = rule_for(role).place
    if place == "all":
        return Scope(everywhere=True)
    if place == "station":
        return Scope(False, frozenset({station_community} if station_community else ()))
    return Scope(False, squad_communities)


_PRINCIPAL = sa.text(
    """
    SELECT a.id, a.username, a.role, a.active, a.station_code, a.squad_code, a.officer_code,
           (SELECT s.community_code FROM station s WHERE s.code = a.station_code)
               AS station_community,
           ARRAY(SELECT sc.community_code FROM squad_community sc
                 WHERE sc.squad_code = a.squad_code) AS squad_communities
    FROM account a
    WHERE a.id = :id
    """
)


def load_principal(engine: Engine, account_id: int, role: str) -> Principal:
    """The principal of an account named by a valid token, in one statement.

    Read on every request, so switching an account off or changing its role
    takes effect at once rather than when the token expires: a token whose
    account is off, gone, or now has another role is Unauthenticated.
    """
    with engine.connect() as conn:
        row = conn.execute(_PRINCIPAL, {"id": account_id}).mappings().one_or_none()
    if row is None or not row["active"] or row["role"] != role:
        raise Unauthenticated("this account is switched off or has changed; log in again")
    return Principal(
        account_id=row["id"],
        username=row["username"],
        role=row["role"],
        station_code=row["station_code"],
        squad_code=row["squad_code"],
        officer_code=row["officer_code"],
        scope=scope_for(
            row["role"], row["station_community"], frozenset(row["squad_communities"] or ())
        ),
    )


def may_see(principal: Principal, case: CasePlace) -> bool:
    """Whether the case is in the principal's scope (else: 404 or 403 to them)."""
    return principal.scope.covers(case.community_code)


def handles_case(principal: Principal, case: CasePlace) -> bool:
    """Whether the principal handles the case: the officers of its station, the
    leader of its squad, the deputy leaders and the chief for major cases, the
    command centre for every case. Only they read personal data unmasked."""
    if not may_see(principal, case):
        return False
    handles = principal.rule.handles
    if handles == "every" or handles == "in_scope":
        return True
    if handles == "major":
        return case.tier == "major"
    return False


def scope_condition(
    principal: Principal, community: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """A WHERE condition on a community-code column that keeps what is in scope,
    for listings (`GET /api/v1/cases`) and indicators."""
    if principal.scope.everywhere:
        return sa.true()
    if not principal.scope.communities:
        return sa.false()
    return community.in_(sorted(principal.scope.communities))


class Disclosure(Enum):
    """How a reporter's name and phone are shown to someone."""

    PLAIN = "plain"
    MASKED = "masked"
    ABSENT = "absent"


def disclosure(principal: Principal | None, case: CasePlace) -> Disclosure:
    """Plain to those handling the case, masked to other staff who may see it,
    absent for analysts (and their exports) and for residents (no principal)."""
    if principal is None or not principal.rule.personal_data or not may_see(principal, case):
        return Disclosure.ABSENT
    return Disclosure.PLAIN if handles_case(principal, case) else Disclosure.MASKED


def reporter_contact(
    principal: Principal | None, case: CasePlace, name: str | None, phone: str | None
) -> dict[str, str | None] | None:
    """The reporter's name and phone as this principal may read them, or None
    when personal data is absent for them (leave the fields out of the view)."""
    how = disclosure(principal, case)
    if how is Disclosure.ABSENT:
        return None
    if how is Disclosure.PLAIN:
        return {"reporter_name": name, "reporter_phone": phone}
    return {"reporter_name": mask_name(name), "reporter_phone": mask_phone(phone)}
