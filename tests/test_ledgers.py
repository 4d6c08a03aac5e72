"""The five ledgers on PostGIS, against a small hand-built month.

The month is March 2018 at a sample station (ST440703002003, 潮连 squad),
far from every other test's dates. It is made through the project's own
doors: complaints through intake (api, open311), a hotline file through the
bulk loader (its clock starts at the reported time, so it has due times in
March), shifts with check-ins, a patrol with a finding (filed as a case) and
frontage checks, and manual entries (one corrected, one withdrawn). Two
cases are closed by hand with their closing event (the lifecycle's own moves
are tested with the lifecycle).

Then: each ledger's rows exactly; the .xlsx files opened again with openpyxl
(sheet, headers, values, page set-up, column widths by display width,
masking); the CLI through typer's CliRunner; the API's role rules; bad input.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from api_login import bearer
from current_layout import community_shape
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from cases.accounts.models import ROLES
from cases.accounts.store import create_account
from cases.bulk import assign_file
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.intake import ComplaintIn, submit_complaint
from cases.ledgers import (
    EntryIn,
    MalformedMonth,
    RevisionIn,
    add_entry,
    build_ledger,
    build_ledgers,
    export_ledgers,
    list_entries,
    parse_month,
    revise_entry,
)
from cases.ledgers.vocab import status_label
from cases.stations.duty import CheckIn, ShiftIn, cancel_shift, plan_shifts, record_check
from cases.stations.frontage import FrontageUnitIn, register_frontage
from cases.stations.patrols import PatrolIn, record_patrol
from gis.privacy import mask_name
from gis.settings import Settings
from gridcli.main import app as cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
GEOD = Geod(ellps="WGS84")
STATION = "ST440703002003"
OTHER_STATION = "ST440703001001"
SQUAD, OTHER_SQUAD = "SQ440703002", "SQ440703001"
_STATION = next(
    f
    for f in json.loads((SAMPLE / "stations.geojson").read_text())["features"]
    if f["properties"]["code"] == STATION
)
STATION_NAME = _STATION["properties"]["name"]
COMMUNITY = _STATION["properties"]["community_code"]
ST_LON, ST_LAT = _STATION["geometry"]["coordinates"]
with (SAMPLE / "officers.csv").open(encoding="utf-8") as _f:
    _OFFICERS = list(csv.DictReader(_f))
NAMES = {o["code"]: o["name"] for o in _OFFICERS}
O1, O2 = sorted(o["code"] for o in _OFFICERS if o["station_code"] == STATION)[:2]
PASSWORD = "ledger tests 2018"
MONTH = "2018-03"
PLAIN = ("张三丰", "13812345678", "李四光", "13987654321", "陈七", "13600002222", "王五", "赵六")
"""Personal data sent in: none of it may appear in a ledger or an export."""
_serial = itertools.count(1)


def officer(code: str | None) -> str:
    """How a ledger names an officer: code and masked name."""
    return "" if code is None else f"{code} {mask_name(NAMES[code])}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fmt(value: datetime | None) -> str:
    """A time as the ledgers print it: local, to the minute."""
    if value is None:
        return ""
    return value.astimezone(at("2018-01-01T00:00+08:00").tzinfo).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------ the month


def _points(engine: Engine) -> list[tuple[float, float, str]]:
    """A point inside each grid of the community (its point on surface), by grid code."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS x, "
                "ST_Y(ST_PointOnSurface(g.geom)) AS y FROM grid_cell g "
                "JOIN layout_generation l ON l.id = g.generation_id AND l.is_current "
                "WHERE g.community_code = :c ORDER BY g.code"
            ),
            {"c": COMMUNITY},
        ).all()
    return [(float(r.x), float(r.y), r.code) for r in rows]


def _track(engine: Engine) -> list[list[float]]:
    """A straight east-west track across the community, through its middle."""
    polygon = community_shape(engine, COMMUNITY)
    minx, _, maxx, _ = polygon.bounds
    y = polygon.representative_point().y
    return [[minx - 0.001 + (maxx - minx + 0.002) * i / 10, y] for i in range(11)]


def _submit(
    engine: Engine, settings: Settings, point: Any, subclass: str, when: str, **more: Any
) -> int:
    source = more.pop("source", "api")
    view = submit_complaint(
        engine,
        ComplaintIn(lon=point[0], lat=point[1], subclass=subclass, reported_at=at(when), **more),
        source=source,
        settings=settings,
    )
    assert view.station == STATION and view.status != "merged", view
    return view.id


