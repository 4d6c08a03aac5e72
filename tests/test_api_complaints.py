"""The complaint API over FastAPI's test client: answers, replays, and every 4xx."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Connection, Engine

from api.app import create_app
from cases.accounts.store import create_account
from cases.accounts.tokens import issue_token
from gis import crs as crsmod
from gis.locate import locate
from gis.settings import Settings

URL = "/api/v1/complaints"


@pytest.fixture
def client(settings: Settings, sample_layout: int) -> Iterator[TestClient]:
    """A client of the app on the test database; server errors come back as 500s."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


_counter = itertools.count()


@pytest.fixture(scope="module")
def staff(engine: Engine, settings: Settings) -> dict[str, str]:
    """The headers of an administrator: reads every case, the reporter masked (not handling)."""
    info = create_account(engine, f"complaints-admin-{id(settings)}", "admin", "correct horse 42")
    token, _ = issue_token(info.id, info.username, info.role, settings)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def point(conn: Connection) -> tuple[float, float, str]:
    """An interior point of a grid of the current generation, new for each test."""
    row = conn.execute(
        sa.text("""
        SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM grid_cell g JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
        ORDER BY g.code DESC OFFSET :n LIMIT 1"""),
        {"n": next(_counter) * 5 + 1},
    ).one()
    return float(row.lon), float(row.lat), str(row.code)


def body(lon: float | None = None, lat: float | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"subclass": "0401", "description": "桥底有流动摊贩占道"}
    if lon is not None:
        data.update(lon=lon, lat=lat)
    data.update(kw)
    return data


def post_raw(client: TestClient, text: str | bytes, **headers: str) -> Any:
    return client.post(URL, content=text, headers={"content-type": "application/json", **headers})


def errors_of(resp: Any) -> list[dict[str, Any]]:
    data = resp.json()
    assert set(data) == {"detail"}
    for item in data["detail"]:
        assert set(item) == {"code", "message", "field"} and item["message"]
    return list(data["detail"])


def count_cases(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())


# ------------------------------------------------------------------ answers


def test_post_then_get_by_id_and_token(
    client: TestClient,
    staff: dict[str, str],
    point: tuple[float, float, str],
) -> None:
    lon, lat, grid = point
    resp = client.post(
        URL,
        json=body(
            lon,
            lat,
            reporter_name="陈大文",
            reporter_phone="13900001234",
            photos=["https://img.example.cn/a.jpg"],
        ),
    )
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert resp.headers["location"] == f"{URL}/{data['id']}"
    assert resp.headers["content-type"].startswith("application/json")
    for key in (
        "id",
        "token",
        "status",
        "grid_code",
        "community",
        "station",
        "squad",
        "officers",
        "due_at",
        "subclass_name",
        "district",
    ):
        assert data[key] is not None, key
    assert data["status"] == "dispatched" and data["grid_code"] == grid
    assert data["officers"] and {"code", "name", "role", "on_duty"} == set(data["officers"][0])
    assert data["reporter_phone"] == "139****1234" and data["reporter_name"] == "陈*文"
    assert "13900001234" not in resp.text and "陈大文" not in resp.text
    assert data["photos"] == ["https://img.example.cn/a.jpg"]

    assert client.get(f"{URL}/{data['id']}").status_code == 401  # staff only
    again = client.get(f"{URL}/{data['id']}", headers=staff)
    assert again.status_code == 200 and again.json() == data

    public = client.get(f"{URL}/by-token/{data['token']}")
    assert public.status_code == 200
    pdata = public.json()
    assert pdata["case_id"] == data["id"] and pdata["status"] == "dispatched"
    assert pdata["grid_code"] == grid and not pdata["merged"]
    for private in (
        "reporter_name",
        "reporter_phone",
        "officers",
        "description",
        "address",
        "officer_code",
    ):
        assert private not in pdata
    assert "13900001234" not in public.text and "陈" not in public.text

    assert client.get(f"{URL}/{data['id']}/events").status_code == 401
    events = client.get(f"{URL}/{data['id']}/events", headers=staff).json()
    assert [e["kind"] for e in events] == ["created", "located", "dispatched"]


def test_duplicate_via_api_follows_master(
    client: TestClient,
    point: tuple[float, float, str],
) -> None:
    lon, lat, _ = point
    first = client.post(URL, json=body(lon, lat, subclass="0403")).json()
    second = client.post(URL, json=body(lon + 0.00001, lat, subclass="0403")).json()
    assert second["status"] == "duplicate" and second["master_id"] == first["id"]
    public = client.get(f"{URL}/by-token/{second['token']}").json()
    assert public["case_id"] == first["id"] and public["merged"]
    assert public["report_count"] == 2


def test_every_crs_via_api(client: TestClient, point: tuple[float, float, str]) -> None:
    lon, lat, grid = point
    for crs in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        x, y = crsmod.from_wgs84(lon, lat, crs)
        resp = client.post(URL, json=body(x, y, crs=crs, subclass="0501"))
        assert resp.status_code == 201, resp.text
        assert resp.json()["grid_code"] == grid, crs
        located = client.get("/api/v1/locate", params={"lon": x, "lat": y, "crs": crs})
        assert located.json()["grid_code"] == grid


