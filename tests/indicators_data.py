"""A small hand-built month for the indicator and report tests: May 2016.

Two stations in two squads: S (ST440703005002, squad SQ440703005) with grids
G1 and G2 of its community, S2 (ST440703007001, squad SQ440703007) with grid
H1, and a grid KG elsewhere whose 党建+N departments include D03. The cases
come in through the bulk path (`grid assign`'s function: a file of hotline
records, so each one's clock starts at its reported time), then the
lifecycle's own moves (`apply_move`, at given moments) and the escalation
sweeper (`sweep`, at given moments) take them through the month. Nothing
touches an event except those functions.

The cases (local times; deadlines by the calendar, checked in the tests):

Key, grid, subclass (handling limit), reported; then what happens:

- A, G1, 0401 (2 h), 05-03 09:00: started 09:30, replied 10:00, back 10:30,
  closed 10:45, rated 5;
- B, G1, 0103 (8 h), 05-04 16:00: back 05-06 09:30 (late), sent back 10:00,
  back 15:00, closed 15:30, replied 05-12 (late), rated 2;
- C, G2, 0402 (4 h), 05-09 10:00: escalated 05-09 17:00 (squad leader), back
  05-10 09:00, closed 09:30;
- D, G2, 0101 (4 h), 05-31 16:00: back 17:00, closed 17:30 (due 06-01), rated 4
  on 06-01;
- E, G1, 0401 (2 h), 04-29 17:00: due 05-03 09:30 (Labour Day between); back
  09:00, closed 09:15;
- F, G1, 0201 (8 h), 05-26 09:00: nothing, open at the month's end (its
  description carries markup and a phone number);
- G, H1, 0401 (2 h), 05-10 09:00: replied 09:30, back 09:45, closed 10:00, rated 3;
- I, outside, 0401, 05-12 10:00: referred out at intake;
- J, no place, 0401 (2 h), 05-13 09:00: address only; filed to G2 10:00,
  dispatched 10:30, replied 11:00, back 14:45, closed 05-16 09:00;
- K, KG, 0404 (4 h, department D03), 05-17 09:00: back (by D03's staff) 10:00,
  closed 10:30;
- L, G2, 0402 (4 h), 05-09 09:00: escalated 05-09 17:00 and 05-10 12:00
  (deputy leader), open at the month's end;
- M, G2, 0402 (4 h), 05-20 10:00: the third 0402 in G2 in 30 days (moderate);
  back 15:00, closed 15:30;
- N, G2, 0201, 2016-04-05 10:00: nothing, open since April;
- O, P, G1, 0103, 2015-05-12 and 13 10:00; Q, R, G1, 0401, 2016-01-12 and
  2016-03-15 10:00: closed the same day.

`plant` is idempotent per session: the test modules that use the month
share it (the second finds it planted).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal, load_principal
from cases.accounts.store import create_account
from cases.bulk import assign_file
from cases.lifecycle.escalation import sweep
from cases.lifecycle.states import CLOCK_STATES
from cases.lifecycle.transitions import Move, apply_move
from gis.settings import Settings

CST = ZoneInfo("Asia/Shanghai")
S, S2 = "ST440703005002", "ST440703007001"
SQUAD, SQUAD2 = "SQ440703005", "SQ440703007"
OFFICER, OFFICER2 = "OF00161", "OF00216"
"""Officers stationed at S and S2 (their accounts act on the stations' cases)."""
DEPARTMENT = "D03"
PASSWORD = "indicator tests 2016"
MARK = "ind2016"
PWN = "<script>window.__pwned=1</script>乱贴小广告 联系电话13812345678"
_serial = itertools.count(1)


def at(text: str) -> datetime:
    """A local time, `2016-05-03 09:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


@dataclass
class Month:
    """The planted month: case ids by key, the grids, the accounts' principals."""

    ids: dict[str, int]
    grids: dict[str, str]
    community: str
    principals: dict[str, Principal] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)


CASES: list[tuple[str, str, str, str]] = [
    # key, grid, subclass, reported (local)
    ("O", "G1", "0103", "2015-05-12 10:00"),
    ("P", "G1", "0103", "2015-05-13 10:00"),
    ("Q", "G1", "0401", "2016-01-12 10:00"),
    ("R", "G1", "0401", "2016-03-15 10:00"),
    ("N", "G2", "0201", "2016-04-05 10:00"),
    ("E", "G1", "0401", "2016-04-29 17:00"),
    ("A", "G1", "0401", "2016-05-03 09:00"),
    ("B", "G1", "0103", "2016-05-04 16:00"),
    ("L", "G2", "0402", "2016-05-09 09:00"),
    ("C", "G2", "0402", "2016-05-09 10:00"),
    ("G", "H1", "0401", "2016-05-10 09:00"),
    ("I", "OUT", "0401", "2016-05-12 10:00"),
    ("J", "ADDR", "0401", "2016-05-13 09:00"),
    ("K", "KG", "0404", "2016-05-17 09:00"),
    ("M", "G2", "0402", "2016-05-20 10:00"),
    ("F", "G1", "0201", "2016-05-26 09:00"),
    ("D", "G2", "0101", "2016-05-31 16:00"),
]
OUTSIDE = (113.02, 22.45)
"""A point in 新会区, south of the district: referred out."""


