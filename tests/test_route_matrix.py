"""Role × route × place: every route of the app has a rule here, and every caller gets
exactly what its rule says — no unexpected allow, no unexpected refusal.

Callers: anonymous; an officer and a squad leader "here" (the station and squad of a
case) and "elsewhere" (another squad); a deputy leader, the chief, a dispatcher, an
analyst, an administrator; staff of the department the case is shared with (党建+N) and
of another department. The routes are enumerated from the app itself (included routers,
pages, mounts), so a new route without a rule fails this test until it gets one.

A refusal is 401, 403 or 404 (a case or place outside the caller's scope is not found),
or, for a page, the redirect to the login form. Anything else is an allow. A list shows
the case "here" exactly to those who may see it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from lifecycle_world import PASSWORD, Place, account, file_case, fresh_place, row
from sqlalchemy.engine import Engine

from api.app import create_app
from cases.access import Principal
from cases.accounts.tokens import issue_token
from cases.apikeys import create_api_key
from cases.catalogue import load_catalogue
from cases.stations.patrols import PatrolIn, record_patrol
from cases.stations.shifts import ShiftIn, plan_shifts
from gis.settings import Settings

DEPARTMENT = "D05"
EVERYWHERE = {"deputy_leader", "chief", "dispatcher", "analyst", "admin"}
MAP_ROLES = {"officer", "squad_leader", "deputy_leader", "chief", "dispatcher", "analyst", "admin"}
COMMAND_ROLES = {"dispatcher", "deputy_leader", "chief", "squad_leader", "admin"}
LEDGER_READERS = MAP_ROLES
LEDGER_WRITERS = {"officer", "squad_leader", "dispatcher", "admin"}
STAFF_ROLES = MAP_ROLES - {"analyst"}  # the rota, who is on duty, patrols, frontage units
PLANNERS = {"squad_leader", "dispatcher", "admin"}  # plan shifts; an officer only their own work


@dataclass(frozen=True)
class Caller:
    """Who calls: a role (None: anonymous) and where its place is."""

    name: str
    role: str | None
    place: str  # here | elsewhere | shared | other | all | none
    headers: dict[str, str] = field(default_factory=dict)

    def sees_here(self) -> bool:
        """The place "here" (station, community) is in the caller's scope."""
        return self.role in EVERYWHERE or (
            self.role in ("officer", "squad_leader") and self.place == "here"
        )

    def sees_case(self) -> bool:
        """The case "here" (shared with DEPARTMENT) is in the caller's scope."""
        return self.sees_here() or (self.role == "department_staff" and self.place == "shared")


@dataclass
class World:
    place: Place
    case: int
    token: str
    api_key: str
    login_user: str
    entry: int
    static: str | None
    callers: list[Caller]
    officer: str = ""  # an officer of the station here (the shifts and patrols are theirs)
    shift: int = 0  # a shift now, to check in and out of
    spare_shift: int = 0  # a shift tomorrow, to cancel
    patrol: int = 0


