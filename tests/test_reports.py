"""The monthly meeting report against the hand-built May 2016 (tests/indicators_data.py).

Its figures for station S: the headline beside April and May 2015, classes
month-on-month and year-on-year, recurring problems, the rising subclass,
the overdue and escalated cases; the .xlsx reopened with openpyxl (sheets,
values, page set-up, CJK widths); the HTML escaped (the markup in F's
description stays text, its phone masked); the CLI through CliRunner (paths
printed, a month in the future or still running refused, bad input); the
API's role rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from api_login import token_header
from fastapi.testclient import TestClient
from indicators_data import PASSWORD, S2, SQUAD, Month, S, plant
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from cases.errors import Forbidden, InvalidInput
from cases.reports import MonthlyReport, build_monthly_report, parse_report_month, save_report
from gis.settings import Settings
from gridcli.main import app as cli


@pytest.fixture(scope="module")
def month(engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Month:
    """May 2016, planted once (shared with tests/test_indicators.py)."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    return plant(engine, settings, tmp_path_factory.mktemp("ind2016"))


@pytest.fixture(scope="module")
def report(engine: Engine, settings: Settings, month: Month) -> MonthlyReport:
    """Station S's report of May 2016, as the command line makes it."""
    return build_monthly_report(engine, "2016-05", station=S, settings=settings)


@pytest.fixture(scope="module")
def files(report: MonthlyReport, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The report written out."""
    return save_report(report, tmp_path_factory.mktemp("report"))


# ------------------------------------------------------------------- figures


def test_headline_beside_last_month_and_last_year(report: MonthlyReport) -> None:
    """May: 8 received, 75 % closed; April: 2 received, 1 due, none closed; May 2015:
    2 received, both closed on time."""
    rows = {key: (this, prev, ago) for key, _, _, this, prev, ago in report.headline}
    assert rows["received"] == (8, 2, 2)
    assert rows["due"] == (8, 1, 2)
    assert rows["closure_rate"] == (75.0, 0.0, 100.0)
    assert rows["on_time_closure_rate"] == (37.5, 0.0, 100.0)
    assert rows["rework_rate"][0] == 12.5 and rows["escalated"][0] == 3
    assert report.title.endswith("服务站城管进社区月度例会报告（2016年5月）")


def test_units_are_the_stations_posts(report: MonthlyReport) -> None:
    """A station's report shows its officers (posts); together they hold its cases."""
    assert report.unit_label == "岗位（队员）"
    assert sum(int(u.values["received"] or 0) for u in report.units) == 8
    assert all(u.code.startswith("OF") for u in report.units)


def test_classes_month_on_month_and_year_on_year(report: MonthlyReport) -> None:
    """By class: 市容环境 2 / 0 / 2, 宣传广告 1 / 1 / 0, 街面秩序 5 / 1 / 0;
    by subclass 占道经营 2 / 1 / 0, 店外经营 3 / 0 / 0, 乱堆物料 1 / 0 / 2 …"""
    classes = {c.code: (c.this, c.previous, c.year_ago) for c in report.classes}
    assert classes == {"01": (2, 0, 2), "02": (1, 1, 0), "04": (5, 1, 0)}
    subs = {c.code: (c.this, c.previous, c.year_ago) for c in report.subclasses}
    assert subs == {
        "0402": (3, 0, 0),
        "0401": (2, 1, 0),
        "0103": (1, 0, 2),
        "0101": (1, 0, 0),
        "0201": (1, 1, 0),
    }
    street = next(c for c in report.classes if c.code == "04")
    assert (street.mom, street.yoy, street.pct(street.mom, street.previous)) == (4, 5, 400.0)


def test_recurring_problems_and_rising(report: MonthlyReport, month: Month) -> None:
    """占道经营 in G1 came in 4 of the last 6 months (Jan, Mar, Apr, May); 店外经营 came
    3 times in G2 this month. 店外经营 rose fastest (3 against none before)."""
    found = [
        (p.grid_code, p.subclass_code, p.months, p.total, p.this_month) for p in report.recurring
    ]
    assert found == [
        (month.grids["G1"], "0401", 4, 4, 1),
        (month.grids["G2"], "0402", 1, 3, 3),
    ]
    assert report.recurring[0].subclass_name == "占道经营"
    assert [(r.code, r.this, r.before_mean, r.rise) for r in report.rising] == [
        ("0402", 3, 0.0, 3.0)
    ]


def test_overdue_and_escalated_cases(report: MonthlyReport, month: Month) -> None:
    """B, C, F, J, L were due in May and not closed by their deadlines (L and C
    escalated, L twice); N was due in April and is still open."""
    by_id = {c["id"]: c for c in report.overdue}
    keys = {k for k, i in month.ids.items() if i in by_id}
    assert keys == set("BCFJLN") and report.overdue_total == 6
    kind = {k: by_id[month.ids[k]]["kind"] for k in keys}
    assert kind["N"] == "往月到期，月末仍未结案"
    assert {kind[k] for k in "BCFJL"} == {"本月到期，未按期结案"}
    assert by_id[month.ids["L"]]["escalations"] == 2
    assert by_id[month.ids["C"]]["escalations"] == 1
    f = by_id[month.ids["F"]]
    assert "13812345678" not in f["description"] and "138****5678" in f["description"]
    assert f["closed_at"] is None


def test_duty_weeks_of_the_month(report: MonthlyReport) -> None:
    """The ISO weeks whose Thursday is in May 2016, with the station's table."""
    assert [w.week for w in report.compliance.weeks] == [
        "2016-W18",
        "2016-W19",
        "2016-W20",
        "2016-W21",
    ]
    for w in report.compliance.weeks:
        assert [g.station_code for g in w.groups] == [S]
        assert w.groups[0].officers >= 2 and w.groups[0].met == 0  # nobody on duty in 2016


def test_district_and_squad_reports(engine: Engine, settings: Settings, month: Month) -> None:
    """The district counts every case the bureau took in (I, referred out, too), per
    squad; a squad's report lists its stations."""
    district = build_monthly_report(engine, "2016-05", settings=settings)
    assert district.values["received"] == 11 and district.unit_label == "中队"
    squad = build_monthly_report(engine, "2016-05", squad=SQUAD, settings=settings)
    stations = {u.code: u.values for u in squad.units}
    assert stations[S]["received"] == 8 and squad.kind == "squad"


def test_refusals(engine: Engine, settings: Settings, month: Month) -> None:
    """A month not over, an unknown station or squad, both at once; and roles."""
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="has not ended") as err:
        parse_report_month("2026-11", now)
    assert err.value.field == "month"
    with pytest.raises(InvalidInput, match="has not started"):
        parse_report_month("2027-01", now)
    assert parse_report_month("2026-10", now).label == "2026-10"
    for kwargs, field in (
        ({"station": "ST999"}, "station"),
        ({"squad": "SQ999"}, "squad"),
        ({"station": S, "squad": SQUAD}, "station"),
    ):
        with pytest.raises(InvalidInput) as bad:
            build_monthly_report(engine, "2016-05", settings=settings, **kwargs)  # type: ignore[arg-type]
        assert bad.value.field == field
    with pytest.raises(Forbidden):
        build_monthly_report(
            engine, "2016-05", station=S2, principal=month.principals["officer"], settings=settings
        )