def _close(engine: Engine, case_id: int, when: str) -> None:
    """Close a case by hand, with its event (as the lifecycle would)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE case_file SET status = 'closed', closed_at = :at, version = version + 1 "
                "WHERE id = :id"
            ),
            {"id": case_id, "at": at(when)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO case_event (case_id, at, kind, actor, data) "
                "VALUES (:id, :at, 'closed', 'ledger-test', '{}')"
            ),
            {"id": case_id, "at": at(when)},
        )


def _shift(engine: Engine, code: str, start: str, end: str) -> int:
    (made,) = plan_shifts(
        engine, [ShiftIn(officer_code=code, station_code=STATION, start=at(start), end=at(end))]
    )
    return made.id


def _check(
    engine: Engine, settings: Settings, shift: int, kind: str, when: str, **where: Any
) -> None:
    point = CheckIn(lon=where.get("lon", ST_LON), lat=where.get("lat", ST_LAT), at=at(when))
    record_check(engine, shift, kind, point, settings=settings)


@pytest.fixture(scope="module")
def month(engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """March 2018 at the station (see the module's docstring); the ids made."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    pts = _points(engine)
    assert len(pts) >= 8
    m: dict[str, Any] = {"pts": pts}
    # Complaints through intake: February (still open at the end of March), March, April.
    m["C"] = _submit(engine, settings, pts[0], "0103", "2018-02-10T10:00+08:00")
    m["A"] = _submit(
        engine,
        settings,
        pts[1],
        "0101",
        "2018-03-05T09:30+08:00",
        description="门口垃圾堆积，联系电话13812345678",
        reporter_name="张三丰",
        reporter_phone="13812345678",
        address="潮连测试路1号",
    )
    m["B"] = _submit(
        engine,
        settings,
        pts[2],
        "0301",
        "2018-03-20T15:00+08:00",
        description="工地夜间施工",
        reporter_name="李四光",
        reporter_phone="13987654321",
        source="open311",
    )
    m["E"] = _submit(engine, settings, pts[3], "0104", "2018-04-02T09:00+08:00")
    # A hotline file: dispatched at its reported time, so due in March.
    lines = ["lon,lat,subclass,reported_at,description,address"]
    lines.append(f"{pts[4][0]},{pts[4][1]},0401,2018-03-06T09:00:00+08:00,路口占道卖水果,")
    lines.append(f"{pts[5][0]},{pts[5][1]},0402,2018-03-08T10:00:00+08:00,店外摆放货架,")
    path = tmp_path_factory.mktemp("ledgers") / "hotline-2018-03.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = assign_file(engine, path, "wgs84", source="hotline", settings=settings)
    assert result.invalid == 0
    with engine.connect() as conn:
        m["H1"], m["H2"] = conn.execute(
            sa.text(
                "SELECT id FROM case_file WHERE source = 'hotline' AND station_code = :s "
                "ORDER BY reported_at"
            ),
            {"s": STATION},
        ).scalars()
    _close(engine, m["H1"], "2018-03-07T10:00+08:00")
    _close(engine, m["B"], "2018-04-03T11:00+08:00")
    # Shifts: one checked in and out, one over midnight checked in far away,
    # one cancelled, one in February.
    m["S1"] = _shift(engine, O1, "2018-03-05T08:30+08:00", "2018-03-05T12:00+08:00")
    _check(engine, settings, m["S1"], "in", "2018-03-05T08:32+08:00")
    _check(engine, settings, m["S1"], "out", "2018-03-05T12:01+08:00")
    m["S2"] = _shift(engine, O2, "2018-03-12T22:00+08:00", "2018-03-13T02:00+08:00")
    far_lon, far_lat, _ = GEOD.fwd(ST_LON, ST_LAT, 90.0, 5000.0)
    _check(engine, settings, m["S2"], "in", "2018-03-12T22:05+08:00", lon=far_lon, lat=far_lat)
    cancelled = _shift(engine, O1, "2018-03-14T08:30+08:00", "2018-03-14T12:00+08:00")
    cancel_shift(engine, cancelled)
    _shift(engine, O2, "2018-02-28T22:00+08:00", "2018-03-01T02:00+08:00")
    # A patrol with a finding and frontage checks.
    register_frontage(
        engine,
        FrontageUnitIn(code="T7FU01", name="潮连测试商店", lon=pts[6][0], lat=pts[6][1]),
        settings=settings,
    )
    patrol = record_patrol(
        engine,
        PatrolIn.model_validate(
            {
                "officer_code": O1,
                "station_code": STATION,
                "started_at": "2018-03-06T14:00:00+08:00",
                "ended_at": "2018-03-06T15:00:00+08:00",
                "geojson": {"type": "LineString", "coordinates": _track(engine)},
                "note": "沿江路段巡查",
                "findings": [
                    {
                        "lon": pts[7][0],
                        "lat": pts[7][1],
                        "subclass": "0105",
                        "description": "夜市油烟扰民",
                    }
                ],
                "frontage_checks": [
                    {"frontage_code": "T7FU01", "item": "sanitation", "passed": True},
                    {
                        "frontage_code": "T7FU01",
                        "item": "order",
                        "passed": False,
                        "note": "占道摆卖",
                    },
                ],
            }
        ),
        settings=settings,
    )
    m["P"] = patrol.id
    m["F"] = patrol.findings[0]["case_id"]
    assert m["F"] is not None
    # Manual entries.
    m["note"] = add_entry(
        engine,
        STATION,
        "work_log",
        EntryIn(
            date=date(2018, 3, 5),
            fields={"time": "16:00", "officer_code": O1, "text": "走访商户；商户电话13700001111"},
        ),
        settings=settings,
    ).id
    problem = {
        "problem": "小区门口占道经营反复出现",
        "place": "潮连大道路口",
        "holder": "社区居委会",
        "officer_code": O2,
        "measures": "每日巡查劝导",
        "due_date": "2018-03-31",
    }
    m["problem"] = add_entry(
        engine,
        STATION,
        "问题清单",
        EntryIn(date=date(2018, 2, 20), fields=problem),
        settings=settings,
    ).id
    revise_entry(
        engine,
        STATION,
        "problem_list",
        m["problem"],
        RevisionIn(version=1, fields={**problem, "due_date": "2018-03-15"}, reason="时限提前"),
        settings=settings,
    )
    add_entry(
        engine,
        STATION,
        "problem_list",
        EntryIn(
            date=date(2018, 3, 2), fields={"problem": "绿化带堆放杂物", "solved_on": "2018-03-25"}
        ),
        settings=settings,
    )
    m["meeting"] = add_entry(
        engine,
        STATION,
        "meeting_minutes",
        EntryIn(
            date=date(2018, 3, 28),
            fields={
                "meeting": "月度例会",
                "time": "15:00",
                "place": "服务站会议室",
                "host": "王五",
                "attendees": ["王五", "赵六"],
                "topics": "本月案件情况",
                "decisions": "加强夜间巡查",
                "follow_ups": "4月复查",
            },
        ),
        settings=settings,
    ).id
    joint = add_entry(
        engine,
        STATION,
        "meeting_minutes",
        EntryIn(date=date(2018, 3, 15), fields={"meeting": "联席会议", "topics": "误录"}),
        settings=settings,
    )
    revise_entry(
        engine,
        STATION,
        "meeting_minutes",
        joint.id,
        RevisionIn(version=1, withdrawn=True, reason="重复录入"),
        settings=settings,
    )
    m["walk_in"] = add_entry(
        engine,
        STATION,
        "petition_register",
        EntryIn(
            date=date(2018, 3, 9),
            fields={
                "time": "10:15",
                "channel": "来访",
                "name": "陈七",
                "phone": "13600002222",
                "content": "反映夜间施工噪音",
                "place": "潮连某小区",
                "replied_on": "2018-03-12",
                "reply": "已协调施工方停止夜间施工",
            },
        ),
        settings=settings,
    ).id
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM case_file WHERE id = ANY(:ids)"),
            {"ids": [m[k] for k in ("A", "B", "C", "E", "H1", "H2", "F")]},
        ).mappings()
        m["cases"] = {r["id"]: dict(r) for r in rows}
        m["patrol"] = conn.execute(
            sa.text(
                "SELECT length_m, coverage, ARRAY(SELECT grid_code FROM patrol_grid "
                "WHERE patrol_id = p.id ORDER BY grid_code) AS grids FROM patrol p WHERE id = :id"
            ),
            {"id": m["P"]},
        ).one()
    return m


