"""Indicators on PostGIS against a small hand-built month (May 2016, tests/indicators_data.py).

Each case's part in each figure is worked out by hand below (the sets and the
hours), from the deadlines of the calendar, checked here too; a place's
expected figures are the sums over its cases. Then: every level; the scope of
each role through the API; bad input (422 naming the field, 401, 403); the
CLI through typer's CliRunner; working hours inside SQL against the calendar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from api_login import token_header
from fastapi.testclient import TestClient
from indicators_data import (
    DEPARTMENT,
    OFFICER,
    PASSWORD,
    S2,
    SQUAD,
    SQUAD2,
    Month,
    S,
    at,
    plant,
)
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from cases.calendar import load_calendar, working_hours_between_many
from cases.errors import Forbidden, InvalidInput
from cases.indicators import INDICATORS, indicators, parse_period
from cases.indicators.worktime import params, working_hours_sql
from gis.settings import Settings
from gridcli.main import app as cli

MAY = ("2016-05-01", "2016-05-31")

# Each case's part in the figures of May 2016, by hand (see tests/indicators_data.py).
RECEIVED = set("ABCDFJLMGIK")  # reported in May (E and N in April; I referred out)
FILED = set("ABCDFJLMGK")  # I was referred out at intake, never filed
DISPATCHED = set("ABCDFJLMGK")
# First deadline in May: E's (04-29 17:00 + 2 h, across Labour Day) is 05-03 09:30;
# D's (05-31 16:00 + 4 h) is 06-01 10:30; C's and L's first ones, before escalation.
DUE = set("ABCEFJLMGK")
CLOSED = set("ABCEJMGK")  # of DUE, closed by 05-31 24:00 (F, L still open)
CLOSED_ON_TIME = set("AEMGK")  # B closed 05-06, due 05-05 17:00; C and J late too
HANDLED = set("ABCEJMGK")
HANDLED_ON_TIME = set("AEJMGK")  # J reported back 14:45, due 15:00 (closed 05-16)
CLOSURES_IN_MAY = set("ABCDEJMGK")  # D closed 05-31 though due in June
REWORKS = {"B": 1}
ESCALATIONS = {"C": ["squad_leader"], "L": ["squad_leader", "deputy_leader"]}
# Working hours from dispatch to the first report back, of the handled due cases:
HOURS = {
    "A": 1.5,  # 09:00 → 10:30
    "B": 10.0,  # Wed 16:00 → Fri 09:30: 2 + 7 + 1
    "C": 6.0,  # Mon 10:00 → Tue 09:00: 2 + 3.5 + 0.5
    "E": 1.5,  # Fri 17:00 → Tue 09:00 (Sat-Mon Labour Day): 1 + 0.5
    "J": 1.75,  # dispatched 10:30 → 14:45: 1.5 + 0.25
    "M": 2.5,  # 10:00 → 15:00: 2 + 0.5
    "G": 0.75,  # 09:00 → 09:45
    "K": 1.0,  # 09:00 → 10:00
}
# Reply deadline (5 working days after receipt) in May: E 05-09, A 05-10, B 05-11,
# C and L 05-16, G 05-17, I 05-19, J 05-20, K 05-24, M 05-27 (F and D in June).
REPLY_DUE = set("EABCLGIJKM")
REPLIED_ON_TIME = set("AGJ")  # B's reply came 05-12, a day late
RATINGS = {"A": 5, "B": 2, "D": 4, "G": 3}  # closed in May and rated

DEADLINES = {
    "E": "2016-05-03 09:30",
    "A": "2016-05-03 11:00",
    "B": "2016-05-05 17:00",
    "C": "2016-05-09 16:30",
    "L": "2016-05-09 15:30",
    "F": "2016-05-27 10:00",
    "D": "2016-06-01 10:30",
    "J": "2016-05-13 15:00",
    "M": "2016-05-20 16:30",
}


def expected(keys: set[str]) -> dict[str, Any]:
    """The figures of the cases `keys` (those of one place), from the hand-made sets."""

    def n(s: set[str]) -> int:
        return len(s & keys)

    esc = [role for k in keys for role in ESCALATIONS.get(k, [])]
    hours = [HOURS[k] for k in keys if k in HOURS]
    rated = [RATINGS[k] for k in keys if k in RATINGS]
    reworked = sum(REWORKS.get(k, 0) for k in keys)
    verified = n(CLOSURES_IN_MAY) + reworked

    def pct(a: int, b: int) -> float | None:
        return None if b == 0 else round(100 * a / b, 2)

    return {
        "received": n(RECEIVED),
        "filed": n(FILED),
        "dispatched": n(DISPATCHED),
        "due": n(DUE),
        "closed": n(CLOSED),
        "closed_on_time": n(CLOSED_ON_TIME),
        "closure_rate": pct(n(CLOSED), n(DUE)),
        "on_time_closure_rate": pct(n(CLOSED_ON_TIME), n(DUE)),
        "handled": n(HANDLED),
        "handled_on_time": n(HANDLED_ON_TIME),
        "disposal_rate": pct(n(HANDLED), n(DUE)),
        "on_time_disposal_rate": pct(n(HANDLED_ON_TIME), n(DUE)),
        "verified": verified,
        "reworked": reworked,
        "rework_rate": pct(reworked, verified),
        "avg_handling_hours": round(sum(hours) / len(hours), 2) if hours else None,
        "escalated": len(esc),
        "escalated_to_moderate": esc.count("squad_leader"),
        "escalated_to_major": esc.count("deputy_leader"),
        "escalated_to_chief": esc.count("chief"),
        "reply_due": n(REPLY_DUE),
        "replied_on_time": n(REPLIED_ON_TIME),
        "reply_on_time_rate": pct(n(REPLIED_ON_TIME), n(REPLY_DUE)),
        "evaluated": len(rated),
        "avg_rating": round(sum(rated) / len(rated), 2) if rated else None,
        "satisfied": sum(1 for r in rated if r >= 4),
        "satisfaction_rate": pct(sum(1 for r in rated if r >= 4), len(rated)),
    }


@pytest.fixture(scope="module")
def month(engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Month:
    """May 2016, planted once (shared with tests/test_reports.py)."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    return plant(engine, settings, tmp_path_factory.mktemp("ind2016"))