def test_address_only_and_neither(client: TestClient) -> None:
    resp = client.post(URL, json=body(address="东华路与跃进路交界"))
    assert resp.status_code == 201 and resp.json()["status"] == "received"
    resp = client.post(URL, json=body())
    assert resp.status_code == 422
    assert errors_of(resp)[0]["field"] == "lon,lat"


def test_html_is_returned_as_text(
    client: TestClient, staff: dict[str, str], point: tuple[float, float, str]
) -> None:
    lon, lat, _ = point
    text = '<script>alert("x")</script><b onclick=steal()>摊</b>'
    resp = client.post(URL, json=body(lon, lat, subclass="0205", description=text))
    assert resp.status_code == 201
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.json()["description"] == text
    read = client.get(f"{URL}/{resp.json()['id']}", headers=staff)
    assert read.json()["description"] == text


def test_locate_answers_as_grid_locate(
    client: TestClient,
    conn: Connection,
    point: tuple[float, float, str],
) -> None:
    lon, lat, _ = point
    resp = client.get("/api/v1/locate", params={"lon": lon, "lat": lat})
    assert resp.status_code == 200
    assert resp.json() == json.loads(json.dumps(locate(conn, lon, lat).as_dict()))
    far = client.get("/api/v1/locate", params={"lon": 2.35, "lat": 48.85})
    assert far.status_code == 200 and far.json()["method"] == "outside"


def test_catalogue(client: TestClient) -> None:
    resp = client.get("/api/v1/catalogue")
    assert resp.status_code == 200
    classes = resp.json()["classes"]
    assert [c["code"] for c in classes] == ["01", "02", "03", "04", "05"]
    assert classes[3]["subclasses"][0]["name"] == "占道经营"


# -------------------------------------------------------------- idempotency