Request = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and the request that tries it."""

    allowed: Callable[[Caller], bool]
    request: Callable[[World], Request]
    ok: frozenset[int] | None = None  # an allowed caller's statuses (default: 2xx, 3xx)
    fixed: frozenset[int] | None = None  # the same answer for everybody (no auth)


def public(request: Callable[[World], Request], *fixed: int) -> Rule:
    return Rule(lambda c: True, request, fixed=frozenset(fixed) if fixed else None)


def staff(request: Callable[[World], Request]) -> Rule:
    return Rule(lambda c: c.role is not None, request)


def roles(names: set[str], request: Callable[[World], Request], **kw: Any) -> Rule:
    return Rule(lambda c: c.role in names, request, **kw)


def placed(names: set[str], request: Callable[[World], Request], **kw: Any) -> Rule:
    return Rule(lambda c: c.role in names and c.sees_here(), request, **kw)


def get(url: Callable[[World], str], **kw: Any) -> Callable[[World], Request]:
    return lambda w: ("GET", url(w), kw)


V1, V2 = "/api/v1", "/open311/v2"
WORK_LOG = {"date": "2026-11-02", "fields": {"text": "巡查矩阵测试"}}

RULES: dict[tuple[str, str], Rule] = {
    # the documentation and health
    ("GET", "/openapi.json"): public(get(lambda w: "/openapi.json")),
    ("GET", "/docs"): public(get(lambda w: "/docs")),
    ("GET", "/docs/oauth2-redirect"): public(get(lambda w: "/docs/oauth2-redirect")),
    ("GET", "/redoc"): public(get(lambda w: "/redoc")),
    ("GET", "/healthz"): public(get(lambda w: "/healthz")),
    # residents: file and follow by token; the catalogue; locating
    ("POST", f"{V1}/complaints"): public(
        lambda w: ("POST", f"{V1}/complaints", {"json": {"subclass": "0101", "address": "矩阵"}})
    ),
    ("GET", f"{V1}/complaints/by-token/{{token}}"): public(
        get(lambda w: f"{V1}/complaints/by-token/{w.token}")
    ),
    ("GET", f"{V1}/locate"): public(get(lambda w: f"{V1}/locate?lon=113.08&lat=22.6")),
    ("GET", f"{V1}/catalogue"): public(get(lambda w: f"{V1}/catalogue")),
    # staff's reads of one case: by scope
    ("GET", f"{V1}/complaints/{{case_id}}"): Rule(
        Caller.sees_case, get(lambda w: f"{V1}/complaints/{w.case}")
    ),
    ("GET", f"{V1}/complaints/{{case_id}}/events"): Rule(
        Caller.sees_case, get(lambda w: f"{V1}/complaints/{w.case}/events")
    ),
    ("GET", f"{V1}/cases"): staff(get(lambda w: f"{V1}/cases?size=200")),
    ("GET", f"{V1}/cases/{{case_id}}"): Rule(
        Caller.sees_case, get(lambda w: f"{V1}/cases/{w.case}")
    ),
    # a move: `reply` is for the command centre and the case's holder (its station's officer)
    ("POST", f"{V1}/cases/{{case_id}}/{{action}}"): Rule(
        lambda c: c.role == "dispatcher" or (c.role == "officer" and c.place == "here"),
        lambda w: (
            "POST",
            f"{V1}/cases/{w.case}/reply",
            {"json": {"note": "已答复", "version": w_version(w)}},
        ),
    ),
    # Open311: public (a key for POSTs)
    ("GET", f"{V2}/discovery.{{fmt}}"): public(get(lambda w: f"{V2}/discovery.json")),
    ("GET", f"{V2}/services.{{fmt}}"): public(get(lambda w: f"{V2}/services.json")),
    ("GET", f"{V2}/services/{{service_code}}.{{fmt}}"): public(
        get(lambda w: f"{V2}/services/0101.json")
    ),
    ("GET", f"{V2}/requests.{{fmt}}"): public(get(lambda w: f"{V2}/requests.json")),
    ("GET", f"{V2}/requests/{{service_request_id}}.{{fmt}}"): public(
        get(lambda w: f"{V2}/requests/{w.case}.json")
    ),
    ("GET", f"{V2}/tokens/{{token}}.{{fmt}}"): public(get(lambda w: f"{V2}/tokens/{w.token}.json")),
    ("POST", f"{V2}/requests.{{fmt}}"): public(
        lambda w: (
            "POST",
            f"{V2}/requests.json",
            {"data": {"api_key": w.api_key, "service_code": "0101", "address_string": "矩阵"}},
        )
    ),
    # login
    ("POST", f"{V1}/auth/token"): public(
        lambda w: (
            "POST",
            f"{V1}/auth/token",
            {"data": {"username": w.login_user, "password": PASSWORD}},
        )
    ),
    ("GET", f"{V1}/auth/me"): staff(get(lambda w: f"{V1}/auth/me")),
    # maps and the command centre
    ("GET", f"{V1}/grids"): roles(MAP_ROLES, get(lambda w: f"{V1}/grids")),
    ("GET", f"{V1}/hotspots"): roles(MAP_ROLES, get(lambda w: f"{V1}/hotspots")),
    ("GET", f"{V1}/hotspots/emerging"): roles(MAP_ROLES, get(lambda w: f"{V1}/hotspots/emerging")),
    ("GET", f"{V1}/dashboard"): roles(COMMAND_ROLES, get(lambda w: f"{V1}/dashboard")),
    # pages
    ("GET", "/"): public(get(lambda w: "/")),
    ("POST", "/login"): public(
        lambda w: ("POST", "/login", {"data": {"username": "nobody", "password": "wrong pass"}}),
        401,
        429,  # the throttle, after a few wrong passwords for one username
    ),
    ("POST", "/logout"): public(lambda w: ("POST", "/logout", {}), 303),
    ("GET", "/dashboard"): roles(COMMAND_ROLES, get(lambda w: "/dashboard")),
    **{
        ("GET", f"/maps/{name}"): roles(MAP_ROLES, get(lambda w, n=name: f"/maps/{n}"))
        for name in ("heatmap", "timeline", "choropleth", "hotspots", "emerging", "operations")
    },
    ("MOUNT", "/static"): public(
        get(lambda w: f"/static/{w.static}" if w.static else "/static/none.js"), 200, 404
    ),
    # the stations' ledgers: readers and writers, at their station
    ("GET", f"{V1}/ledgers/{{station}}/{{kind}}.xlsx"): placed(
        LEDGER_READERS, get(lambda w: f"{V1}/ledgers/{w.place.station}/work_log.xlsx?month=2026-11")
    ),
    ("GET", f"{V1}/ledgers/{{station}}/{{kind}}"): placed(
        LEDGER_READERS, get(lambda w: f"{V1}/ledgers/{w.place.station}/work_log?month=2026-11")
    ),
    ("GET", f"{V1}/ledgers/{{station}}/{{kind}}/entries"): placed(
        LEDGER_READERS,
        get(lambda w: f"{V1}/ledgers/{w.place.station}/work_log/entries?month=2026-11"),
    ),
    ("POST", f"{V1}/ledgers/{{station}}/{{kind}}/entries"): placed(
        LEDGER_WRITERS,
        lambda w: ("POST", f"{V1}/ledgers/{w.place.station}/work_log/entries", {"json": WORK_LOG}),
    ),
    ("POST", f"{V1}/ledgers/{{station}}/{{kind}}/entries/{{entry_id}}/revisions"): placed(
        LEDGER_WRITERS,
        lambda w: (
            "POST",
            f"{V1}/ledgers/{w.place.station}/work_log/entries/{w.entry}/revisions",
            {"json": {"version": 1, "reason": "更正", "fields": {"text": "更正"}}},
        ),
        ok=frozenset({201, 409}),
    ),
    # indicators and the monthly report of a place
    ("GET", f"{V1}/indicators"): Rule(
        Caller.sees_here,
        get(lambda w: f"{V1}/indicators?level=community&code={w.place.community}"),
    ),
    ("GET", f"{V1}/reports/monthly"): placed(
        LEDGER_READERS,
        get(lambda w: f"{V1}/reports/monthly?month=2026-10&station={w.place.station}"),
    ),
    # the stations' duty: shifts and check-ins, who is on duty, compliance, patrols, frontage
    ("POST", f"{V1}/duty/shifts"): placed(
        PLANNERS,
        lambda w: ("POST", f"{V1}/duty/shifts", {"json": {"shifts": [_plan(w)]}}),
        ok=frozenset({201, 409}),  # the first planner plans it; the others clash with it
    ),
    ("GET", f"{V1}/duty/shifts"): placed(
        STAFF_ROLES, get(lambda w: f"{V1}/duty/shifts?station={w.place.station}&week=2026-W48")
    ),
    ("POST", f"{V1}/duty/shifts/{{shift_id}}/cancel"): placed(
        PLANNERS,
        lambda w: ("POST", f"{V1}/duty/shifts/{w.spare_shift}/cancel", {}),
        ok=frozenset({200, 409}),  # cancelled once; then "already cancelled"
    ),
    **{
        ("POST", f"{V1}/duty/shifts/{{shift_id}}/{kind}"): placed(
            PLANNERS,  # an officer checks in on their own shifts only (not this account's)
            lambda w, k=kind: (
                "POST",
                f"{V1}/duty/shifts/{w.shift}/{k}",
                {"json": {"lon": w.place.lon, "lat": w.place.lat, "crs": "wgs84"}},
            ),
            ok=frozenset({201, 409}),
        )
        for kind in ("checkin", "checkout")
    },
    ("GET", f"{V1}/duty/now"): placed(
        STAFF_ROLES, get(lambda w: f"{V1}/duty/now?station={w.place.station}")
    ),
    ("GET", f"{V1}/duty/compliance"): placed(
        MAP_ROLES, get(lambda w: f"{V1}/duty/compliance?week=2026-W47&station={w.place.station}")
    ),
    ("POST", f"{V1}/patrols"): placed(
        PLANNERS,  # an officer records their own patrols only (not this account's)
        lambda w: ("POST", f"{V1}/patrols", {"json": _patrol(w)}),
    ),
    ("GET", f"{V1}/patrols/{{patrol_id}}"): placed(
        STAFF_ROLES, get(lambda w: f"{V1}/patrols/{w.patrol}")
    ),
    ("POST", f"{V1}/frontage"): placed(
        LEDGER_WRITERS,
        lambda w: (
            "POST",
            f"{V1}/frontage",
            {
                "json": {
                    "code": "MXFU01",
                    "name": "矩阵小店",
                    "lon": w.place.lon,
                    "lat": w.place.lat,
                }
            },
        ),
    ),
    ("GET", f"{V1}/frontage"): placed(
        STAFF_ROLES, get(lambda w: f"{V1}/frontage?community={w.place.community}")
    ),
}


def _plan(w: World) -> dict[str, str]:
    return {
        "officer_code": w.officer,
        "station_code": str(w.place.station),
        "start": "2027-01-04T08:30:00+08:00",
        "end": "2027-01-04T12:30:00+08:00",
    }


def _patrol(w: World) -> dict[str, Any]:
    lon, lat = w.place.lon, w.place.lat
    return {
        "officer_code": w.officer,
        "station_code": str(w.place.station),
        "geojson": {"type": "LineString", "coordinates": [[lon - 1e-3, lat], [lon + 1e-3, lat]]},
        "started_at": "2026-11-02T09:00:00+08:00",
        "ended_at": "2026-11-02T10:00:00+08:00",
    }


def w_version(w: World) -> int:
    return int(_versions[w.case]())


_versions: dict[int, Callable[[], int]] = {}


def routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: included routers walked, mounts named."""
    found: set[tuple[str, str]] = set()

    def walk(items: list[Any], prefix: str = "") -> None:
        for r in items:
            if type(r).__name__ == "_IncludedRouter":
                walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif type(r).__name__ == "Mount":
                found.add(("MOUNT", prefix + r.path))
            else:
                for method in getattr(r, "methods", None) or ():
                    if method != "HEAD":
                        found.add((method, prefix + r.path))

    walk(list(app.routes))
    return found


