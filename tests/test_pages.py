"""The pages and the maps' data endpoints, through the app on the real database.

Cases go in through intake, reported in March 2013 (no other test files
anything then, so the counts in that window are exactly ours): a cluster of
street-vending cases on one grid and its neighbours, a resident's description
carrying markup on a far grid (made overdue), and one case reported now. A
planned shift puts one officer on duty now. Accounts of each role log in with
the form (cookie) or the token endpoint (bearer).
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs
import pytest
import sqlalchemy as sa
from api_login import token_header
from fastapi.testclient import TestClient
from other_database import MISSING, on_database
from pages_data import CST, PASSWORD, PWN, Planted, account, plant
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from api.pages.views import MAPS
from gis.hotspots import HOTSPOT_CLASSES, PATTERNS, grid_weights
from gis.settings import Settings
from maps.offline import external_references

MARCH = {"from": "2013-03-01", "to": "2013-03-31"}
SPRING = {"to": "2013-03-31", "months": "3"}  # emerging hot spots take months, not from


def _params(path: str) -> dict[str, str]:
    return SPRING if path.endswith("emerging") else MARCH


def _js(text: str) -> str:
    """`text` as a folium page carries it inside a script (Jinja's tojson: JSON with
    non-ASCII as \\u escapes and <, >, &, ' escaped too)."""
    out = json.dumps(text)[1:-1]
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        out = out.replace(ch, code)
    return out


def _shows(html: str, text: str) -> bool:
    """Whether a page shows `text`: as HTML text or as data of its scripts."""
    return text in html or _js(text) in html


PAGES = ["/", "/dashboard", *(f"/maps/{name}" for name in MAPS)]
DATA = ["/api/v1/grids", "/api/v1/hotspots", "/api/v1/hotspots/emerging", "/api/v1/dashboard"]


@pytest.fixture(scope="module")
def planted(engine: Engine, settings: Settings) -> Planted:
    return plant(engine, settings, 2013, 3, shift=True)


@pytest.fixture(scope="module")
def app_client(settings: Settings, planted: Planted) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def users(engine: Engine, planted: Planted) -> dict[str, str]:
    return {
        "dispatcher": account(engine, "dispatcher"),
        "analyst": account(engine, "analyst"),
        "admin": account(engine, "admin"),
        "chief": account(engine, "chief"),
        "officer": account(engine, "officer", station_code=planted.station),
        "squad_leader": account(engine, "squad_leader", squad_code=planted.squad),
    }


@pytest.fixture(scope="module")
def bearer(app_client: TestClient, users: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers by role (no cookie involved)."""
    return {role: token_header(app_client, name, PASSWORD) for role, name in users.items()}


def _browser(settings: Settings, username: str) -> TestClient:
    """A client that logged in through the form, as a browser does (cookie)."""
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    client.__enter__()
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(scope="module")
def dispatcher(settings: Settings, users: dict[str, str]) -> Iterator[TestClient]:
    client = _browser(settings, users["dispatcher"])
    yield client
    client.__exit__(None, None, None)


# ------------------------------------------------------------------ login


def test_without_login_pages_go_to_the_login_form_and_data_is_401(
    app_client: TestClient,
) -> None:
    for path in PAGES[1:]:
        answer = app_client.get(path, params=_params(path), follow_redirects=False)
        assert answer.status_code == 303, (path, answer.status_code)
        target = urlsplit(answer.headers["location"])
        assert target.path == "/"
        assert parse_qs(target.query)["next"][0].startswith(path)
    for path in DATA:
        answer = app_client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["detail"][0]["code"] == "unauthenticated"
    start = app_client.get("/", params={"next": "/maps/hotspots"})
    assert start.status_code == 200
    assert 'action="/login"' in start.text and 'name="password"' in start.text
    assert '<html lang="zh-CN">' in start.text and "登录" in start.text
    assert 'value="/maps/hotspots"' in start.text


def test_the_login_form_sets_a_session_cookie_and_logout_drops_it(
    settings: Settings, users: dict[str, str]
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        wrong = c.post("/login", data={"username": users["analyst"], "password": "nope-nope"})
        assert wrong.status_code == 401
        assert "用户名或密码不正确" in wrong.text and "cg_session" not in wrong.headers.get(
            "set-cookie", ""
        )
        answer = c.post(
            "/login",
            data={"username": users["analyst"], "password": PASSWORD, "next": "/maps/hotspots"},
            follow_redirects=False,
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/maps/hotspots"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("cg_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        home = c.get("/")
        assert users["analyst"] in home.text and 'action="/logout"' in home.text
        assert "/maps/heatmap" in home.text and 'href="/docs"' in home.text
        assert 'href="/dashboard"' not in home.text  # not a link an analyst may follow
        out = c.post("/logout", follow_redirects=False)
        assert out.status_code == 303 and 'cg_session=""' in out.headers["set-cookie"]
        c.cookies.clear()
        assert c.get("/maps/hotspots", follow_redirects=False).status_code == 303
        # Elsewhere is not a place to be sent after logging in.
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            again = c.post(
                "/login",
                data={"username": users["analyst"], "password": PASSWORD, "next": target},
                follow_redirects=False,
            )
            assert again.headers["location"] == "/", target


# ------------------------------------------------------------------ every page


def _static_refs(html: str) -> set[str]:
    return set(re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html))


def test_every_page_with_the_cookie_and_with_a_bearer_token(
    app_client: TestClient, dispatcher: TestClient, bearer: dict[str, dict[str, str]]
) -> None:
    assets: set[str] = set()
    for path in PAGES:
        for answer in (
            dispatcher.get(path, params=_params(path)),
            app_client.get(path, params=_params(path), headers=bearer["dispatcher"]),
        ):
            assert answer.status_code == 200, (path, answer.text[:300])
            assert answer.headers["content-type"].startswith("text/html")
            html = answer.text
            assert html.lstrip().lower().startswith("<!doctype html>"), path
            assert external_references(html) == [], path
            assert "cdn" not in html.lower() and "fonts.googleapis" not in html, path
            assets |= _static_refs(html)
    assert any(a.endswith("leaflet.js") for a in assets)
    for asset in sorted(assets):
        assert app_client.get(asset).status_code == 200, asset


def test_map_pages_carry_their_map_layers_and_filters(dispatcher: TestClient) -> None:
    for name, page in MAPS.items():
        html = dispatcher.get(f"/maps/{name}", params=_params(name)).text
        assert "L.map(" in html and "L.control.layers" in html, name
        assert "cg-legend" in html and page.title in html, name
        assert 'name="subclass"' in html, name
        assert f'value="{_params(name).get("from", "2013-03-31")}"' in html, name
    heat = dispatcher.get("/maps/heatmap", params=MARCH).text
    assert _shows(heat, "原始点位")  # few cases: raw points
    hot = dispatcher.get("/maps/hotspots", params=MARCH).text
    assert _shows(hot, "Benjamini–Hochberg") and _shows(hot, "置换检验 999 次")
    embedded = dispatcher.get("/maps/operations", params={**MARCH, "embed": "true"}).text
    assert 'id="cg-bar"' not in embedded


def test_large_data_is_counted_in_cells_not_sent_point_by_point(
    settings: Settings, users: dict[str, str], planted: Planted
) -> None:
    few = settings.model_copy(update={"map_raw_points_max": 5, "map_markers_max": 3})
    with TestClient(create_app(few), raise_server_exceptions=False) as c:
        c.post("/login", data={"username": users["dispatcher"], "password": PASSWORD})
        heat = c.get("/maps/heatmap", params=MARCH).text
        # Counted in cells by the database: the page gets cells, not points.
        assert _shows(heat, f"服务器汇总的网格，共 {planted.cluster_cases + 1:,} 件")
        assert not _shows(heat, "原始点位")
        ops = c.get("/maps/operations", params=MARCH).text
        # The open cases counted in cells; the one overdue case still a marker.
        assert _shows(ops, f"未结案件（{planted.cluster_cases:,} 件，按方格汇总）")
        assert _shows(ops, "超期案件（1 件）") and _shows(ops, htmllib.escape(PWN))


# ------------------------------------------------------------------ roles


def test_roles_not_allowed_get_403(
    app_client: TestClient, settings: Settings, users: dict[str, str], bearer: Any
) -> None:
    for role in ("analyst", "officer"):
        answer = app_client.get("/api/v1/dashboard", headers=bearer[role])
        assert answer.status_code == 403, role
        assert answer.json()["detail"][0]["code"] == "forbidden"
        page = app_client.get("/dashboard", headers=bearer[role])
        assert page.status_code == 403 and "无权访问" in page.text
        assert page.headers["content-type"].startswith("text/html")
    for role in ("analyst", "officer", "squad_leader", "chief", "admin"):
        for name in MAPS:
            answer = app_client.get(f"/maps/{name}", params=_params(name), headers=bearer[role])
            assert answer.status_code == 200, (role, name)


def _features(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/geo+json"
    body = answer.json()
    assert body["type"] == "FeatureCollection"
    return list(body["features"])


def test_officers_and_squad_leaders_see_their_own_places(
    app_client: TestClient, bearer: dict[str, dict[str, str]], planted: Planted, engine: Engine
) -> None:
    everything = _features(app_client.get("/api/v1/grids", headers=bearer["analyst"]))
    mine = _features(app_client.get("/api/v1/grids", headers=bearer["officer"]))
    assert {f["properties"]["community_code"] for f in mine} == {planted.community}
    assert 0 < len(mine) < len(everything)
    with engine.connect() as conn:
        squad_places = set(
            conn.execute(
                sa.text("SELECT community_code FROM squad_community WHERE squad_code = :s"),
                {"s": planted.squad},
            ).scalars()
        )
    squad = _features(app_client.get("/api/v1/grids", headers=bearer["squad_leader"]))
    assert {f["properties"]["community_code"] for f in squad} == squad_places
    hot = _features(app_client.get("/api/v1/hotspots", params=MARCH, headers=bearer["officer"]))
    assert {f["properties"]["grid_code"] for f in hot} == {
        f["properties"]["grid_code"] for f in mine
    }
    board = app_client.get("/api/v1/dashboard", headers=bearer["squad_leader"]).json()
    assert board["scope"] == sorted(squad_places)
    assert planted.pwn_case not in [c["id"] for c in board["overdue"]["cases"]] or (
        planted.community in squad_places
    )


# ------------------------------------------------------------------ contracts


def test_grids_hotspots_and_emerging_contracts(
    app_client: TestClient, bearer: dict[str, dict[str, str]], planted: Planted, engine: Engine
) -> None:
    analyst = bearer["analyst"]
    grids = _features(app_client.get("/api/v1/grids", headers=analyst))
    assert len(grids) == grid_weights(engine).n
    first = grids[0]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert re.fullmatch(r"[0-9]{15}", first["properties"]["grid_code"])
    assert first["properties"]["name"].endswith("号网格")
    assert first["properties"]["community_name"] and first["properties"]["subdistrict_name"]

    answer = app_client.get(
        "/api/v1/hotspots", params={**MARCH, "subclass": "0401"}, headers=analyst
    )
    body = answer.json()
    assert "Benjamini–Hochberg" in body["properties"]["fdr_method"]
    assert body["properties"]["from"] == "2013-03-01" and body["properties"]["subclass"] == "0401"
    by_code = {f["properties"]["grid_code"]: f["properties"] for f in _features(answer)}
    assert set(first["properties"]) >= {"grid_code", "name", "community_code", "subdistrict_code"}
    for props in by_code.values():
        assert set(props) == {"grid_code", "count", "gi_z", "p_value", "hotspot_class", "label"}
        assert props["hotspot_class"] in HOTSPOT_CLASSES
    assert by_code[planted.centre]["count"] == 5
    assert sum(p["count"] for p in by_code.values()) == planted.cluster_cases
    assert by_code[planted.centre]["hotspot_class"] == "hot_99"
    assert by_code[planted.centre]["gi_z"] > 3 and by_code[planted.centre]["p_value"] < 0.01

    emerging = app_client.get("/api/v1/hotspots/emerging", params=SPRING, headers=analyst)
    body = emerging.json()
    assert body["properties"]["periods"] == ["2013-01-01", "2013-02-01", "2013-03-01"]
    patterns = {
        f["properties"]["grid_code"]: f["properties"]["pattern"] for f in _features(emerging)
    }
    assert set(patterns.values()) <= set(PATTERNS)
    assert patterns[planted.centre] == "new_hot"  # hot in its last month, never before


def test_no_personal_data_in_maps_or_figures(
    dispatcher: TestClient, app_client: TestClient, bearer: dict[str, dict[str, str]]
) -> None:
    texts = [dispatcher.get(p, params=_params(p)).text for p in PAGES]
    texts.append(app_client.get("/api/v1/dashboard", headers=bearer["dispatcher"]).text)
    for text in texts:
        assert "张三" not in text and "13800138000" not in text and "138****" not in text


# ------------------------------------------------------------------ bad filters


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/hotspots", {"subclass": "9999"}, "subclass"),
        ("/api/v1/hotspots", {"subclass": "x"}, "subclass"),
        ("/api/v1/hotspots", {"class": "99"}, "class"),
        ("/api/v1/hotspots", {"from": "2018-02-30"}, "from"),
        ("/api/v1/hotspots", {"from": "2018-04-01", "to": "2018-03-01"}, "from"),
        ("/api/v1/hotspots", {"from": "2010-01-01", "to": "2018-01-01"}, "from"),
        ("/api/v1/hotspots", {"subdistrict": "440703999"}, "subdistrict"),
        ("/api/v1/hotspots", {"status": "lost"}, "status"),
        ("/api/v1/hotspots", {"tier": "huge"}, "tier"),
        ("/api/v1/hotspots/emerging", {"months": "99"}, "months"),
        ("/api/v1/hotspots/emerging", {"months": "2"}, "months"),
        ("/api/v1/hotspots/emerging", {"from": "2018-01-01"}, "from"),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    app_client: TestClient,
    bearer: dict[str, dict[str, str]],
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    answer = app_client.get(path, params=params, headers=bearer["analyst"])
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["detail"]] == [field]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/maps/hotspots", {"subclass": "9999"}, "subclass"),
        ("/maps/heatmap", {"from": "2010-01-01", "to": "2018-01-01"}, "from"),
        ("/maps/timeline", {"by": "month"}, "by"),
        ("/maps/timeline", {"by": "day", "from": "2017-01-01", "to": "2018-03-31"}, "from"),
        ("/maps/choropleth", {"level": "street"}, "level"),
        ("/maps/emerging", {"months": "1"}, "months"),
    ],
)
def test_bad_filters_on_pages_are_422_pages_naming_the_field(
    dispatcher: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    answer = dispatcher.get(path, params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "筛选条件有误" in answer.text and f"<code>{field}</code>" in answer.text


# ------------------------------------------------------------------ escaping


def test_a_residents_script_is_text_on_every_page(dispatcher: TestClient, planted: Planted) -> None:
    ops = dispatcher.get("/maps/operations", params=MARCH).text
    assert _shows(ops, htmllib.escape(PWN))  # escaped as HTML text before it became data
    assert not _shows(ops, "<script>window.__pwned") and not _shows(ops, "<img src=x")
    board = dispatcher.get("/dashboard").text
    assert "<script>window.__pwned" not in board and "<img src=x" not in board
    assert "\\u003cscript\\u003ewindow.__pwned" in board  # data for textContent, escaped
    echoed = dispatcher.get("/maps/hotspots", params={**MARCH, "to": '2018-03-31"><script>x'})
    assert echoed.status_code == 422 and "<script>x" not in echoed.text
    start = dispatcher.get("/", params={"next": '/"><script>alert(1)</script>'}).text
    assert "<script>alert(1)" not in start


# ------------------------------------------------------------------ the command centre


def test_dashboard_figures(
    app_client: TestClient, bearer: dict[str, dict[str, str]], planted: Planted
) -> None:
    board = app_client.get("/api/v1/dashboard", headers=bearer["dispatcher"]).json()
    today = datetime.now(CST).date().isoformat()
    assert board["today"]["date"] == today and board["today"]["total"] >= 1
    assert [t["tier"] for t in board["open"]["by_tier"]] == ["minor", "moderate", "major"]
    assert board["open"]["total"] >= planted.cluster_cases + 2
    late = {c["id"]: c for c in board["overdue"]["cases"]}
    assert board["overdue"]["total"] >= 1
    case = late[planted.pwn_case]  # due in 2001: among the longest overdue, listed first
    assert case["description"] == PWN and case["overdue_hours"] > 24 * 365 * 20
    assert case["due_at"].startswith("2001-01-01T") and case["due_at"].endswith("+08:00")
    assert case["subclass_name"] and case["tier_label"]
    stations = {s["station_code"]: s for s in board["on_duty"]["stations"]}
    assert {"code": planted.on_duty, "state": "planned", "state_label": "排班在岗"} in stations[
        planted.station
    ]["officers"]
    assert all(o["state"] != "rota" for o in stations[planted.station]["officers"])
    page = app_client.get("/dashboard", headers=bearer["chief"])
    assert page.status_code == 200 and "城管110" in page.text and "/api/v1/dashboard" in page.text
    assert 'src="/maps/operations?embed=1"' in page.text


def test_the_officer_on_the_operations_map(dispatcher: TestClient, planted: Planted) -> None:
    html = dispatcher.get("/maps/operations", params=MARCH).text
    assert _shows(html, f"{planted.on_duty}（排班在岗）") and _shows(html, "在岗人员")


# ------------------------------------------------------------------ the contract


def _validate(doc: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    full = {**schema, "components": doc["components"]}
    errors = [e.message for e in jsonschema_rs.validator_for(full).iter_errors(body)]
    assert not errors, errors[:3]


def test_every_declared_status_of_the_map_data_is_reached(
    app_client: TestClient, settings: Settings, bearer: dict[str, dict[str, str]]
) -> None:
    doc = app_client.get("/openapi.json").json()
    missing = on_database(settings, MISSING)
    with TestClient(create_app(missing), raise_server_exceptions=False) as down:
        for path in DATA:
            operation = doc["paths"][path]["get"]
            reach = {
                200: lambda p: app_client.get(p, params=_params(p), headers=bearer["dispatcher"]),
                401: lambda p: app_client.get(p),
                403: lambda p: app_client.get(p, headers=bearer["analyst"]),
                422: lambda p: app_client.get(
                    p, params={"subclass": "9999"}, headers=bearer["analyst"]
                ),
                503: lambda p: down.get(p, headers=bearer["dispatcher"]),
            }
            declared = {int(s) for s in operation["responses"]}
            assert {200, 401, 503} <= declared
            assert operation.get("security"), path
            for status in declared:
                answer = reach[status](path)
                assert answer.status_code == status, (path, status, answer.text[:200])
                content = operation["responses"][str(status)]["content"]
                media = answer.headers["content-type"].split(";")[0]
                assert media in content, (path, status, media)
                _validate(doc, content[media]["schema"], answer.json())
    assert "/maps/hotspots" not in doc["paths"] and "/" not in doc["paths"]


# ------------------------------------------------------------------ the CLI


def test_grid_maps_export_writes_standalone_pages(tmp_path: Path, planted: Planted) -> None:
    from gridcli.main import app

    runner = CliRunner()
    out = tmp_path / "maps"
    res = runner.invoke(
        app,
        [
            "maps",
            "export",
            "--out",
            str(out),
            "--from",
            "2013-03-01",
            "--to",
            "2013-03-31",
            "--only",
            "hotspots",
            "--only",
            "operations",
        ],
    )
    assert res.exit_code == 0, res.output
    printed = [Path(line) for line in res.output.split()]
    assert printed == [out / "hotspots.html", out / "operations.html"]
    for path in printed:
        html = path.read_text(encoding="utf-8")
        # Everything inside: no file is loaded from anywhere (the inlined scripts'
        # own text, such as Leaflet's attribution link, loads nothing).
        assert not re.search(r"<(?:script|link)[^>]+(?:src|href)=", html), path
        assert "/static/" not in html and "L.map(" in html
    assert _shows((out / "operations.html").read_text("utf-8"), htmllib.escape(PWN))
    bad = runner.invoke(app, ["maps", "export", "--out", str(out), "--subclass", "9999"])
    assert bad.exit_code == 2 and "--subclass" in bad.output
    bad = runner.invoke(app, ["maps", "export", "--out", str(out), "--only", "globe"])
    assert bad.exit_code == 2 and "globe" in bad.output