def _case(month: Any, key: str) -> dict[str, Any]:
    return month["cases"][month[key]]


def _place(c: dict[str, Any]) -> str:
    return "；".join(p for p in (f"网格 {c['grid_code']}", c["address"]) if p)


# ------------------------------------------------------------------ rows


def test_hand_built_month_is_what_the_ledgers_read(month: Any) -> None:
    """The doors made what the ledgers will show: due times from the hotline file's
    reported times on the working calendar, the grids, the station."""
    h1, h2 = _case(month, "H1"), _case(month, "H2")
    assert fmt(h1["due_at"]) == "2018-03-06 11:00"  # 占道经营: 2 working hours from 09:00
    assert fmt(h2["due_at"]) == "2018-03-08 16:30"  # 店外经营: 4 hours over the lunch break
    grids = {c["grid_code"] for c in month["cases"].values()}
    assert len(grids) == 7 and all(g.startswith(COMMUNITY) for g in grids)


def test_work_log_rows(engine: Engine, month: Any) -> None:
    ledger = build_ledger(engine, STATION, "work_log", parse_month(MONTH))
    assert [c.label for c in ledger.columns] == ["日期", "时间", "类别", "人员", "工作内容", "备注"]
    h1, h2 = _case(month, "H1"), _case(month, "H2")
    p = month["patrol"]
    grids = list(p.grids)
    patrol = (
        f"巡查轨迹 {p.length_m / 1000:.2f} 公里，经过网格 {len(grids)} 个（{'、'.join(grids)}），"
        f"社区覆盖率 {p.coverage * 100:.1f}%，发现问题 1 处，已立案：案件 {month['F']}"
    )
    assert ledger.rows == [
        {
            "date": "2018-03-05",
            "time": "08:30-12:00",
            "item": "值守",
            "officer": officer(O1),
            "content": "值守 3.5 小时；签到 08:32；签退 12:01",
            "remark": "",
            "shift_id": month["S1"],
        },
        {
            "date": "2018-03-05",
            "time": "16:00",
            "item": "记事",
            "officer": officer(O1),
            "content": "走访商户；商户电话137****1111",
            "remark": "",
            "entry_id": month["note"],
        },
        {
            "date": "2018-03-06",
            "time": "09:00",
            "item": "案件",
            "officer": officer(h1["officer_code"]),
            "content": f"派遣：案件 {month['H1']} 占道经营（网格 {h1['grid_code']}）",
            "remark": "",
            "case_id": month["H1"],
        },
        {
            "date": "2018-03-06",
            "time": "14:00-15:00",
            "item": "巡查",
            "officer": officer(O1),
            "content": patrol,
            "remark": "沿江路段巡查",
            "patrol_id": month["P"],
        },
        {
            "date": "2018-03-06",
            "time": "14:00-15:00",
            "item": "门前三包",
            "officer": officer(O1),
            "content": "检查 1 户 2 项，合格 1 项，不合格 1 项："
            "潮连测试商店（T7FU01）门前秩序：占道摆卖",
            "remark": "",
            "patrol_id": month["P"],
        },
        {
            "date": "2018-03-07",
            "time": "10:00",
            "item": "案件",
            "officer": officer(h1["officer_code"]),
            "content": f"结案：案件 {month['H1']} 占道经营（网格 {h1['grid_code']}）",
            "remark": "",
            "case_id": month["H1"],
        },
        {
            "date": "2018-03-08",
            "time": "10:00",
            "item": "案件",
            "officer": officer(h2["officer_code"]),
            "content": f"派遣：案件 {month['H2']} 店外经营（网格 {h2['grid_code']}）",
            "remark": "",
            "case_id": month["H2"],
        },
        {
            "date": "2018-03-12",
            "time": "22:00-次日02:00",
            "item": "值守",
            "officer": officer(O2),
            "content": "值守 4 小时；签到 22:05",
            "remark": "签到距站点 5000 米，超出范围，不计入",
            "shift_id": month["S2"],
        },
    ]


