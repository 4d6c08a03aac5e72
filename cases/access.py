"""Who may see what: the principal behind a request, the places in its scope,
and whether it handles a case (and so may read the reporter's name and phone).

One rule, in one table (`RULES`), read by the API, the CLI and the workflow:

| role             | places it sees                            | handles (unmasked)          |
|------------------|-------------------------------------------|-----------------------------|
| officer          | its station's community                   | cases its station holds     |
| squad_leader     | the squad's communities (squad_community) | cases its squad's leader holds |
| deputy_leader    | all                                       | cases a deputy leader holds |
| chief            | all                                       | cases the chief holds       |
| dispatcher       | all (the command centre)                  | every case (calls back)     |
| admin            | all                                       | none: masked                |
| analyst          | all, aggregates and cases                 | none: personal data absent  |
| department_staff | cases shared with its department (党建+N) | none: masked                |

"Holds" reads the case's holder columns (cases.lifecycle.holders): a minor
case is held by its station's officers, a moderate one by its squad's
leader, a major one by the deputy leader in charge, then the chief; the
command centre holds cases before dispatch; finished cases nobody.
A department's staff act on (report back) the cases shared with them
without handling them (`acts_on`).

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

Place = Literal["station", "squad", "department", "all"]
Handles = Literal["holder", "every", "none"]


@dataclass(frozen=True)
class RoleRule:
    """What one role reaches: its place, which cases it handles, and whether it
    may read personal data at all (masked when not handling)."""

    place: Place
    handles: Handles
    personal_data: bool = True


RULES: dict[str, RoleRule] = {
    "officer": RoleRule(place="station", handles="holder"),
    "squad_leader": RoleRule(place="squad", handles="holder"),
    "deputy_leader": RoleRule(place="all", handles="holder"),
    "chief": RoleRule(place="all", handles="holder"),
    "dispatcher": RoleRule(place="all", handles="every"),
    "admin": RoleRule(place="all", handles="none"),
    "analyst": RoleRule(place="all", handles="none", personal_data=False),
    "department_staff": RoleRule(place="department", handles="none"),
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
    """The places a principal may see: everywhere, these communities (by code),
    or the cases shared with one department (党建+N)."""

    everywhere: bool
    communities: frozenset[str] = frozenset()
    department: str | None = None

    def covers(self, community_code: str | None) -> bool:
        """Whether a case located in `community_code` is in scope. Cases in no
        community (outside, unassigned, waiting for a location) are for the
        roles that see everywhere."""
        if self.everywhere:
            return True
        return community_code is not None and community_code in self.communities

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {"everywhere": bool, "communities": [codes], "department": code}."""
        return {
            "everywhere": self.everywhere,
            "communities": sorted(self.communities),
            "department": self.department,
        }


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
    department_code: str | None = None

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
            "department_code": self.department_code,
            "scope": self.scope.as_dict(),
            "personal_data": self.rule.personal_data,
        }


class CasePlace(Protocol):
    """What the rules read of a case (a case row, a view, or a test's stand-in):
    where it was located, and who holds it now."""

    @property
    def community_code(self) -> str | None: ...

    @property
    def tier(self) -> str: ...

    @property
    def station_code(self) -> str | None: ...

    @property
    def squad_code(self) -> str | None: ...

    @property
    def holder_role(self) -> str | None: ...

    @property
    def department_code(self) -> str | None: ...


def scope_for(
    role: str,
    station_community: str | None,
    squad_communities: frozenset[str],
    department: str | None = None,
) -> Scope:
    """The places of a role, given its station's community, its squad's communities
    and its department."""
    place = rule_for(role).place
    if place == "all":
        return Scope(everywhere=True)
    if place == "station":
        return Scope(False, frozenset({station_community} if station_community else ()))
    if place == "department":
        return Scope(False, frozenset(), department)
    return Scope(False, squad_communities)


_PRINCIPAL = sa.text(
    """
    SELECT a.id, a.username, a.role, a.active, a.station_code, a.squad_code, a.officer_code,
           a.department_code,
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
            row["role"],
            row["station_community"],
            frozenset(row["squad_communities"] or ()),
            row["department_code"],
        ),
        department_code=row["department_code"],
    )


def may_see(principal: Principal, case: CasePlace) -> bool:
    """Whether the case is in the principal's scope (else: 404 to them)."""
    if principal.scope.department is not None:
        return case.department_code == principal.scope.department
    return principal.scope.covers(case.community_code)


def handles_case(principal: Principal, case: CasePlace) -> bool:
    """Whether the principal handles the case now: it holds it (an officer of
    the station that holds a minor case, the squad's leader for a moderate
    one, a deputy leader or the chief for a major one, by the holder columns),
    or it is the command centre. Only they read personal data unmasked."""
    if not may_see(principal, case):
        return False
    handles = principal.rule.handles
    if handles == "every":
        return True
    if handles != "holder" or case.holder_role != principal.role:
        return False
    if principal.rule.place == "station":
        return case.station_code is not None and case.station_code == principal.station_code
    if principal.rule.place == "squad":
        return case.squad_code is not None and case.squad_code == principal.squad_code
    return True


def acts_on(principal: Principal, case: CasePlace) -> bool:
    """Whether the principal may take a holder's steps on the case: it handles
    it, or the case is shared with the principal's department (党建+N: its staff
    report back on it)."""
    if handles_case(principal, case):
        return True
    return (
        principal.role == "department_staff"
        and principal.department_code is not None
        and case.department_code == principal.department_code
    )


def scope_condition(
    principal: Principal,
    community: sa.ColumnElement[Any],
    department: sa.ColumnElement[Any] | None = None,
) -> sa.ColumnElement[bool]:
    """A WHERE condition that keeps what is in scope, on a community-code column
    (and the shared-department column, for a department's staff), for listings
    (`GET /api/v1/cases`) and indicators."""
    if principal.scope.department is not None:
        if department is None:
            return sa.false()
        return department == principal.scope.department
    if principal.scope.everywhere:
        return sa.true()
    if not principal.scope.communities:
        return sa.false()
    return community.in_(sorted(principal.scope.communities))


def holder_condition(
    principal: Principal,
    holder_role: sa.ColumnElement[Any],
    station: sa.ColumnElement[Any],
    squad: sa.ColumnElement[Any],
) -> sa.ColumnElement[bool]:
    """`handles_case` by the holder columns as a WHERE condition (`holder=me`):
    the cases the principal holds (for the command centre, those it holds
    before dispatch)."""
    rule = principal.rule
    if rule.handles == "every":
        return holder_role == principal.role
    if rule.handles != "holder":
        return sa.false()
    held = holder_role == principal.role
    if rule.place == "station":
        return (
            sa.and_(held, station == principal.station_code)
            if principal.station_code
            else sa.false()
        )
    if rule.place == "squad":
        return sa.and_(held, squad == principal.squad_code) if principal.squad_code else sa.false()
    return held


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