@pytest.fixture(scope="module")
def world(engine: Engine, settings: Settings) -> World:
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    quiet = settings.model_copy(update={"repeat_report_count": 1000})
    place = fresh_place(engine, department=DEPARTMENT)
    catalogue = load_catalogue(settings.data_dir / "catalogue.toml")
    subclass = next(
        s.code for s in catalogue.subclasses if s.department == DEPARTMENT and s.tier == "minor"
    )
    case = file_case(engine, quiet, place, subclass)
    assert row(engine, case)["department_code"] == DEPARTMENT
    _versions[case] = lambda: row(engine, case)["version"]
    with engine.connect() as conn:
        other = conn.execute(
            sa.text(
                "SELECT st.code, sc.squad_code FROM station st JOIN squad_community sc "
                "ON sc.community_code = st.community_code WHERE sc.squad_code <> :sq "
                "ORDER BY st.code LIMIT 1"
            ),
            {"sq": place.squad},
        ).one()

    def who(name: str, role: str, where: str, **at: str) -> Caller:
        p: Principal = account(engine, role, **at)
        token, _ = issue_token(p.account_id, p.username, p.role, settings)
        return Caller(name, role, where, {"Authorization": f"Bearer {token}"})

    assert place.station and place.squad
    callers = [
        Caller("anonymous", None, "none"),
        who("officer here", "officer", "here", station_code=place.station),
        who("officer elsewhere", "officer", "elsewhere", station_code=other.code),
        who("squad leader here", "squad_leader", "here", squad_code=place.squad),
        who("squad leader elsewhere", "squad_leader", "elsewhere", squad_code=other.squad_code),
        *(who(r, r, "all") for r in ("deputy_leader", "chief", "dispatcher", "analyst", "admin")),
        who("department staff shared", "department_staff", "shared", department_code=DEPARTMENT),
        who("department staff other", "department_staff", "other", department_code="D03"),
    ]
    login = account(engine, "analyst")
    entry = 0
    from maps.offline import STATIC_DIR

    static = None
    for root, _, files in os.walk(STATIC_DIR):
        if files:
            static = os.path.relpath(os.path.join(root, files[0]), STATIC_DIR)
            break
    world = World(
        place=place,
        case=case,
        token=row(engine, case)["token"],
        api_key=create_api_key(engine, "matrix"),
        login_user=login.username,
        entry=entry,
        static=static,
        callers=callers,
    )
    # A shift covering now at the station (another module may have planned one: shifts
    # of one officer may not overlap), and a spare one far ahead to cancel.
    now = datetime.now(UTC).replace(microsecond=0)
    hour = timedelta(hours=1)
    station = str(place.station)
    with engine.connect() as conn:
        live = conn.execute(
            sa.text(
                "SELECT id, officer_code FROM duty_shift WHERE station_code = :st "
                "AND cancelled_at IS NULL AND during @> CAST(:now AS timestamptz) "
                "ORDER BY id LIMIT 1"
            ),
            {"st": station, "now": now},
        ).first()
        world.officer = (
            live.officer_code
            if live
            else conn.execute(
                sa.text(
                    "SELECT o.code FROM officer o WHERE o.station_code = :st "
                    "AND o.role = 'officer' AND o.active AND NOT EXISTS ("
                    "SELECT 1 FROM duty_shift s WHERE s.officer_code = o.code "
                    "AND s.cancelled_at IS NULL AND s.during @> CAST(:now AS timestamptz)) "
                    "ORDER BY o.code LIMIT 1"
                ),
                {"st": station, "now": now},
            ).scalar_one()
        )
    starts = [datetime(2031, 5, 5, 8, 30, tzinfo=UTC)] + ([] if live else [now - hour])
    made = plan_shifts(
        engine,
        [
            ShiftIn(officer_code=world.officer, station_code=station, start=t, end=t + 4 * hour)
            for t in starts
        ],
    )
    world.spare_shift = made[0].id
    world.shift = int(live.id) if live else made[1].id
    world.patrol = record_patrol(engine, PatrolIn.model_validate(_patrol(world))).id
    return world