def test_problem_list_rows(engine: Engine, month: Any) -> None:
    ledger = build_ledger(engine, STATION, "problem_list", parse_month(MONTH))
    assert ledger.notes == ["截至 2018-04-01 00:00 尚未办结的问题"]

    def case_row(key: str, problem: str, overdue: str, status: str | None = None) -> dict[str, Any]:
        c = _case(month, key)
        return {
            "origin": "案件",
            "ref": str(c["id"]),
            "problem": problem,
            "place": _place(c),
            "detail": c["description"].replace("13812345678", "138****5678"),
            "holder": officer(c["officer_code"]),
            "found": fmt(c["reported_at"])[:10],
            "due": fmt(c["due_at"]),
            "overdue": overdue,
            "status": status or status_label(c["status"]),
            "case_id": c["id"],
        }

    manual = {
        "origin": "登记",
        "ref": f"登记{month['problem']}",
        "problem": "小区门口占道经营反复出现",
        "place": "潮连大道路口",
        "detail": "每日巡查劝导",
        "holder": f"{officer(O2)}；社区居委会",
        "found": "2018-02-20",
        "due": "2018-03-15",  # the corrected version
        "overdue": "是",
        "status": "未解决",
        "entry_id": month["problem"],
    }
    expected = [
        case_row("C", "乱堆物料", "否"),
        manual,
        case_row("A", "暴露垃圾", "否"),
        case_row("F", "油烟噪音", "否"),
        case_row("H2", "店外经营", "是"),
        case_row("B", "施工扰民", "否", "已于 2018-04-03 结案"),
    ]
    assert ledger.rows == [{"no": i + 1, **r} for i, r in enumerate(expected)]
    # H1 was closed in March, E came in April, the solved problem left the list.
    text = json.dumps(ledger.rows, ensure_ascii=False)
    assert str(month["E"]) not in {r["ref"] for r in ledger.rows} and "绿化带" not in text
    # At the end of February: only C and the manual problem were there, neither overdue.
    february = build_ledger(engine, STATION, "problem_list", parse_month("2018-02"))
    assert [(r["ref"], r["overdue"]) for r in february.rows] == [
        (str(month["C"]), "否"),
        (f"登记{month['problem']}", "否"),
    ]


def test_meeting_minutes_rows_with_the_months_figures(engine: Engine, month: Any) -> None:
    ledger = build_ledger(engine, STATION, "meeting_minutes", parse_month(MONTH))
    # Received in March: A, H1, F, H2, B; closed in March: H1; due in March and
    # missed: H1 (closed after 11:00 the day before) and H2 (still open).
    assert ledger.figures == {"intake": 5, "closed": 1, "overdue": 2}
    assert ledger.rows == [
        {
            "no": 1,
            "date": "2018-03-28",
            "time": "15:00",
            "meeting": "月度例会",
            "place": "服务站会议室",
            "host": "王*",
            "attendees": "王*、赵*",
            "figures": "本月受理 5 件，结案 1 件，超期 2 件",
            "topics": "本月案件情况",
            "decisions": "加强夜间巡查",
            "follow_ups": "4月复查",
            "entry_id": month["meeting"],
        }
    ]
    # A month without a monthly meeting yet: a row for it with the figures filled in.
    february = build_ledger(engine, STATION, "meeting_minutes", parse_month("2018-02"))
    assert february.rows == [
        {
            "no": 1,
            "date": "",
            "time": "",
            "meeting": "月度例会",
            "place": "",
            "host": "",
            "attendees": "",
            "figures": "本月受理 1 件，结案 0 件，超期 0 件",
            "topics": "",
            "decisions": "",
            "follow_ups": "",
            "entry_id": None,
        }
    ]


def test_case_register_rows(engine: Engine, month: Any) -> None:
    ledger = build_ledger(engine, STATION, "case_register", parse_month(MONTH))
    labels = [c.label for c in ledger.columns]
    assert labels == [
        "序号", "案件编号", "受理时间", "来源", "大类", "小类", "网格", "地址", "问题描述",
        "分级", "责任人", "办理时限", "状态", "结案时间",
    ]  # fmt: skip
    rows = [
        ("A", "网络/APP", "市容环境", "暴露垃圾", "小事"),
        ("H1", "热线电话", "街面秩序", "占道经营", "小事"),
        ("F", "巡查发现", "市容环境", "油烟噪音", "中事"),
        ("H2", "热线电话", "街面秩序", "店外经营", "小事"),
        ("B", "Open311平台", "施工管理", "施工扰民", "中事"),
    ]
    expected = []
    for i, (key, source, cls, sub, tier) in enumerate(rows):
        c = _case(month, key)
        expected.append(
            {
                "no": i + 1,
                "case_id": c["id"],
                "received": fmt(c["reported_at"]),
                "source": source,
                "class": cls,
                "subclass": sub,
                "grid": c["grid_code"],
                "address": c["address"],
                "description": c["description"].replace("13812345678", "138****5678"),
                "tier": tier,
                "holder": officer(c["officer_code"]),
                "due": fmt(c["due_at"]),
                "status": status_label(c["status"]),
                "closed": fmt(c["closed_at"]),
            }
        )
    assert ledger.rows == expected
    assert [r["received"] for r in ledger.rows][:2] == ["2018-03-05 09:30", "2018-03-06 09:00"]
    assert (ledger.rows[1]["status"], ledger.rows[1]["closed"]) == ("已结案", "2018-03-07 10:00")