def _grids(engine: Engine) -> tuple[dict[str, tuple[str, float, float]], str]:
    """G1, G2 (S's community), H1 (S2's) and KG (a D03 grid elsewhere): code and inner point."""
    sql = sa.text("""
        SELECT g.code, g.community_code, ST_X(ST_PointOnSurface(g.geom)) AS x,
               ST_Y(ST_PointOnSurface(g.geom)) AS y
        FROM grid_cell g JOIN layout_generation l ON l.id = g.generation_id AND l.is_current
        WHERE g.community_code = (SELECT community_code FROM station WHERE code = :st)
        ORDER BY g.code""")
    with engine.connect() as conn:
        mine = conn.execute(sql, {"st": S}).all()
        other = conn.execute(sql, {"st": S2}).all()
        kg = conn.execute(
            sa.text("""
            SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS x,
                   ST_Y(ST_PointOnSurface(g.geom)) AS y
            FROM grid_cell g JOIN layout_generation l ON l.id = g.generation_id AND l.is_current
            JOIN grid_department d ON d.grid_code = g.code AND d.department_code = :dept
            JOIN squad_community sc ON sc.community_code = g.community_code
            WHERE sc.squad_code NOT IN (:q1, :q2)
            ORDER BY g.code LIMIT 1"""),
            {"dept": DEPARTMENT, "q1": SQUAD, "q2": SQUAD2},
        ).one()
    community = str(mine[0].community_code)
    grids = {
        "G1": (mine[0].code, mine[0].x, mine[0].y),
        "G2": (mine[1].code, mine[1].x, mine[1].y),
        "H1": (other[0].code, other[0].x, other[0].y),
        "KG": (kg.code, kg.x, kg.y),
    }
    return grids, community


def _file(path: Path, grids: dict[str, tuple[str, float, float]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lon", "lat", "subclass", "reported_at", "description", "address"])
        for key, grid, sub, when in CASES:
            text = f"{MARK}-{key}" + (f" {PWN}" if key == "F" else "")
            stamp = at(when).isoformat()
            if grid == "ADDR":
                w.writerow(["", "", sub, stamp, text, "蓬江区测试路8号"])
            elif grid == "OUT":
                w.writerow([OUTSIDE[0], OUTSIDE[1], sub, stamp, text, ""])
            else:
                _, x, y = grids[grid]
                w.writerow([f"{x:.7f}", f"{y:.7f}", sub, stamp, text, ""])


def _accounts(engine: Engine, month: Month) -> None:
    specs: dict[str, dict[str, str]] = {
        "dispatcher": {},
        "officer": {"station_code": S, "officer_code": OFFICER},
        "officer2": {"station_code": S2, "officer_code": OFFICER2},
        "squad_leader": {"squad_code": SQUAD},
        "department_staff": {"department_code": DEPARTMENT},
        "analyst": {},
        "deputy_leader": {},
    }
    for name, place in specs.items():
        role = "officer" if name == "officer2" else name
        username = f"ind-{name.replace('_', '-')}-{next(_serial)}"
        info = create_account(engine, username, role, PASSWORD, **place)
        month.principals[name] = load_principal(engine, info.id, role)
        month.usernames[name] = username


@contextmanager
def only_these_overdue(engine: Engine, ids: list[int], now: datetime) -> Iterator[None]:
    """Hold every other overdue case locked while a sweep runs, so that the sweeper
    (SELECT ... FOR UPDATE SKIP LOCKED) takes only these: other tests' cases are not
    moved, and nothing else of theirs is counted in this month."""
    clock = list(CLOCK_STATES)
    with engine.connect() as conn, conn.begin():
        conn.execute(
            sa.text(
                "SELECT id FROM case_file WHERE status = ANY(:clock) AND due_at < :now "
                "AND NOT (id = ANY(:ids)) FOR UPDATE"
            ),
            {"clock": clock, "now": now, "ids": ids},
        ).all()
        yield


def plant(engine: Engine, settings: Settings, tmp: Path) -> Month:
    """The month (module docs); planted once per database."""
    grids, community = _grids(engine)
    month = Month(ids={}, grids={k: v[0] for k, v in grids.items()}, community=community)
    _accounts(engine, month)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT description, id FROM case_file WHERE description LIKE :m"),
            {"m": f"{MARK}-%"},
        ).all()
    if found:
        month.ids = {str(d).split(" ")[0].split("-")[1]: int(i) for d, i in found}
        return month
    path = tmp / "ind2016.csv"
    _file(path, grids)
    result = assign_file(engine, path, "wgs84", settings=settings)
    assert result.invalid == 0, result
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT description, id FROM case_file WHERE description LIKE :m"),
            {"m": f"{MARK}-%"},
        ).all()
    month.ids = {str(d).split(" ")[0].split("-")[1]: int(i) for d, i in rows}
    assert sorted(month.ids) == sorted(k for k, *_ in CASES)
    _drive(engine, settings, month)
    return month


