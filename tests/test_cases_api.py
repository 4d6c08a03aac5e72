"""The case routes over HTTP: /api/v1/cases (list, read, move), the complaint reads under
the rules, the resident's token view, Open311's public GET (and its key setting).

Every status the document declares on a case route is reached here with the body it
declares (tests/test_api_contract.py does the same for the complaint and Open311 doors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
from api_login import token_header
from fastapi.testclient import TestClient
from lifecycle_world import (
    PASSWORD,
    Cast,
    cast,
    file_case,
    here_place,
    row,
)
from open311_spec import REQUEST_FIELDS
from other_database import MISSING, on_database
from sqlalchemy.engine import Engine

from api.app import create_app
from cases.access import Principal
from cases.accounts.tokens import issue_token
from cases.apikeys import create_api_key
from gis.settings import Settings

V1 = "/api/v1"
PHOTO = "https://example.org/after.jpg"


@pytest.fixture(scope="module")
def quiet(settings: Settings) -> Settings:
    return settings.model_copy(update={"repeat_report_count": 1000})


@pytest.fixture(scope="module")
def world(engine: Engine, quiet: Settings) -> Cast:
    from sample.seed import load_sample

    load_sample(engine, settings=quiet)
    return cast(engine)


@pytest.fixture(scope="module")
def client(quiet: Settings, world: Cast) -> Iterator[TestClient]:
    with TestClient(create_app(quiet), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def down(quiet: Settings) -> Iterator[TestClient]:
    """The app on a database that does not exist."""
    gone = on_database(quiet, MISSING)
    with TestClient(create_app(gone), raise_server_exceptions=False) as c:
        yield c


def auth(who: Principal, settings: Settings) -> dict[str, str]:
    token, _ = issue_token(who.account_id, who.username, who.role, settings)
    return {"Authorization": f"Bearer {token}"}


def test_a_real_login_reads_the_list(client: TestClient, world: Cast) -> None:
    login = token_header(client, world.dispatcher.username, PASSWORD)
    listed = client.get(f"{V1}/cases", headers=login)
    assert listed.status_code == 200 and listed.json()["page"] == 1
    bare = client.get(f"{V1}/cases")
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"


def test_read_then_move_with_etag_and_version(
    client: TestClient, engine: Engine, quiet: Settings, world: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    officer = auth(world.officer, quiet)
    seen = client.get(f"{V1}/cases/{case}", headers=officer)
    assert seen.status_code == 200
    view = seen.json()
    assert seen.headers["etag"] == view["etag"] == f'"{case}-1"'
    assert view["status"] == "dispatched" and view["holder_role"] == "officer"
    assert view["actions"] == ["start", "report_back", "raise_tier", "reply"]
    assert [e["kind"] for e in view["events"]] == ["created", "located", "dispatched"]
    assert (view["reporter_name"], view["reporter_phone"]) == ("陈小明", "13812345678")
    moved = client.post(
        f"{V1}/cases/{case}/start",
        json={"note": "到场"},
        headers={**officer, "If-Match": view["etag"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == f'"{case}-2"' and moved.json()["status"] == "in_progress"
    # the same If-Match again: the case moved on since; refused, with the case as it is
    stale = client.post(
        f"{V1}/cases/{case}/report_back",
        json={"photos": [PHOTO]},
        headers={**officer, "If-Match": view["etag"]},
    )
    assert stale.status_code == 412
    assert stale.json()["current"]["status"] == "in_progress"
    assert stale.headers["etag"] == f'"{case}-2"'
    old = client.post(
        f"{V1}/cases/{case}/report_back", json={"photos": [PHOTO], "version": 1}, headers=officer
    )
    assert old.status_code == 409 and old.json()["detail"][0]["code"] == "stale_version"
    assert old.json()["current"]["version"] == 2
    blind = client.post(f"{V1}/cases/{case}/report_back", json={"photos": [PHOTO]}, headers=officer)
    assert blind.status_code == 428
    done = client.post(
        f"{V1}/cases/{case}/report_back", json={"photos": [PHOTO], "version": 2}, headers=officer
    )
    assert done.status_code == 200 and done.json()["status"] == "reported_back"
    assert row(engine, case)["version"] == 3
    # the resident follows it by token: the steps, no personal data
    token = row(engine, case)["token"]
    public = client.get(f"{V1}/complaints/by-token/{token}").json()
    assert [e["kind"] for e in public["events"]][-2:] == ["started", "reported_back"]
    assert "陈" not in str(public) and "138" not in str(public)


def test_refusals_say_why(client: TestClient, engine: Engine, quiet: Settings, world: Cast) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    officer, dispatcher = auth(world.officer, quiet), auth(world.dispatcher, quiet)
    url = f"{V1}/cases/{case}"
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str | None]] = [
        ("close", {"version": 1}, dispatcher, 409, "illegal_transition"),
        ("close", {"version": 1}, officer, 403, "forbidden"),
        ("send_back", {"version": 1}, officer, 403, "forbidden"),
        ("teleport", {"version": 1}, officer, 422, None),
        ("escalate", {"version": 1}, dispatcher, 422, None),
        ("raise_tier", {"version": 1, "tier": "moderate"}, officer, 422, "invalid"),
        ("raise_tier", {"version": 1, "tier": "huge", "reason": "x"}, officer, 422, "invalid"),
        ("start", {"version": 1, "colour": "red"}, officer, 422, "invalid"),
        ("report_back", {"version": 1, "photos": ["ftp://x"]}, officer, 422, "invalid"),
        ("start", {"version": 0}, officer, 422, "invalid"),
    ]
    for action, body, who, status, code in cases:
        got = client.post(f"{url}/{action}", json=body, headers=who)
        assert got.status_code == status, (action, got.text)
        if code:
            assert got.json()["detail"][0]["code"] == code, (action, got.text)
    assert client.post(f"{url}/start", content=b"{}", headers=officer).status_code == 415
    elsewhere = auth(world.officer_elsewhere, quiet)
    assert client.get(url, headers=elsewhere).status_code == 404
    assert client.post(f"{url}/start", json={"version": 1}, headers=elsewhere).status_code == 404
    assert client.get(f"{V1}/cases/987654321", headers=dispatcher).status_code == 404
    assert row(engine, case)["version"] == 1  # nothing applied


def test_lists_filter_and_mask(
    client: TestClient, engine: Engine, quiet: Settings, world: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    for who, name in (
        (world.dispatcher, "陈小明"),
        (world.squad_leader, "陈*明"),
        (world.admin, "陈*明"),
        (world.analyst, None),
    ):
        got = client.get(
            f"{V1}/cases", params={"status": "dispatched", "size": 200}, headers=auth(who, quiet)
        )
        assert got.status_code == 200
        mine = [c for c in got.json()["items"] if c["id"] == case]
        assert mine, who.role
        assert mine[0].get("reporter_name") == name, who.role
        if name is None:
            assert "reporter_name" not in mine[0] and "reporter_phone" not in mine[0]
        # /api/v1/complaints/{id} too: plain, masked, or null for analysts
        old = client.get(f"{V1}/complaints/{case}", headers=auth(who, quiet)).json()
        assert old["reporter_name"] == name, who.role
    officer = auth(world.officer, quiet)
    mine = client.get(f"{V1}/cases", params={"holder": "me", "tier": "minor"}, headers=officer)
    assert mine.status_code == 200
    assert all(c["holder_role"] == "officer" for c in mine.json()["items"])
    late = client.get(f"{V1}/cases", params={"overdue": "true"}, headers=officer).json()["items"]
    assert all(c["overdue"] for c in late)
    for params in (
        {"status": "open"},
        {"tier": "x"},
        {"size": "0"},
        {"holder": "you"},
        {"page": "a"},
    ):
        bad = client.get(f"{V1}/cases", params=params, headers=officer)
        assert bad.status_code == 422, params


def test_open311_get_is_public_without_personal_data(
    client: TestClient, engine: Engine, quiet: Settings, world: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    got = client.get(f"/open311/v2/requests/{case}.json")
    assert got.status_code == 200
    (request,) = got.json()
    assert "陈" not in got.text and "13812345678" not in got.text and "138" not in got.text
    assert list(request) == REQUEST_FIELDS  # the standard's fields, nothing more


def test_open311_get_can_require_a_key(engine: Engine, quiet: Settings, world: Cast) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    keyed = quiet.model_copy(update={"open311_get_requires_key": True})
    key = create_api_key(engine, "keyed-gets")
    token = row(engine, case)["token"]
    with TestClient(create_app(keyed), raise_server_exceptions=False) as c:
        for path in (f"requests/{case}.json", "requests.xml", f"tokens/{token}.json"):
            refused = c.get(f"/open311/v2/{path}")
            assert refused.status_code == 403, path
            assert c.get(f"/open311/v2/{path}", params={"api_key": key}).status_code == 200
        doc = c.get("/openapi.json").json()
        assert "403" in doc["paths"]["/open311/v2/requests.{fmt}"]["get"]["responses"]
        assert c.get("/open311/v2/services.json").status_code == 200  # the list stays open
    with TestClient(create_app(quiet)) as c:
        doc = c.get("/openapi.json").json()
        assert "403" not in doc["paths"]["/open311/v2/requests.{fmt}"]["get"]["responses"]


# ---------------------------------------------------- every declared status ---

Call = Callable[[TestClient, TestClient, dict[str, Any]], Any]


def _moves(
    c: TestClient, f: dict[str, Any], action: str, body: dict[str, Any], **headers: str
) -> Any:
    return c.post(
        f"{V1}/cases/{f['case']}/{action}", json=body, headers={**f["officer"], **headers}
    )


def _table() -> dict[tuple[str, str], dict[int, Call]]:
    one = "/api/v1/cases/{case_id}"
    big = b'{"note": "' + b"x" * (300 * 1024) + b'"}'
    return {
        ("get", "/api/v1/cases"): {
            200: lambda c, d, f: c.get(f"{V1}/cases", headers=f["officer"]),
            401: lambda c, d, f: c.get(f"{V1}/cases"),
            422: lambda c, d, f: c.get(f"{V1}/cases?size=0", headers=f["officer"]),
            503: lambda c, d, f: d.get(f"{V1}/cases", headers=f["officer"]),
        },
        ("get", one): {
            200: lambda c, d, f: c.get(f"{V1}/cases/{f['case']}", headers=f["officer"]),
            401: lambda c, d, f: c.get(f"{V1}/cases/{f['case']}"),
            404: lambda c, d, f: c.get(f"{V1}/cases/{f['case']}", headers=f["elsewhere"]),
            422: lambda c, d, f: c.get(f"{V1}/cases/0", headers=f["officer"]),
            503: lambda c, d, f: d.get(f"{V1}/cases/{f['case']}", headers=f["officer"]),
        },
        ("post", one + "/{action}"): {
            200: lambda c, d, f: _moves(c, f, "reply", {"note": "已答复", "version": f["v"]()}),
            401: lambda c, d, f: c.post(f"{V1}/cases/{f['case']}/start", json={"version": 1}),
            403: lambda c, d, f: _moves(c, f, "close", {"version": 1}),
            404: lambda c, d, f: c.post(
                f"{V1}/cases/{f['case']}/start", json={"version": 1}, headers=f["elsewhere"]
            ),
            409: lambda c, d, f: _moves(c, f, "start", {"version": 1}),
            412: lambda c, d, f: _moves(c, f, "start", {}, **{"If-Match": '"0-0"'}),
            413: lambda c, d, f: c.post(
                f"{V1}/cases/{f['case']}/start",
                content=big,
                headers={**f["officer"], "Content-Type": "application/json"},
            ),
            415: lambda c, d, f: c.post(
                f"{V1}/cases/{f['case']}/start", content=b"{}", headers=f["officer"]
            ),
            422: lambda c, d, f: _moves(c, f, "start", {"version": "one"}),
            428: lambda c, d, f: _moves(c, f, "start", {}),
            503: lambda c, d, f: d.post(
                f"{V1}/cases/{f['case']}/start", json={"version": 1}, headers=f["officer"]
            ),
        },
    }


def test_every_declared_status_of_the_case_routes_is_reached(
    client: TestClient, down: TestClient, engine: Engine, quiet: Settings, world: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    fixtures = {
        "case": case,
        "officer": auth(world.officer, quiet),
        "elsewhere": auth(world.officer_elsewhere, quiet),
        "v": lambda: row(engine, case)["version"],
    }
    doc = client.get("/openapi.json").json()
    table = _table()
    declared = [
        (method, path, int(status), answer)
        for path, item in doc["paths"].items()
        if path.startswith("/api/v1/cases")
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
    ]
    assert {(m, p) for m, p, _, _ in declared} == set(table)
    for method, path, status, answer in declared:
        assert status in table[(method, path)], f"nothing reaches {status} of {method} {path}"
        got = table[(method, path)][status](client, down, fixtures)
        assert got.status_code == status, (method, path, got.status_code, got.text[:300])
        media = got.headers["content-type"].split(";")[0]
        schema = {**answer["content"][media]["schema"], "components": doc["components"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(got.json())]
        assert not errors, (method, path, status, errors[:3])
    for (method, path), calls in table.items():
        declared_here = {s for m, p, s, _ in declared if (m, p) == (method, path)}
        assert set(calls) == declared_here, (method, path)