def test_petition_register_rows(engine: Engine, month: Any) -> None:
    ledger = build_ledger(engine, STATION, "petition_register", parse_month(MONTH))
    a, h1, h2, b = (_case(month, k) for k in ("A", "H1", "H2", "B"))
    # Reply limit: 5 working days from receipt, ending at the close of the 5th
    # working day after the day received (no holiday in March 2018).
    assert ledger.rows == [
        {
            "no": 1,
            "ref": str(a["id"]),
            "received": "2018-03-05 09:30",
            "channel": "网络/APP",
            "name": "张*丰",
            "phone": "138****5678",
            "content": "门口垃圾堆积，联系电话138****5678",
            "place": _place(a),
            "reply_due": "2018-03-12 18:00",
            "reply_status": "逾期未答复",
            "replied": "",
            "result": status_label(a["status"]),
            "case_id": a["id"],
        },
        {
            "no": 2,
            "ref": str(h1["id"]),
            "received": "2018-03-06 09:00",
            "channel": "热线电话",
            "name": "",
            "phone": "",
            "content": "路口占道卖水果",
            "place": _place(h1),
            "reply_due": "2018-03-13 18:00",
            "reply_status": "已答复",
            "replied": "2018-03-07 10:00",
            "result": "已结案",
            "case_id": h1["id"],
        },
        {
            "no": 3,
            "ref": str(h2["id"]),
            "received": "2018-03-08 10:00",
            "channel": "热线电话",
            "name": "",
            "phone": "",
            "content": "店外摆放货架",
            "place": _place(h2),
            "reply_due": "2018-03-15 18:00",
            "reply_status": "逾期未答复",
            "replied": "",
            "result": status_label(h2["status"]),
            "case_id": h2["id"],
        },
        {
            "no": 4,
            "ref": f"登记{month['walk_in']}",
            "received": "2018-03-09 10:15",
            "channel": "来访",
            "name": "陈*",
            "phone": "136****2222",
            "content": "反映夜间施工噪音",
            "place": "潮连某小区",
            "reply_due": "2018-03-16 18:00",
            "reply_status": "已答复",
            "replied": "2018-03-12",
            "result": "已协调施工方停止夜间施工",
            "entry_id": month["walk_in"],
        },
        {
            "no": 5,
            "ref": str(b["id"]),
            "received": "2018-03-20 15:00",
            "channel": "Open311平台",
            "name": "李*光",
            "phone": "139****4321",
            "content": "工地夜间施工",
            "place": _place(b),
            "reply_due": "2018-03-27 18:00",
            "reply_status": "已答复（超时）",
            "replied": "2018-04-03 11:00",
            "result": "已结案",
            "case_id": b["id"],
        },
    ]
    # The patrol's finding is the bureau's own, not a resident's request.
    assert str(month["F"]) not in {r["ref"] for r in ledger.rows}


def test_all_five_from_one_snapshot_and_nothing_plain(engine: Engine, month: Any) -> None:
    ledgers = build_ledgers(engine, STATION, parse_month(MONTH))
    assert [lg.title for lg in ledgers] == [
        "工作日志", "问题清单", "会议记录本", "案件登记本", "信访诉求工作登记本",
    ]  # fmt: skip
    text = json.dumps([lg.as_dict() for lg in ledgers], ensure_ascii=False)
    for plain in PLAIN:
        assert plain not in text
    assert all(lg.heading == f"{STATION_NAME}{lg.title}（2018年3月）" for lg in ledgers)


# ------------------------------------------------------------------ manual entries


def test_entries_are_checked_versioned_and_never_overwritten(
    engine: Engine, settings: Settings, month: Any
) -> None:
    march = parse_month(MONTH)
    history = list_entries(engine, STATION, "problem_list", parse_month("2018-02"), history=True)
    mine = [e for e in history if e.id == month["problem"]]
    assert [(e.version, e.fields["due_date"], e.reason) for e in mine] == [
        (1, "2018-03-31", ""),
        (2, "2018-03-15", "时限提前"),
    ]
    with pytest.raises(Conflict) as stale:
        revise_entry(
            engine,
            STATION,
            "problem_list",
            month["problem"],
            RevisionIn(version=1, fields={"problem": "x"}, reason="stale"),
        )
    assert stale.value.field == "version" and "version 2" in stale.value.message
    withdrawn = list_entries(engine, STATION, "meeting_minutes", march)
    assert [(e.fields["meeting"], e.withdrawn) for e in withdrawn] == [
        ("联席会议", True),
        ("月度例会", False),
    ]
    # The application's role may not change or remove entries (no grant; the
    # table's trigger refuses them for every other role as well).
    with engine.connect() as conn:
        for statement in (
            "UPDATE ledger_entry SET fields = '{}' WHERE entry_id = :id",
            "DELETE FROM ledger_entry WHERE entry_id = :id",
        ):
            with (
                pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
                conn.begin(),
            ):
                conn.execute(sa.text(statement), {"id": month["problem"]})
    # Names and phones are encrypted at rest, never in the JSON fields.
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT fields::text AS f, personal_enc FROM ledger_entry WHERE id = :id"),
            {"id": month["walk_in"]},
        ).one()
    assert "陈七" not in row.f and "13600002222" not in row.f
    assert b"13600002222" not in bytes(row.personal_enc)
    bad = [
        ("case_register", {"text": "x"}, "kind"),
        ("work_log", {"text": ""}, "fields.text"),
        ("work_log", {"text": "x", "mood": "good"}, "fields.mood"),
        ("work_log", {"text": "x", "time": "25:00"}, "fields.time"),
        ("petition_register", {"content": "x", "phone": "call me"}, "fields.phone"),
        ("petition_register", {"content": "x", "subclass": "9999"}, "fields.subclass"),
        ("meeting_minutes", {"meeting": "茶话会"}, "fields.meeting"),
        ("work_log", {"text": "a\x00b"}, "fields"),
        ("nonsense", {"text": "x"}, "kind"),
    ]
    for kind, fields, field in bad:
        with pytest.raises(InvalidInput) as caught:
            add_entry(engine, STATION, kind, EntryIn(date=date(2018, 3, 1), fields=fields))
        assert caught.value.field == field, (kind, fields, caught.value.message)
    with pytest.raises(NotFound):
        add_entry(engine, "NOPE", "work_log", EntryIn(date=date(2018, 3, 1), fields={"text": "x"}))
    for day in ("1999-12-31", "2999-01-01"):
        with pytest.raises(ValueError, match="date"):
            EntryIn.model_validate({"date": day, "fields": {"text": "x"}})
    with pytest.raises(NotFound):
        revise_entry(
            engine,
            STATION,
            "work_log",
            month["problem"],
            RevisionIn(version=2, reason="wrong book"),
        )