# ---------------------------------------------------------------------- HTML


def test_html_is_escaped_print_ready_and_offline(files: tuple[Path, Path]) -> None:
    """The injected <script> stays text; the page is zh-CN and A4; the map is an
    offline page inside the report (no address outside it is fetched)."""
    html = files[0].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "size: A4" in html
    assert "<script" not in html.lower()  # none of ours: the map's are inside srcdoc, escaped
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "13812345678" not in html and "138****5678" in html
    assert "一、本月受理与考核指标" in html and "倾向性问题" in html and "值守合规" in html
    if 'srcdoc="' in html:
        doc = html.split('srcdoc="', 1)[1].split('"', 1)[0]
        assert "&lt;script" in doc and "leaflet" in doc.lower()
        assert not re.search(r"(src|href)=&quot;https?://", doc)


# ---------------------------------------------------------------------- xlsx


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def test_xlsx_reopened(files: tuple[Path, Path], report: MonthlyReport) -> None:
    """Sheets, values as numbers, headers repeated, A4 fit to width, page numbers,
    Chinese columns sized by display width."""
    book = openpyxl.load_workbook(files[1])
    assert book.sheetnames == [
        "指标",
        "各岗位（队员）",
        "问题分类",
        "倾向性问题",
        "上升最快",
        "超期与升级",
        "值守合规",
        "热点网格",
    ]
    sheet = book["指标"]
    assert sheet["A1"].value == f"{report.title}·指标"
    assert [c.value for c in sheet[3]][:3] == ["指标", "单位", "本月"]
    rows = {r[7]: r for r in sheet.iter_rows(min_row=4, values_only=True)}
    assert rows["received"][:7] == ("受理数", "件", 8, 2, 6, 2, 6)
    assert rows["closure_rate"][2] == 75.0 and rows["closure_rate"][5] == 100.0
    for ws in book.worksheets:
        assert int(ws.page_setup.paperSize) == 9
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        # one page wide (1 is the file's default, left out), as many long as needed
        assert (ws.page_setup.fitToWidth or 1, int(ws.page_setup.fitToHeight)) == (1, 0)
        assert ws.print_title_rows == "$1:$3"
        assert ws.oddFooter.center.text == "第 &P 页 / 共 &N 页"
    cases = book["超期与升级"]
    header = [c.value for c in cases[3]]
    description = header.index("描述") + 1
    texts = [cases.cell(row=r, column=description).value for r in range(4, cases.max_row + 1)]
    assert any("&lt;" not in t and "<script>" in t for t in texts if t)  # text, as written
    assert all("13812345678" not in (t or "") for t in texts)
    letter = openpyxl.utils.get_column_letter(header.index("情形") + 1)
    longest = max(_width(c["kind"]) for c in report.overdue)
    assert cases.column_dimensions[letter].width >= longest
    recurring = book["倾向性问题"]
    assert [c.value for c in recurring[4]][2:5] == ["0401", "占道经营", 4]