@pytest.fixture(scope="module")
def places(engine: Engine, month: Month) -> dict[str, dict[str, str | None]]:
    """Where each case is now placed (grid, community, station, squad, officer, department)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, grid_code, community_code, subdistrict_code, station_code, "
                "squad_code, officer_code, department_code, district_code, status "
                "FROM case_file WHERE id = ANY(:ids)"
            ),
            {"ids": list(month.ids.values())},
        ).mappings()
        by_id = {r["id"]: dict(r) for r in rows}
    return {k: by_id[i] for k, i in month.ids.items()}


def keys_where(places: dict[str, dict[str, Any]], column: str, code: str) -> set[str]:
    """The planted cases placed at `code` by `column`."""
    return {k for k, p in places.items() if p[column] == code}


# ------------------------------------------------------------ the month itself


def test_the_month_is_as_planned(engine: Engine, month: Month, places: dict[str, Any]) -> None:
    """The deadlines are the calendar's, the places and states are as the table says:
    the figures below rest on these."""
    with engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                sa.text(
                    "SELECT c.id, c.status, c.tier, c.due_at, c.closed_at, c.rating, "
                    "c.first_due_at, c.reported_back_at, "
                    "(SELECT min(CAST(e.data ->> 'overdue_since' AS timestamptz)) "
                    " FROM case_event e WHERE e.case_id = c.id AND e.kind = 'escalated') "
                    "AS first_due, "
                    "(SELECT min(e.at) FROM case_event e "
                    " WHERE e.case_id = c.id AND e.kind = 'reported_back') AS first_back "
                    "FROM case_file c WHERE c.id = ANY(:ids)"
                ),
                {"ids": list(month.ids.values())},
            )
        }
    for key, due in DEADLINES.items():
        row = rows[month.ids[key]]
        assert (row.first_due or row.due_at) == at(due), key
    # The database keeps each case's first deadline and first report back from its
    # events (migration 0010_indicators): the sweeper moved C's and L's due times on.
    for row in rows.values():
        assert row.first_due_at == row.first_due and row.reported_back_at == row.first_back
    assert rows[month.ids["L"]].due_at == at("2016-05-11 09:00")  # after two escalations
    assert rows[month.ids["B"]].reported_back_at == at("2016-05-06 09:30")  # before rework
    assert places["I"]["status"] == "referred_out"
    assert places["J"]["grid_code"] == month.grids["G2"] and places["J"]["station_code"] == S
    assert places["K"]["department_code"] == DEPARTMENT
    assert rows[month.ids["M"]].tier == "moderate"  # the third 0402 in G2 within 30 days
    assert rows[month.ids["L"]].tier == "major"  # escalated twice
    assert {k for k in month.ids if rows[month.ids[k]].status in ("closed", "evaluated")} == (
        set(month.ids) - {"F", "I", "L", "N"}
    )
    assert {k: rows[month.ids[k]].rating for k in RATINGS} == RATINGS


# ------------------------------------------------------------------ each level


@pytest.mark.parametrize(
    ("level", "code_of", "column"),
    [
        ("district", lambda m, p: None, None),
        ("station", lambda m, p: S, "station_code"),
        ("station", lambda m, p: S2, "station_code"),
        ("squad", lambda m, p: SQUAD, "squad_code"),
        ("community", lambda m, p: m.community, "community_code"),
        ("grid", lambda m, p: m.grids["G1"], "grid_code"),
        ("grid", lambda m, p: m.grids["G2"], "grid_code"),
        ("subdistrict", lambda m, p: p["A"]["subdistrict_code"], "subdistrict_code"),
        ("department", lambda m, p: DEPARTMENT, "department_code"),
        ("officer", lambda m, p: p["A"]["officer_code"], "officer_code"),
        ("officer", lambda m, p: p["G"]["officer_code"], "officer_code"),
    ],
)
def test_each_level_matches_the_hand_figures(
    engine: Engine,
    settings: Settings,
    month: Month,
    places: dict[str, dict[str, Any]],
    level: str,
    code_of: Any,
    column: str | None,
) -> None:
    """Every indicator of every level equals the hand-made figures of its cases."""
    code = code_of(month, places)
    keys = set(month.ids) if column is None else keys_where(places, column, code)
    assert keys, (level, code)
    found = indicators(engine, level, code, *MAY, settings=settings)
    assert found.values == expected(keys)
    assert found.place.level.key == level


def test_station_s_in_numbers(engine: Engine, settings: Settings, month: Month) -> None:
    """Station S written out: 8 received, 8 due, 6 closed (75.00 %), 3 on time
    (37.50 %), rework 1 of 8 verifications, 23.25 working hours over 6 cases."""
    v = indicators(engine, "station", S, *MAY, settings=settings).values
    assert (v["received"], v["due"], v["closed"], v["closed_on_time"]) == (8, 8, 6, 3)
    assert (v["closure_rate"], v["on_time_closure_rate"]) == (75.0, 37.5)
    assert (v["handled"], v["disposal_rate"], v["on_time_disposal_rate"]) == (6, 75.0, 50.0)
    assert (v["verified"], v["reworked"], v["rework_rate"]) == (8, 1, 12.5)
    assert v["avg_handling_hours"] == pytest.approx(23.25 / 6, abs=0.005)
    assert (v["escalated"], v["escalated_to_moderate"], v["escalated_to_major"]) == (3, 2, 1)
    assert (v["reply_due"], v["replied_on_time"]) == (7, 2)
    assert (v["evaluated"], v["avg_rating"], v["satisfaction_rate"]) == (3, 3.67, 66.67)


def test_months_add_up_and_june_has_d(engine: Engine, settings: Settings, month: Month) -> None:
    """Each case is due in one period only: April has N, June has D (closed early, on time)."""
    april = indicators(engine, "station", S, "2016-04-01", "2016-04-30", settings=settings)
    assert (april.values["received"], april.values["due"], april.values["closed"]) == (2, 1, 0)
    june = indicators(engine, "station", S, "2016-06-01", "2016-06-30", settings=settings)
    v = june.values
    assert (v["received"], v["due"], v["closed"], v["closed_on_time"]) == (0, 1, 1, 1)
    both = indicators(engine, "station", S, "2016-04-01", "2016-06-30", settings=settings)
    assert both.counts.values["due"] == april.counts.values["due"] + 8 + june.counts.values["due"]


def test_a_place_with_nothing_has_zeros_and_no_rates(engine: Engine, settings: Settings) -> None:
    """Rates over nothing are null, not 0 % nor an error."""
    v = indicators(engine, "station", S, "2014-02-01", "2014-02-28", settings=settings).values
    assert v["received"] == v["due"] == 0
    assert v["closure_rate"] is None and v["avg_handling_hours"] is None


def test_every_indicator_is_named(engine: Engine, settings: Settings, month: Month) -> None:
    """The answer names each indicator by key and Chinese name, rates with their parts."""
    data = indicators(engine, "district", None, *MAY, settings=settings).as_dict()
    items = {i["key"]: i for i in data["indicators"]}
    assert list(items) == [i.key for i in INDICATORS]
    assert items["closure_rate"]["name"] == "结案率"
    assert items["on_time_closure_rate"]["name"] == "按期结案率"
    assert items["rework_rate"]["name"] == "返工率" and items["disposal_rate"]["name"] == "处置率"
    assert items["closure_rate"]["numerator"] == items["closed"]["value"]
    assert items["closure_rate"]["denominator"] == items["due"]["value"]
    assert (data["from"], data["to"], data["code"]) == ("2016-05-01", "2016-05-31", "440703")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("level", "code", "date_from", "date_to", "field"),
    [
        ("town", None, *MAY, "level"),
        ("station", None, *MAY, "code"),
        ("station", "ST999", *MAY, "code"),
        ("grid", "x\x00y", *MAY, "code"),
        ("district", "440704", *MAY, "code"),
        ("district", None, "2016-5-1", "2016-05-31", "from"),
        ("district", None, "2016-05-31", "2016-05-01", "from"),
        ("district", None, "1999-12-01", "1999-12-31", "from"),
        ("district", None, "2010-01-01", "2016-05-31", "from"),
        ("district", None, "2016-05-01", "2099-01-01", "to"),
        ("district", None, "2016-05-01", "tomorrow", "to"),
    ],
)
def test_bad_input_names_the_field(
    engine: Engine,
    settings: Settings,
    level: str,
    code: str | None,
    date_from: str,
    date_to: str,
    field: str,
) -> None:
    """Each bad level, code or date is refused, naming the field."""
    with pytest.raises(InvalidInput) as err:
        indicators(engine, level, code, date_from, date_to, settings=settings)
    assert err.value.field == field


def test_default_period_is_this_month_so_far() -> None:
    """No dates: from the first of this month to today (Asia/Shanghai)."""
    now = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 03-11 04:00 in Shanghai
    period = parse_period(now=now)
    assert (str(period.first), str(period.last)) == ("2026-03-01", "2026-03-11")


# ---------------------------------------------------------------- roles, API


@pytest.fixture(scope="module")
def client(settings: Settings, month: Month) -> Iterator[TestClient]:
    """The app on the test database."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _get(client: TestClient, headers: dict[str, str] | None, **query: str) -> Any:
    q = {"from": MAY[0], "to": MAY[1], **query}
    return client.get("/api/v1/indicators", params=q, headers=headers or {})