def test_months(engine: Engine) -> None:
    march = parse_month("2018-03")
    assert (march.start.isoformat(), march.end.isoformat()) == (
        "2018-03-01T00:00:00+08:00",
        "2018-04-01T00:00:00+08:00",
    )
    assert parse_month("2018-12").end.isoformat() == "2019-01-01T00:00:00+08:00"
    for text in ("2018-3", "2018-13", "2018-00", "18-03", "2018/03", "", "x" * 100):
        with pytest.raises(MalformedMonth) as caught:
            parse_month(text)
        assert caught.value.field == "month"
    with pytest.raises(InvalidInput, match="2000"):
        parse_month("1999-12")
    with pytest.raises(InvalidInput, match="not started") as future:
        parse_month("2019-04", now=at("2019-03-31T23:59+08:00"))
    assert not isinstance(future.value, MalformedMonth)
    assert parse_month("2019-04", now=at("2019-04-01T00:00+08:00")).label == "2019-04"
    with pytest.raises(NotFound):
        build_ledger(engine, "NOPE", "work_log", march)


# ------------------------------------------------------------------ .xlsx


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_text(ws: Any) -> str:
    return "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)


def _check_workbook(path_or_bytes: Any, ledger: Any) -> None:
    """A ledger's .xlsx, read back: what a clerk printing it would check."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    book = openpyxl.load_workbook(source)
    assert book.sheetnames == [ledger.title]
    ws = book[ledger.title]
    assert ws["A1"].value == f"{STATION_NAME}{ledger.title}（2018年3月）"
    assert "A1" in {str(r).split(":")[0] for r in ws.merged_cells.ranges}
    assert f"服务站：{STATION_NAME}（{STATION}）" in ws["A2"].value
    assert [ws.cell(3, i + 1).value for i in range(len(ledger.columns))] == [
        c.label for c in ledger.columns
    ]
    got = [
        [ws.cell(4 + r, i + 1).value for i in range(len(ledger.columns))]
        for r in range(len(ledger.rows))
    ]
    want = [
        [row[c.key] if row[c.key] != "" else None for c in ledger.columns] for row in ledger.rows
    ]
    assert got == want
    # Printing: A4, fit to one page wide, header rows on every page, page numbers.
    assert int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    # One page wide (1 is the format's default, left out of the file), any number long.
    assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$1:$3"
    assert ws.oddFooter.center.text == "第 &P 页 / 共 &N 页"
    assert ws.freeze_panes == "A4"
    widths = [
        ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width
        for i in range(len(ledger.columns))
    ]
    if sum(widths) > 95:
        assert ws.page_setup.orientation == "landscape"
    # Every cell is readable: as wide as its longest line, or wrapped (and the row tall enough).
    for r in range(3, 4 + len(ledger.rows)):
        for i, width in enumerate(widths):
            cell = ws.cell(r, i + 1)
            text = "" if cell.value is None else str(cell.value)
            longest = max((display_width(line) for line in text.split("\n")), default=0)
            if longest + 1 > width:
                assert cell.alignment.wrap_text, (ledger.title, r, i, text)
                lines = -(-longest // int(width - 2))
                assert ws.row_dimensions[r].height >= 15 * lines
    text = _sheet_text(ws)
    for plain in PLAIN:
        assert plain not in text


def test_xlsx_of_every_ledger(engine: Engine, month: Any, tmp_path: Path) -> None:
    paths = export_ledgers(engine, STATION, parse_month(MONTH), tmp_path / "out")
    ledgers = build_ledgers(engine, STATION, parse_month(MONTH))
    assert [p.name for p in paths] == [
        f"{STATION}_2018-03_1_工作日志.xlsx",
        f"{STATION}_2018-03_2_问题清单.xlsx",
        f"{STATION}_2018-03_3_会议记录本.xlsx",
        f"{STATION}_2018-03_4_案件登记本.xlsx",
        f"{STATION}_2018-03_5_信访诉求工作登记本.xlsx",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    for path, ledger in zip(paths, ledgers, strict=True):
        _check_workbook(path, ledger)
    # Chinese columns are sized by display width (a CJK character counts 2),
    # where XlsxWriter's autofit would count 1: the problem column holds 12 characters.
    book = openpyxl.load_workbook(paths[1])
    ws = book["问题清单"]
    problem = [c.label for c in ledgers[1].columns].index("问题") + 1
    assert ws.column_dimensions[openpyxl.utils.get_column_letter(problem)].width >= display_width(
        "小区门口占道经营反复出现"
    )
    # The petition register prints masked names and phones only.
    petitions = _sheet_text(openpyxl.load_workbook(paths[4])["信访诉求工作登记本"])
    assert "张*丰" in petitions and "138****5678" in petitions and "136****2222" in petitions
    # An empty month prints its headers and says so.
    empty = export_ledgers(engine, STATION, parse_month("2017-06"), tmp_path / "empty")
    ws = openpyxl.load_workbook(empty[3])["案件登记本"]
    assert ws.cell(3, 2).value == "案件编号" and ws.cell(4, 1).value == "本月无记录"


# ------------------------------------------------------------------ CLI


def test_cli_export_prints_the_five_paths(month: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        cli, ["ledger", "export", "--station", STATION, "--month", MONTH, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    assert len(printed) == 5 and all(Path(p).parent == out and Path(p).is_file() for p in printed)
    assert Path(printed[3]).name == f"{STATION}_2018-03_4_案件登记本.xlsx"
    openpyxl.load_workbook(printed[4])


@pytest.mark.parametrize(
    ("station", "month_text", "code", "message"),
    [
        ("NOPE", MONTH, 1, "no station 'NOPE'"),
        (STATION, "2018-13", 2, "is not a month"),
        (STATION, "March", 2, "is not a month"),
        (STATION, "2999-01", 1, "has not started yet"),
        (STATION, "1999-12", 1, "before 2000"),
    ],
)
def test_cli_export_bad_input_writes_nothing(
    month: Any, tmp_path: Path, station: str, month_text: str, code: int, message: str
) -> None:
    out = tmp_path / "bad"
    result = CliRunner().invoke(
        cli, ["ledger", "export", "--station", station, "--month", month_text, "--out", str(out)]
    )
    assert result.exit_code == code, result.output
    assert message in result.output
    assert not out.exists() or not any(out.iterdir())


def test_cli_export_to_a_file_is_a_usage_error(month: Any, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = CliRunner().invoke(
        cli, ["ledger", "export", "--station", STATION, "--month", MONTH, "--out", str(target)]
    )
    assert result.exit_code == 2 and "not a directory" in result.output
    assert target.read_text() == "x"


def test_cli_add_show_revise(engine: Engine, month: Any) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["ledger", "add", "--station", STATION, "--kind", "工作日志", "--date", "2018-03-20",
         "--set", "text=清理小广告", "--set", f"officer_code={O2}"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    entry = json.loads(added.stdout)
    assert (entry["version"], entry["kind"], entry["fields"]["text"]) == (
        1,
        "work_log",
        "清理小广告",
    )
    shown = runner.invoke(
        cli, ["ledger", "show", "--station", STATION, "--kind", "work_log", "--month", MONTH]
    )
    assert shown.exit_code == 0
    rows = json.loads(shown.stdout)["rows"]
    assert {"date": "2018-03-20", "item": "记事", "content": "清理小广告"}.items() <= next(
        r for r in rows if r.get("entry_id") == entry["id"]
    ).items()
    base = ["ledger", "revise", str(entry["id"]), "--station", STATION, "--kind", "work_log"]
    fixed = runner.invoke(
        cli, [*base, "--version", "1", "--reason", "补充", "--set", "text=清理小广告12处"]
    )
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["version"] == 2
    stale = runner.invoke(cli, [*base, "--version", "1", "--reason", "again", "--withdraw"])
    assert stale.exit_code == 1 and "version 2" in stale.output
    for args, code in (
        (["--set", "novalue"], 2),
        (["--fields", "[1]"], 2),
        (["--fields", "{"], 2),
        (["--set", "mood=good"], 1),
    ):
        bad = runner.invoke(
            cli,
            [
                "ledger",
                "add",
                "--station",
                STATION,
                "--kind",
                "work_log",
                "--date",
                "2018-03-20",
                *args,
            ],
        )
        assert bad.exit_code == code, (args, bad.output)
    late = runner.invoke(
        cli,
        ["ledger", "add", "--station", STATION, "--kind", "work_log", "--date", "2999-01-01",
         "--set", "text=x"],
    )  # fmt: skip
    assert late.exit_code == 1 and "after today" in late.output


# ------------------------------------------------------------------ API


@pytest.fixture(scope="module")
def client(settings: Settings, month: Any) -> Iterator[TestClient]:
    """The application as `grid serve` builds it (the ledger routes are mounted there)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