def test_idempotent_retry(
    client: TestClient, engine: Engine, point: tuple[float, float, str]
) -> None:
    lon, lat, _ = point
    payload = body(lon, lat, subclass="0302")
    first = client.post(URL, json=payload, headers={"Idempotency-Key": "retry-abc-1"})
    assert first.status_code == 201
    n = count_cases(engine)
    # the same request, spelt differently (key order, spacing), is the same request
    respelt = json.dumps(dict(reversed(list(payload.items()))), indent=2)
    again = post_raw(client, respelt, **{"Idempotency-Key": "retry-abc-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert count_cases(engine) == n
    other = client.post(
        URL, json={**payload, "description": "另一件事"}, headers={"Idempotency-Key": "retry-abc-1"}
    )
    assert other.status_code == 409
    assert "different request body" in errors_of(other)[0]["message"]
    assert count_cases(engine) == n
    long_key = client.post(URL, json=payload, headers={"Idempotency-Key": "k" * 201})
    assert long_key.status_code == 422
    assert errors_of(long_key)[0]["field"] == "Idempotency-Key"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('{"subclass": "0401", "lon": NaN, "lat": 22.6}', "lon", "finite"),
        ('{"subclass": "0401", "lon": 113.1, "lat": Infinity}', "lat", "finite"),
        ('{"subclass": "0401", "lon": -Infinity, "lat": 22.6}', "lon", "finite"),
        ('{"subclass": "0401", "lon": 1e400, "lat": 22.6}', "lon", "finite"),
        ('{"subclass": "0401", "lon": 113.1, "lat": 95}', "lon,lat", "-90..90"),
        ('{"subclass": "0401", "lon": 22.6, "lat": 113.1}', "lon,lat", "swapped"),
        ('{"subclass": "0401", "lon": 2.35, "lat": 48.85}', "lon,lat", "outside China"),
        ('{"subclass": "0401", "lon": "east", "lat": 22.6}', "lon", "number"),
        ('{"subclass": "0401", "lon": 113.1, "lat": 22.6, "crs": "mars"}', "crs", "unknown CRS"),
        (
            '{"subclass": "0401", "lon": 113.1, "lat": 22.6, "crs": "EPSG:5773"}',
            "crs",
            "unknown CRS",
        ),
        ('{"subclass": "9999", "address": "x"}', "subclass", "unknown subclass"),
        ('{"address": "x"}', "subclass", "required"),
        ('{"subclass": "0401", "lon": 113.1}', "lon,lat", "together"),
        (
            '{"subclass": "0401", "address": "x", "description": "' + "长" * 2001 + '"}',
            "description",
            "2000",
        ),
        ('{"subclass": "0401", "address": "x", "description": "a\\u0000b"}', "description", "NUL"),
        (
            '{"subclass": "0401", "address": "x", "description": "\\ud800"}',
            "description",
            "Unicode",
        ),
        (
            '{"subclass": "0401", "address": "x", "reporter_phone": "<b>"}',
            "reporter_phone",
            "phone",
        ),
        (
            '{"subclass": "0401", "address": "x", "photos": ["javascript:alert(1)"]}',
            "photos",
            "http",
        ),
        (
            '{"subclass": "0401", "address": "x", "reported_at": "yesterday"}',
            "reported_at",
            "datetime",
        ),
        ('{"subclass": "0401", "address": "x", "lng": 113.1}', "lng", "unknown field"),
        ('{"subclass": "0401 "}', "lon,lat", "place"),
        ('{"subclass": "0401", "lon": 10' + "0" * 400 + ', "lat": 22.6}', "lon", ""),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    client: TestClient,
    text: str,
    field: str,
    words: str,
) -> None:
    resp = post_raw(client, text)
    assert resp.status_code == 422, resp.text
    items = errors_of(resp)
    hit = [i for i in items if i["field"] == field]
    assert hit, items
    assert words.lower() in hit[0]["message"].lower(), hit


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"subclass": "0401", ', "malformed JSON"),
        ("", "empty"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        (b"\xff\xfe{", "UTF-8"),
    ],
)
def test_malformed_bodies(client: TestClient, text: str | bytes, words: str) -> None:
    resp = post_raw(client, text)
    assert resp.status_code == 422, resp.text
    assert words in errors_of(resp)[0]["message"]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    resp = client.post(
        URL, content="subclass=0401", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 415
    assert "application/json" in errors_of(resp)[0]["message"]
    assert client.post(URL, content=b"{}").status_code == 415  # no content type at all


def test_oversized_bodies_are_413(client: TestClient, settings: Settings) -> None:
    limit = settings.api_max_body_bytes
    big = json.dumps(body(address="x", description="y" * (limit + 10)))
    assert post_raw(client, big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
        yield b'{"subclass": "0401", "description": "'
        for _ in range(limit // 4096 + 2):
            yield b"z" * 4096
        yield b'"}'

    resp = client.post(URL, content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert errors_of(resp)[0]["code"] == "too_large"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{URL}/abc", 422),
        (f"{URL}/0", 422),
        (f"{URL}/-5", 422),
        (f"{URL}/99999999999999999999999", 422),
        (f"{URL}/1.5", 422),
        (f"{URL}/987654321", 404),
        (f"{URL}/987654321/events", 404),
        (f"{URL}/by-token/nope", 404),
        (f"{URL}/by-token/AAAAAAAAAAAAAAAA", 404),
        (f"{URL}/by-token/{'x' * 65}", 422),
        ("/api/v1/locate?lon=113.1", 422),
        ("/api/v1/locate?lon=abc&lat=22.6", 422),
        ("/api/v1/locate?lon=nan&lat=22.6", 422),
        ("/api/v1/locate?lon=113.1&lat=inf", 422),
        ("/api/v1/locate?lon=22.6&lat=113.1", 422),
        ("/api/v1/locate?lon=113&lat=22&crs=x", 422),
    ],
)
def test_get_errors(client: TestClient, staff: dict[str, str], path: str, status: int) -> None:
    resp = client.get(path, headers=staff)
    assert resp.status_code == status, resp.text
    assert errors_of(resp)


def test_swapped_locate_says_so(client: TestClient) -> None:
    resp = client.get("/api/v1/locate", params={"lon": 22.6, "lat": 113.1})
    assert "swapped" in errors_of(resp)[0]["message"]
    resp = client.get("/api/v1/locate", params={"lon": 113, "lat": 22, "crs": "bogus"})
    assert errors_of(resp)[0]["field"] == "crs"


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1e308,
    -1e-308,
    10**30,
    "",
    " ",
    "x" * 5000,
    [],
    {},
    [1],
    {"a": 1},
    "\u0000",
    "2026-13-45T99:00:00+08:00",
    "https://",
    "<svg onload=alert(1)>",
    "１１３.０",
]
FIELDS = [
    "lon",
    "lat",
    "crs",
    "subclass",
    "description",
    "reporter_name",
    "reporter_phone",
    "address",
    "photos",
    "reported_at",
]


@pytest.mark.parametrize("field", FIELDS)
def test_odd_values_never_500(
    client: TestClient, point: tuple[float, float, str], field: str
) -> None:
    lon, lat, _ = point
    for value in ODD_VALUES:
        payload = {**body(lon, lat, subclass="0504", address="x"), field: value}
        resp = post_raw(client, json.dumps(payload))
        assert resp.status_code in (201, 422), (field, value, resp.text)
        if resp.status_code == 422:
            assert errors_of(resp)


def test_method_not_allowed(client: TestClient) -> None:
    assert client.delete(f"{URL}/1").status_code == 405
    assert client.put(URL, json={}).status_code == 405


def test_openapi_documents_the_body(client: TestClient) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    ref = doc["paths"][URL]["post"]["requestBody"]["content"]["application/json"]["schema"]
    body_schema = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    props = body_schema["properties"]
    assert {"lon", "lat", "crs", "subclass", "description", "photos"} <= set(props)
    subclass = doc["components"]["schemas"]["SubclassCode"]
    assert subclass["enum"][:2] == ["0101", "0102"] and "0505" in subclass["enum"]