def test_api_answers_the_figures(
    client: TestClient, month: Month, engine: Engine, settings: Settings
) -> None:
    """An analyst reads the district's figures: the same as the function's."""
    resp = _get(
        client, token_header(client, month.usernames["analyst"], PASSWORD), level="district"
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    want = indicators(engine, "district", None, *MAY, settings=settings).as_dict()
    assert body["indicators"] == want["indicators"]
    assert {i["key"]: i["value"] for i in body["indicators"]}["due"] == len(DUE)


@pytest.mark.parametrize(
    ("who", "level", "code", "status"),
    [
        ("analyst", "station", S2, 200),
        ("deputy_leader", "district", None, 200),
        ("dispatcher", "officer", OFFICER, 200),
        ("officer", "station", S, 200),
        ("officer", "officer", OFFICER, 200),
        ("officer", "grid", "G1", 200),
        ("officer", "community", "community", 200),
        ("officer", "station", S2, 403),
        ("officer", "officer", "OF00162", 403),
        ("officer", "squad", SQUAD, 403),
        ("officer", "district", None, 403),
        ("squad_leader", "squad", SQUAD, 200),
        ("squad_leader", "station", S, 200),
        ("squad_leader", "officer", OFFICER, 200),
        ("squad_leader", "grid", "G2", 200),
        ("squad_leader", "squad", SQUAD2, 403),
        ("squad_leader", "station", S2, 403),
        ("squad_leader", "district", None, 403),
        ("department_staff", "department", DEPARTMENT, 200),
        ("department_staff", "department", "D02", 403),
        ("department_staff", "station", S, 403),
    ],
)
def test_scope_by_role(
    client: TestClient, month: Month, who: str, level: str, code: str | None, status: int
) -> None:
    """Analysts and leaders see all; a squad leader their squad; an officer their
    station and themselves; a department's staff their department."""
    code = {"G1": month.grids["G1"], "G2": month.grids["G2"], "community": month.community}.get(
        code or "", code
    )
    query = {"level": level} | ({"code": code} if code else {})
    resp = _get(client, token_header(client, month.usernames[who], PASSWORD), **query)
    assert resp.status_code == status, resp.text
    if status == 403:
        assert resp.json()["detail"][0]["code"] == "forbidden"


def test_scope_in_the_function(engine: Engine, settings: Settings, month: Month) -> None:
    """The rule lives in cases.indicators: the function refuses too, without HTTP."""
    officer = month.principals["officer"]
    with pytest.raises(Forbidden):
        indicators(engine, "station", S2, *MAY, principal=officer, settings=settings)
    mine = indicators(engine, "station", S, *MAY, principal=officer, settings=settings)
    assert mine.values["received"] == 8


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"level": "street"}, "level"),
        ({"level": "grid"}, "code"),
        ({"level": "grid", "code": "000000000000000"}, "code"),
        ({"level": "district", "from": "2016-13-01"}, "from"),
        ({"level": "district", "to": "2999-01-01"}, "to"),
    ],
)
def test_api_bad_input_is_422_naming_the_field(
    client: TestClient, month: Month, query: dict[str, str], field: str
) -> None:
    """422 with the field named, never a 500."""
    resp = _get(client, token_header(client, month.usernames["analyst"], PASSWORD), **query)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["field"] == field