V1 = f"/api/v1/ledgers/{STATION}"


def _routes(kind: str = "petition_register") -> dict[str, tuple[str, str]]:
    return {
        "json": ("GET", f"{V1}/{kind}?month={MONTH}"),
        "xlsx": ("GET", f"{V1}/{kind}.xlsx?month={MONTH}"),
        "entries": ("GET", f"{V1}/{kind}/entries?month={MONTH}"),
        "add": ("POST", f"{V1}/work_log/entries"),
        "revise": ("POST", f"{V1}/work_log/entries/1/revisions"),
    }


NOTE = {"date": "2018-03-21", "fields": {"text": "API 记事"}}


def test_api_role_rules(client: TestClient, engine: Engine, month: Any) -> None:
    """Each route: 401 without a login, 403 for a role or place it does not allow,
    and through for the ones it does."""
    for method, url in _routes().values():
        answer = client.request(method, url, json=NOTE if method == "POST" else None)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    readers = {
        "own officer": bearer(client, engine, "officer", station_code=STATION, officer_code=O1),
        "squad leader": bearer(client, engine, "squad_leader", squad_code=SQUAD),
        "deputy leader": bearer(client, engine, "deputy_leader"),
        "chief": bearer(client, engine, "chief"),
        "dispatcher": bearer(client, engine, "dispatcher"),
        "admin": bearer(client, engine, "admin"),
        "analyst": bearer(client, engine, "analyst"),
    }
    outsiders = {
        "other officer": bearer(client, engine, "officer", station_code=OTHER_STATION),
        "other squad leader": bearer(client, engine, "squad_leader", squad_code=OTHER_SQUAD),
    }
    if "department_staff" in ROLES:  # a department's staff (党建+N) keeps no station ledger
        outsiders["department staff"] = bearer(
            client, engine, "department_staff", department_code="D02"
        )
    routes = _routes()
    for who, headers in readers.items():
        for name in ("json", "xlsx", "entries"):
            method, url = routes[name]
            assert client.request(method, url, headers=headers).status_code == 200, (who, name)
    for who, headers in outsiders.items():
        for name in ("json", "xlsx", "entries", "add"):
            method, url = routes[name]
            answer = client.request(method, url, headers=headers, json=NOTE)
            assert answer.status_code == 403, (who, name, answer.text)
            assert answer.json()["detail"][0]["code"] == "forbidden"
    writers = ("own officer", "squad leader", "dispatcher", "admin")
    for who, headers in readers.items():
        answer = client.post(routes["add"][1], headers=headers, json=NOTE)
        assert answer.status_code == (201 if who in writers else 403), (who, answer.text)
        if who in writers:
            entry = answer.json()
            revised = client.post(
                f"{V1}/work_log/entries/{entry['id']}/revisions",
                headers=headers,
                json={"version": 1, "withdrawn": True, "reason": f"{who} 测试"},
            )
            assert revised.status_code == 201 and revised.json()["withdrawn"] is True
    entry = client.post(routes["add"][1], headers=readers["admin"], json=NOTE).json()
    for who in ("deputy leader", "chief", "analyst"):
        answer = client.post(
            f"{V1}/work_log/entries/{entry['id']}/revisions",
            headers=readers[who],
            json={"version": 1, "reason": "x"},
        )
        assert answer.status_code == 403, who
    answer = client.post(
        f"{V1}/work_log/entries/{entry['id']}/revisions",
        headers=outsiders["other officer"],
        json={"version": 1, "reason": "x"},
    )
    assert answer.status_code == 403