def _drive(engine: Engine, settings: Settings, month: Month) -> None:
    """The month's moves, in time order."""
    p = month.principals

    def move(key: str, action: str, when: str, who: str, **fields: Any) -> None:
        case_id = month.ids[key]
        with engine.connect() as conn:
            version = conn.execute(
                sa.text("SELECT version FROM case_file WHERE id = :id"), {"id": case_id}
            ).scalar_one()
        if action == "report_back":
            fields.setdefault("photos", ("https://example.org/done.jpg",))
        apply_move(
            engine,
            p[who],
            case_id,
            action,
            Move(version=version, **fields),
            settings,
            now=at(when),
        )

    def escalate(when: str, keys: list[str], moved: int) -> None:
        ids = [month.ids[k] for k in keys]
        with only_these_overdue(engine, ids, at(when)):
            result = sweep(engine, now=at(when), settings=settings)
        assert result.moved == moved, result

    def handle(key: str, start: str, back: str, close: str, who: str = "officer") -> None:
        move(key, "start", start, who)
        move(key, "report_back", back, who)
        move(key, "close", close, "dispatcher")

    # History, closed on time (a year before, and the months before May).
    handle("O", "2015-05-12 10:10", "2015-05-12 10:30", "2015-05-12 11:00")
    handle("P", "2015-05-13 10:10", "2015-05-13 10:30", "2015-05-13 11:00")
    handle("Q", "2016-01-12 10:10", "2016-01-12 10:30", "2016-01-12 11:00")
    handle("R", "2016-03-15 10:10", "2016-03-15 10:30", "2016-03-15 11:00")
    # May.
    handle("E", "2016-05-03 08:45", "2016-05-03 09:00", "2016-05-03 09:15")
    move("A", "start", "2016-05-03 09:30", "officer")
    move("A", "reply", "2016-05-03 10:00", "dispatcher", note="已受理，正在处置")
    move("A", "report_back", "2016-05-03 10:30", "officer")
    move("A", "close", "2016-05-03 10:45", "dispatcher")
    move("A", "evaluate", "2016-05-04 09:00", "dispatcher", rating=5)
    move("B", "start", "2016-05-06 09:00", "officer")
    move("B", "report_back", "2016-05-06 09:30", "officer")
    move("B", "send_back", "2016-05-06 10:00", "dispatcher", reason="现场仍有堆物")
    move("B", "start", "2016-05-06 10:30", "officer")
    move("B", "report_back", "2016-05-06 15:00", "officer")
    move("B", "close", "2016-05-06 15:30", "dispatcher")
    escalate("2016-05-09 17:00", ["C", "L"], 2)
    handle("C", "2016-05-10 08:45", "2016-05-10 09:00", "2016-05-10 09:30", "squad_leader")
    move("G", "reply", "2016-05-10 09:30", "dispatcher", note="已派员处置")
    handle("G", "2016-05-10 09:40", "2016-05-10 09:45", "2016-05-10 10:00", "officer2")
    move("G", "evaluate", "2016-05-11 09:00", "dispatcher", rating=3)
    escalate("2016-05-10 12:00", ["L"], 1)
    move("B", "reply", "2016-05-12 09:00", "dispatcher", note="已处置完毕")
    move("B", "evaluate", "2016-05-12 10:00", "dispatcher", rating=2)
    move("J", "file", "2016-05-13 10:00", "dispatcher", grid_code=month.grids["G2"])
    move("J", "dispatch", "2016-05-13 10:30", "dispatcher")
    move("J", "reply", "2016-05-13 11:00", "dispatcher", note="已派遣")
    move("J", "start", "2016-05-13 14:30", "officer")
    move("J", "report_back", "2016-05-13 14:45", "officer")
    move("J", "close", "2016-05-16 09:00", "dispatcher")
    move("K", "report_back", "2016-05-17 10:00", "department_staff")
    move("K", "close", "2016-05-17 10:30", "dispatcher")
    handle("M", "2016-05-20 14:40", "2016-05-20 15:00", "2016-05-20 15:30", "squad_leader")
    handle("D", "2016-05-31 16:30", "2016-05-31 17:00", "2016-05-31 17:30")
    move("D", "evaluate", "2016-06-01 09:00", "dispatcher", rating=4)