def test_api_without_a_token_is_401(client: TestClient) -> None:
    """No token, no figures."""
    resp = _get(client, None, level="district")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


def test_api_missing_level_is_422(client: TestClient, month: Month) -> None:
    """`level` is required."""
    resp = client.get(
        "/api/v1/indicators", headers=token_header(client, month.usernames["analyst"], PASSWORD)
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["field"] == "level"


# -------------------------------------------------------------------------- CLI


def test_cli_prints_the_figures(month: Month) -> None:
    """`grid indicators --json` prints the station's figures; the table names them."""
    runner = CliRunner()
    args = ["indicators", "--level", "station", "--code", S, "--from", MAY[0], "--to", MAY[1]]
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    values = {i["key"]: i["value"] for i in data["indicators"]}
    assert (values["received"], values["closure_rate"], values["rework_rate"]) == (8, 75.0, 12.5)
    table = runner.invoke(cli, args)
    assert table.exit_code == 0 and "按期结案率" in table.stdout and "37.5" in table.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--level", "town"], 2, "unknown level"),
        (["--level", "station", "--code", "ST999"], 1, "no station"),
        (["--level", "district", "--from", "2016-06-01", "--to", "2016-05-01"], 2, "after"),
        (["--level", "district", "--to", "2999-01-01"], 2, "future"),
    ],
)
def test_cli_bad_input(args: list[str], code: int, words: str) -> None:
    """A clear message and the exit code, no traceback."""
    result = CliRunner().invoke(cli, ["indicators", *args])
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output