def test_api_answers(client: TestClient, engine: Engine, month: Any) -> None:
    leader = bearer(client, engine, "squad_leader", squad_code=SQUAD)
    body = client.get(f"{V1}/petition_register?month={MONTH}", headers=leader).json()
    assert body["title"] == "信访诉求工作登记本" and body["month"] == MONTH
    assert [r["name"] for r in body["rows"]] == ["张*丰", "", "", "陈*", "李*光"]
    analyst = client.get(
        f"{V1}/petition_register?month={MONTH}", headers=bearer(client, engine, "analyst")
    ).json()
    assert {r["name"] for r in analyst["rows"]} == {""} and {
        r["phone"] for r in analyst["rows"]
    } == {""}
    log = client.get(f"{V1}/work_log?month={MONTH}", headers=bearer(client, engine, "analyst"))
    assert officer(O1) not in log.text and O1 in log.text  # codes, not names, for analysts
    download = client.get(f"{V1}/case_register.xlsx?month={MONTH}", headers=leader)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = download.headers["content-disposition"]
    assert f'filename="{STATION}_2018-03_4_case_register.xlsx"' in disposition
    assert "filename*=UTF-8''" in disposition
    ledger = build_ledger(engine, STATION, "case_register", parse_month(MONTH))
    _check_workbook(download.content, ledger)
    entries = client.get(f"{V1}/petition_register/entries?month={MONTH}", headers=leader).json()
    assert [(e["fields"]["name"], e["fields"]["phone"]) for e in entries] == [
        ("陈*", "136****2222")
    ]


def test_api_bad_input(client: TestClient, engine: Engine, month: Any) -> None:
    admin = bearer(client, engine, "admin")
    for url, field, word in (
        (f"{V1}/work_log?month=2018-13", "month", "not a month"),
        (f"{V1}/work_log.xlsx?month=2999-01", "month", "not started"),
        (f"{V1}/work_log/entries?month=x", "month", "not a month"),
        (f"{V1}/nonsense?month={MONTH}", "kind", ""),
        (f"{V1}/work_log", "month", ""),
    ):
        answer = client.get(url, headers=admin)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"][0]["field"] == field and word in answer.text
    assert (
        client.get(f"/api/v1/ledgers/NOPE/work_log?month={MONTH}", headers=admin).status_code == 404
    )
    assert (
        client.get(f"/api/v1/ledgers/%00/work_log?month={MONTH}", headers=admin).status_code == 404
    )
    add = f"{V1}/case_register/entries"
    refused = client.post(add, headers=admin, json=NOTE)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "kind"
    for payload, field in (
        ({"date": "2018-03-21", "fields": {"text": ""}}, "fields.text"),
        ({"date": "2018-03-21"}, "fields"),
        ({"date": "2999-01-01", "fields": {"text": "x"}}, "date"),
        ({"date": "2018-03-21", "fields": {"text": "x"}, "extra": 1}, "extra"),
    ):
        answer = client.post(f"{V1}/work_log/entries", headers=admin, json=payload)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["field"] == field, answer.text
    assert client.post(f"{V1}/work_log/entries", headers=admin, content=b"{}").status_code == 415
    not_object = client.post(
        f"{V1}/work_log/entries",
        headers={**admin, "Content-Type": "application/json"},
        content=b"[]",
    )
    assert not_object.status_code == 422 and not_object.json()["detail"][0]["field"] == "body"
    made = client.post(f"{V1}/work_log/entries", headers=admin, json=NOTE).json()
    url = f"{V1}/work_log/entries/{made['id']}/revisions"
    first = client.post(
        url, headers=admin, json={"version": 1, "reason": "ok", "fields": {"text": "改"}}
    )
    assert first.status_code == 201 and first.json()["version"] == 2
    stale = client.post(url, headers=admin, json={"version": 1, "reason": "late"})
    assert stale.status_code == 409 and stale.json()["detail"][0]["field"] == "version"
    wrong_book = client.post(
        f"{V1}/problem_list/entries/{made['id']}/revisions",
        headers=admin,
        json={"version": 2, "reason": "x"},
    )
    assert wrong_book.status_code == 404
    assert (
        client.post(f"{V1}/work_log/entries/0/revisions", headers=admin, json={}).status_code == 422
    )


def test_scope_is_checked_in_the_functions(engine: Engine, month: Any) -> None:
    """The rule lives below the API: a principal out of scope is Forbidden there too."""
    from cases.access import load_principal

    info = create_account(
        engine, f"ledger-fn-{next(_serial)}", "officer", PASSWORD, station_code=OTHER_STATION
    )
    principal = load_principal(engine, info.id, "officer")
    with pytest.raises(Forbidden):
        build_ledger(engine, STATION, "work_log", parse_month(MONTH), principal=principal)
    with pytest.raises(Forbidden):
        add_entry(
            engine, STATION, "work_log", EntryIn(date=date(2018, 3, 1), fields={"text": "x"}),
            principal=principal,
        )  # fmt: skip