# ----------------------------------------------------------------------- CLI


def test_cli_writes_both_and_prints_their_paths(month: Month, tmp_path: Path) -> None:
    """`grid report monthly --month 2016-05 --station S --out DIR`: two paths, html first."""
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli, ["report", "monthly", "--month", "2016-05", "--station", S, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert [p.suffix for p in paths] == [".html", ".xlsx"]
    assert all(p.is_file() and p.parent == out for p in paths)
    assert openpyxl.load_workbook(paths[1])["指标"]["C4"].value == 8


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--month", "2999-01"], 1, "has not started"),
        (["--month", datetime.now(UTC).strftime("%Y-%m")], 1, "has not ended"),
        (["--month", "2016-13"], 2, "is not a month"),
        (["--month", "2016-05", "--station", "ST999"], 1, "no station"),
        (["--month", "2016-05", "--squad", "SQ999"], 1, "no squad"),
        (["--month", "2016-05", "--station", S, "--squad", SQUAD], 2, "not both"),
    ],
)
def test_cli_refuses_clearly(tmp_path: Path, args: list[str], code: int, words: str) -> None:
    """A clear message and exit code, nothing written."""
    out = tmp_path / "none"
    result = CliRunner().invoke(cli, ["report", "monthly", *args, "--out", str(out)])
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not out.exists()


# ----------------------------------------------------------------------- API


@pytest.fixture(scope="module")
def client(settings: Settings, month: Month) -> Iterator[TestClient]:
    """The app on the test database."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("who", "query", "status"),
    [
        ("officer", {"station": S}, 200),
        ("officer", {"station": S2}, 403),
        ("officer", {}, 403),
        ("squad_leader", {"station": S}, 200),
        ("squad_leader", {"squad": SQUAD}, 200),
        ("squad_leader", {}, 403),
        ("analyst", {}, 200),
        ("department_staff", {"station": S}, 403),
        ("analyst", {"station": "ST999"}, 422),
    ],
)
def test_api_roles(
    client: TestClient, month: Month, who: str, query: dict[str, str], status: int
) -> None:
    """Who reads which report (module docs of api/routes/reports.py)."""
    resp = client.get(
        "/api/v1/reports/monthly",
        params={"month": "2016-05", **query},
        headers=token_header(client, month.usernames[who], PASSWORD),
    )
    assert resp.status_code == status, resp.text[:300]
    if status == 200:
        assert resp.headers["content-type"].startswith("text/html")
        assert "月度例会报告" in resp.text
        assert ("反映人" in resp.text) == (who != "analyst")


def test_api_refuses(client: TestClient, month: Month) -> None:
    """401 without a token; a future month is 422 naming `month`."""
    assert client.get("/api/v1/reports/monthly", params={"month": "2016-05"}).status_code == 401
    resp = client.get(
        "/api/v1/reports/monthly",
        params={"month": "2999-01"},
        headers=token_header(client, month.usernames["analyst"], PASSWORD),
    )
    assert resp.status_code == 422 and resp.json()["detail"][0]["field"] == "month"


# ------------------------------------------------------------------ browser


@pytest.mark.slow
def test_the_map_works_offline_in_a_browser(files: tuple[Path, Path], month: Month) -> None:
    """Opened in Chromium with the network cut off: no error, nothing fetched from
    outside, the injected script never runs, and the map inside the report shows the
    station's grids (fitted to them, not the whole province)."""
    from playwright.sync_api import Route, sync_playwright

    fetched: list[str] = []

    def refuse(route: Route) -> None:
        fetched.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(re.compile(r"^(https?|wss?)://"), refuse)
            page.goto(files[0].as_uri())
            page.wait_for_timeout(1500)
            assert page.evaluate("() => window.__pwned") is None
            frames = [f for f in page.frames if f != page.main_frame]
            assert len(frames) == 1  # the month has cases: its hot-spot map is drawn
            zoom, width = frames[0].evaluate(
                "() => { const k = Object.keys(window).find(n => n.startsWith('map_'));"
                " const m = window[k]; return [m.getZoom(), m.getSize().x]; }"
            )
            assert width > 500 and zoom >= 13  # a community's grids, not the province
        finally:
            browser.close()
    assert errors == [] and fetched == []