@pytest.fixture(scope="module")
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _refused(resp: Any) -> bool:
    if resp.status_code in (401, 403, 404):
        return True
    return resp.status_code in (302, 303) and resp.headers.get("location", "").startswith("/?next=")


def test_every_route_has_a_rule(client: TestClient) -> None:
    found = routes(client.app)
    assert found - set(RULES) == set(), "routes without a rule in the matrix"
    # (a rule may wait for its route: other rooms add theirs to the app as they land)


def test_role_route_place_matrix(client: TestClient, world: World) -> None:
    # a ledger entry to revise (written by the command centre)
    if any(p.endswith("/revisions") for _, p in RULES):
        dispatcher = next(c for c in world.callers if c.role == "dispatcher")
        made = client.post(
            f"{V1}/ledgers/{world.place.station}/work_log/entries",
            json=WORK_LOG,
            headers=dispatcher.headers,
        )
        if made.status_code == 201:
            world.entry = int(made.json()["id"])
    wrong: list[str] = []
    present = routes(client.app)
    for key, rule in sorted(RULES.items()):
        if key not in present:
            continue
        for caller in world.callers:
            method, url, kw = rule.request(world)
            resp = client.request(method, url, headers=caller.headers, follow_redirects=False, **kw)
            label = f"{caller.name} {key[0]} {key[1]} -> {resp.status_code}"
            if rule.fixed is not None:
                if resp.status_code not in rule.fixed:
                    wrong.append(f"{label}: expected one of {sorted(rule.fixed)}")
                continue
            allowed = rule.allowed(caller)
            if allowed and _refused(resp):
                wrong.append(f"{label}: refused, but the rule allows it ({resp.text[:120]})")
            elif not allowed and not _refused(resp):
                wrong.append(f"{label}: UNEXPECTED ALLOW ({resp.text[:120]})")
            elif allowed:
                ok = rule.ok or frozenset(range(200, 400))
                if resp.status_code not in ok:
                    wrong.append(f"{label}: allowed but answered {resp.text[:160]}")
            if allowed and key == ("GET", f"{V1}/cases"):
                listed = {c["id"] for c in resp.json()["items"]}
                if (world.case in listed) != caller.sees_case():
                    wrong.append(f"{label}: the case here listed={world.case in listed}")
            if caller.role is None and resp.status_code == 401:
                assert resp.headers.get("www-authenticate") == "Bearer", label
    assert not wrong, "\n".join(wrong)