# ------------------------------------------------------ working hours in SQL


def test_working_hours_in_sql_match_the_calendar(engine: Engine) -> None:
    """The SQL form of working hours equals the calendar's own, on random instants
    across weekends, lunch breaks, holidays (Spring Festival 2016) and 调休 days."""
    calendar = load_calendar()
    rng = np.random.default_rng(7)
    base = np.datetime64("2016-01-25T00:00", "us")
    minutes = rng.integers(0, 80 * 24 * 60, 400)
    starts = base + minutes.astype("timedelta64[m]")
    ends = starts + rng.integers(0, 15 * 24 * 60, 400).astype("timedelta64[m]")
    want = working_hours_between_many(starts, ends, calendar)
    hours = working_hours_sql("s", "e")
    sql = sa.text(
        f"SELECT {hours} AS h FROM unnest("
        "CAST(:s AS timestamptz[]), CAST(:e AS timestamptz[])) WITH ORDINALITY AS t(s, e, i) "
        "ORDER BY i"
    )

    def text(values: np.ndarray) -> list[str]:
        return [f"{v}+00:00" for v in np.datetime_as_string(values)]

    first = datetime(2016, 1, 20).date()
    last = first + timedelta(days=120)
    with engine.connect() as conn:
        got = (
            conn.execute(sql, {"s": text(starts), "e": text(ends), **params(calendar, first, last)})
            .scalars()
            .all()
        )
    assert np.allclose(np.array(got, dtype=float), want, atol=1e-6)
    assert want.max() > 50 and (want == 0).any()  # long spans, and some inside closed hours
