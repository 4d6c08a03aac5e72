"""The OpenAPI contract, checked by schemathesis against the app on the test database.

Every operation of the document is exercised with every check schemathesis
has (server errors, status codes, content types, response schemas and
headers, positive data accepted, negative data refused, undeclared methods
answered 405 with `Allow`, authentication not ignored), with a fixed seed and
a fixed budget. Open311 POSTs carry a real API key through the declared
`api_key` scheme.

JSON Schema states types, ranges, lengths, patterns, enums and which fields go
together; the document states all of those. A few rules relate a value to
another value, to the clock or to the PROJ database, which no schema can
state; they are written in the descriptions, and the generator is told of
them here (format `epsg`, `repair_positive`), for positive cases only:
- an `EPSG:n` code must be one PROJ knows (drawn from known geographic ones);
- a point sent in GCJ-02, BD-09 or another datum is checked after conversion,
  so within a few hundred metres of the edge of the China box it may fall
  outside (such cases are sent in WGS84 instead);
- reported_at may not be in the future;
- an Open311 query's start_date and end_date are at most 90 days apart, in
  order, and real calendar dates;
- first_name and last_name together make the reporter's name (at most 50).
Negative cases are never changed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from other_database import MISSING, on_database
from schemathesis.generation.case import Case
from sqlalchemy.engine import Engine

from api.app import create_app
from api.schemas import china_box
from cases.accounts.store import create_account
from cases.accounts.tokens import issue_token
from cases.apikeys import create_api_key
from cases.open311 import parse_w3c_datetime
from gis.settings import Settings, get_settings

# The settings are bound to this session's test database (tests/conftest.py) by
# the time this module is imported; the database itself is made by the fixtures
# the test asks for, before the first request.
app = create_app(get_settings())
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app = app

# EPSG codes PROJ knows whose coordinates are WGS84's own degrees (4326 and CGCS2000).
schemathesis.openapi.format("epsg", st.sampled_from(["EPSG:4326", "EPSG:4490", "epsg:4326"]))

SAME_AS_WGS84 = {"wgs84", "cgcs2000", "epsg:4326", "epsg:4490"}
EDGE_DEGREES = 0.05
"""How close to an edge a converted point may move (GCJ-02/BD-09 shifts are < 0.02°)."""


def _near_edge(x: Any, y: Any, box: tuple[float, float, float, float]) -> bool:
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        return False
    x0, x1, y0, y1 = box
    return min(x - x0, x1 - x, y - y0, y1 - y) < EDGE_DEGREES


def _converted_near_edge(values: dict[str, Any], lon: str, lat: str, box: Any) -> None:
    crs = str(values.get("crs", "wgs84")).strip().lower()
    if crs.startswith("epsg:") and crs not in SAME_AS_WGS84:
        values["crs"] = crs = "epsg:4326"  # a code PROJ does not know (e.g. EPSG:0)
    if crs not in SAME_AS_WGS84 and _near_edge(values.get(lon), values.get(lat), box):
        values["crs"] = "wgs84"


def _window(query: dict[str, Any]) -> None:
    start, end = query.get("start_date"), query.get("end_date")
    parsed = {}
    for name, value in (("start_date", start), ("end_date", end)):
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            parsed[name] = parse_w3c_datetime(value, name)
        except Exception:  # not a real calendar date (e.g. 30 February)
            query[name] = "2021-03-01"
            parsed[name] = datetime(2021, 3, 1, tzinfo=UTC)
    if len(parsed) == 2:
        span = parsed["end_date"] - parsed["start_date"]
        if not timedelta(0) <= span <= timedelta(days=90):
            del query["end_date"]
    elif "start_date" in parsed and parsed["start_date"].date() > date(9999, 9, 1):
        query["start_date"] = "9999-09-01"


@schema.hook("map_case")
def repair_positive(context: Any, case: Case) -> Case:
    """Positive cases obey the rules no schema can state (see the module's docstring)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    path = case.operation.path
    body = case.body if isinstance(case.body, dict) else None
    if path == "/api/v1/complaints" and body is not None:
        _converted_near_edge(body, "lon", "lat", china_box())
        seen = body.get("reported_at")
        if isinstance(seen, str):
            try:
                if datetime.fromisoformat(seen.replace("Z", "+00:00")) > datetime.now(UTC):
                    body["reported_at"] = "2024-05-01T08:00:00+08:00"
            except ValueError:
                pass
    elif path == "/api/v1/locate" and case.query:
        _converted_near_edge(case.query, "lon", "lat", (-180.0, 180.0, -90.0, 90.0))
    elif path == "/open311/v2/requests.{fmt}" and case.method == "GET" and case.query:
        _window(case.query)
    elif path == "/open311/v2/requests.{fmt}" and body is not None:
        _converted_near_edge(body, "long", "lat", china_box())
        first, last = str(body.get("first_name", "")), str(body.get("last_name", ""))
        if len(first) + len(last) > 49:
            body.pop("last_name", None)
    return case


KEY_PLACEHOLDER = "cg_key_of_the_test"
"""What the auth provider sets (cases are made at collection, before any database)."""


@pytest.fixture(scope="module")
def api_key(engine: Engine) -> str:
    """A real Open311 API key, made once for this module."""
    return create_api_key(engine, "schemathesis")


@schema.auth().apply_to(method="POST", path_regex="^/open311/")
class Open311Key:
    """The api_key scheme of Open311 POSTs (query parameter `api_key`)."""

    def get(self, case: Case, context: Any) -> str:
        """A placeholder; the test puts the real key in its place."""
        return KEY_PLACEHOLDER

    def set(self, case: Case, data: str, context: Any) -> None:
        """Send it as the scheme says: in the query."""
        case.query = {**(case.query or {}), "api_key": data}


@schema.parametrize()
@hypothesis_settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_contract(case: Case, sample_layout: int, api_key: str) -> None:
    """Each operation: generated requests, all checks, zero failures."""
    if case.query and case.query.get("api_key") == KEY_PLACEHOLDER:
        case.query["api_key"] = api_key
    case.call_and_validate()


# ------------------------------------------- every declared status, reached ---

V1 = "/api/v1"
V2 = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def client(settings: Settings, sample_layout_module: int) -> Iterator[TestClient]:
    """The app on the test database."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def sample_layout_module(engine: Engine, settings: Settings) -> int:
    """The sample layout, for this module's clients."""
    from sample.seed import load_sample

    return load_sample(engine, settings=settings).generation


@pytest.fixture(scope="module")
def down(settings: Settings) -> Iterator[TestClient]:
    """The app on a database that does not exist (the server cannot be reached)."""
    unreachable = on_database(settings, MISSING)
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def place(engine: Engine, sample_layout_module: int) -> tuple[float, float]:
    """An interior point of a grid far from the ones other tests use."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM grid_cell g
            JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
            ORDER BY g.code OFFSET 333 LIMIT 1""")
        ).one()
    return float(row.lon), float(row.lat)


@pytest.fixture(scope="module")
def filed(
    client: TestClient, engine: Engine, settings: Settings, place: tuple[float, float]
) -> dict[str, Any]:
    """A complaint filed through the API, and (`_staff`) the headers of staff who may
    read it (the case reads need a token: cases.access)."""
    lon, lat = place
    resp = client.post(f"{V1}/complaints", json={"lon": lon, "lat": lat, "subclass": "0302"})
    assert resp.status_code == 201, resp.text
    info = create_account(engine, "contract-dispatcher", "dispatcher", "correct horse 42")
    token, _ = issue_token(info.id, info.username, info.role, settings)
    return {**resp.json(), "_staff": {"Authorization": f"Bearer {token}"}}


Call = Callable[[TestClient, TestClient, dict[str, Any], str], Any]
"""(client on the test database, client on no database, a filed case, api key) → response."""


def _complaint(place: tuple[float, float]) -> dict[str, Any]:
    return {"lon": place[0], "lat": place[1], "subclass": "0303", "description": "contract"}


def _conflict(c: TestClient, place: tuple[float, float]) -> Any:
    key = {"Idempotency-Key": "contract-409"}
    first = c.post(f"{V1}/complaints", json=_complaint(place), headers=key)
    assert first.status_code == 201
    return c.post(f"{V1}/complaints", json={**_complaint(place), "description": "x"}, headers=key)


def _open311_conflict(c: TestClient, key: str) -> Any:
    fields = {"api_key": key, "service_code": "0101", "address_string": "契约测试"}
    idem = {**FORM, "Idempotency-Key": "contract-311-409"}
    assert c.post(f"{V2}/requests.json", data=fields, headers=idem).status_code == 200
    return c.post(f"{V2}/requests.json", data={**fields, "description": "x"}, headers=idem)


def reach(place: tuple[float, float]) -> dict[tuple[str, str], dict[int, Call]]:
    """For every operation, a request that gets each status it declares."""
    big = b"x" * (300 * 1024)
    case_path = "/api/v1/complaints/{case_id}"
    return {
        ("get", "/healthz"): {
            200: lambda c, d, f, k: c.get("/healthz"),
            503: lambda c, d, f, k: d.get("/healthz"),
        },
        ("post", "/api/v1/complaints"): {
            201: lambda c, d, f, k: c.post(f"{V1}/complaints", json=_complaint(place)),
            409: lambda c, d, f, k: _conflict(c, place),
            413: lambda c, d, f, k: c.post(
                f"{V1}/complaints", content=big, headers={"Content-Type": "application/json"}
            ),
            415: lambda c, d, f, k: c.post(f"{V1}/complaints", content=b"{}"),
            422: lambda c, d, f, k: c.post(f"{V1}/complaints", json={"subclass": "9999"}),
            503: lambda c, d, f, k: d.post(f"{V1}/complaints", json=_complaint(place)),
        },
        ("get", "/api/v1/complaints/by-token/{token}"): {
            200: lambda c, d, f, k: c.get(f"{V1}/complaints/by-token/{f['token']}"),
            404: lambda c, d, f, k: c.get(f"{V1}/complaints/by-token/nosuchtoken"),
            422: lambda c, d, f, k: c.get(f"{V1}/complaints/by-token/{'t' * 65}"),
            503: lambda c, d, f, k: d.get(f"{V1}/complaints/by-token/{f['token']}"),
        },
        ("get", case_path): {
            200: lambda c, d, f, k: c.get(f"{V1}/complaints/{f['id']}", headers=f["_staff"]),
            401: lambda c, d, f, k: c.get(f"{V1}/complaints/{f['id']}"),
            404: lambda c, d, f, k: c.get(f"{V1}/complaints/987654321", headers=f["_staff"]),
            422: lambda c, d, f, k: c.get(f"{V1}/complaints/0", headers=f["_staff"]),
            503: lambda c, d, f, k: d.get(f"{V1}/complaints/{f['id']}", headers=f["_staff"]),
        },
        ("get", case_path + "/events"): {
            200: lambda c, d, f, k: c.get(f"{V1}/complaints/{f['id']}/events", headers=f["_staff"]),
            401: lambda c, d, f, k: c.get(f"{V1}/complaints/{f['id']}/events"),
            404: lambda c, d, f, k: c.get(f"{V1}/complaints/987654321/events", headers=f["_staff"]),
            422: lambda c, d, f, k: c.get(f"{V1}/complaints/x/events", headers=f["_staff"]),
            503: lambda c, d, f, k: d.get(f"{V1}/complaints/{f['id']}/events", headers=f["_staff"]),
        },
        ("get", "/api/v1/locate"): {
            200: lambda c, d, f, k: c.get(f"{V1}/locate", params={"lon": 113.08, "lat": 22.6}),
            422: lambda c, d, f, k: c.get(f"{V1}/locate", params={"lon": 22.6, "lat": 113.08}),
            503: lambda c, d, f, k: d.get(f"{V1}/locate", params={"lon": 113.08, "lat": 22.6}),
        },
        ("get", "/api/v1/catalogue"): {200: lambda c, d, f, k: c.get(f"{V1}/catalogue")},
        ("get", "/open311/v2/discovery.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/discovery.xml"),
            404: lambda c, d, f, k: c.get(f"{V2}/discovery.yaml"),
        },
        ("get", "/open311/v2/services.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/services.json"),
            400: lambda c, d, f, k: c.get(f"{V2}/services.json?jurisdiction_id=%01"),
            404: lambda c, d, f, k: c.get(f"{V2}/services.json?jurisdiction_id=sfgov.org"),
        },
        ("get", "/open311/v2/services/{service_code}.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/services/0101.json"),
            400: lambda c, d, f, k: c.get(f"{V2}/services/0101.xml?jurisdiction_id=%01"),
            404: lambda c, d, f, k: c.get(f"{V2}/services/9999.json"),
        },
        ("get", "/open311/v2/requests.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/requests.json"),
            400: lambda c, d, f, k: c.get(f"{V2}/requests.json?status=pending"),
            404: lambda c, d, f, k: c.get(f"{V2}/requests.xml?jurisdiction_id=sfgov.org"),
            503: lambda c, d, f, k: d.get(f"{V2}/requests.json"),
        },
        ("get", "/open311/v2/requests/{service_request_id}.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/requests/{f['id']}.json"),
            400: lambda c, d, f, k: c.get(f"{V2}/requests/{f['id']}.json?jurisdiction_id=%01"),
            404: lambda c, d, f, k: c.get(f"{V2}/requests/987654321.xml"),
            503: lambda c, d, f, k: d.get(f"{V2}/requests/{f['id']}.json"),
        },
        ("get", "/open311/v2/tokens/{token}.{fmt}"): {
            200: lambda c, d, f, k: c.get(f"{V2}/tokens/{f['token']}.json"),
            400: lambda c, d, f, k: c.get(f"{V2}/tokens/{f['token']}.json?jurisdiction_id=%01"),
            404: lambda c, d, f, k: c.get(f"{V2}/tokens/nosuchtoken.json"),
            503: lambda c, d, f, k: d.get(f"{V2}/tokens/{f['token']}.json"),
        },
        ("post", "/open311/v2/requests.{fmt}"): {
            200: lambda c, d, f, k: c.post(
                f"{V2}/requests.json",
                data={"api_key": k, "service_code": "0101", "address_string": "某路"},
                headers=FORM,
            ),
            400: lambda c, d, f, k: c.post(f"{V2}/requests.json", data={"api_key": k}),
            403: lambda c, d, f, k: c.post(f"{V2}/requests.xml", data={"service_code": "0101"}),
            404: lambda c, d, f, k: c.post(
                f"{V2}/requests.json", data={"api_key": k, "service_code": "9999"}
            ),
            409: lambda c, d, f, k: _open311_conflict(c, k),
            413: lambda c, d, f, k: c.post(f"{V2}/requests.xml", content=big, headers=FORM),
            503: lambda c, d, f, k: d.post(
                f"{V2}/requests.json", data={"api_key": k, "service_code": "0101"}
            ),
        },
    }


DOORS = ("/healthz", f"{V1}/complaints", f"{V1}/locate", f"{V1}/catalogue", V2)
"""The paths this table covers (the complaint API and Open311)."""


def _declared(doc: dict[str, Any]) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                yield method, path, int(status), answer


def _check_body(doc: dict[str, Any], answer: dict[str, Any], resp: Any) -> None:
    media = resp.headers["content-type"].split(";")[0]
    declared = answer["content"]
    assert media in declared, (media, list(declared))
    if media == "text/xml":
        ET.fromstring(resp.content)  # well-formed
        return
    schema = {**declared[media]["schema"], "components": doc["components"]}
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(resp.json())]
    assert not errors, (errors[:3], resp.text[:300])


def test_every_declared_status_is_reached(
    client: TestClient,
    down: TestClient,
    filed: dict[str, Any],
    api_key: str,
    place: tuple[float, float],
) -> None:
    """Each status the document declares on an operation is one the operation answers,
    with the body the document gives for it; none is declared that cannot happen."""
    doc = client.get("/openapi.json").json()
    table = reach(place)
    declared = [d for d in _declared(doc) if d[1].startswith(DOORS)]
    assert {(m, p) for m, p, _, _ in declared} == set(table)
    for method, path, status, answer in declared:
        assert status in table[(method, path)], f"nothing reaches {status} of {method} {path}"
        resp = table[(method, path)][status](client, down, filed, api_key)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text[:300])
        _check_body(doc, answer, resp)
        if status == 503:
            assert path == "/healthz" or resp.headers["retry-after"].isdigit()
    assert {s for _, _, s, _ in declared} == {
        200,
        201,
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        503,
    }


# --------------------------------------------------------------- 405 + Allow ---


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{V1}/complaints", "POST"),
        ("GET", f"{V1}/complaints", "POST"),
        ("DELETE", f"{V1}/complaints/1", "GET, HEAD"),
        ("TRACE", f"{V1}/complaints/by-token/abc", "GET, HEAD"),
        ("OPTIONS", f"{V1}/locate", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", f"{V2}/requests.json", "GET, HEAD, POST"),
        ("PATCH", f"{V2}/requests.xml", "GET, HEAD, POST"),
        ("POST", f"{V2}/services.xml", "GET, HEAD"),
        ("PUT", f"{V2}/tokens/abc.json", "GET, HEAD"),
    ],
)
def test_405_names_every_allowed_method(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    """A method a path does not answer is 405 with Allow listing every one it does
    (across routes: Open311's requests has a GET route and a POST route)."""
    resp = client.request(method, path)
    assert resp.status_code == 405, resp.text
    assert resp.headers["allow"] == allow
    if path.endswith(".xml"):
        assert ET.fromstring(resp.content).findtext("error/code") == "405"
    elif path.startswith(V2):
        assert resp.json()[0]["code"] == 405
    else:
        assert resp.json()["detail"][0]["code"] == "method_not_allowed"


# ------------------------------------------------------------- body limits ---


@pytest.fixture(scope="module")
def small(settings: Settings, sample_layout_module: int) -> Iterator[TestClient]:
    """The app with a body limit of 2 KiB."""
    limited = settings.model_copy(update={"api_max_body_bytes": 2048})
    with TestClient(create_app(limited), raise_server_exceptions=False) as c:
        yield c


def _chunks(head: bytes, size: int, tail: bytes = b"") -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): head, `size` filler bytes, tail."""
    yield head
    for _ in range(size // 512):
        yield b"z" * 512
    yield tail


def count_cases(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())


def test_chunked_bodies_over_the_limit_are_413(
    small: TestClient, engine: Engine, api_key: str
) -> None:
    """Without a Content-Length the bytes are counted as they arrive; both doors say 413
    in their own format, and nothing is filed."""
    before = count_cases(engine)
    json_ct = {"Content-Type": "application/json"}
    resp = small.post(
        f"{V1}/complaints",
        content=_chunks(b'{"subclass": "0101", "address": "x", "description": "', 4096, b'"}'),
        headers=json_ct,
    )
    assert "content-length" not in resp.request.headers
    assert resp.status_code == 413 and resp.json()["detail"][0]["code"] == "too_large"
    form = _chunks(f"api_key={api_key}&service_code=0101&address_string=".encode(), 4096)
    resp = small.post(f"{V2}/requests.xml", content=form, headers=FORM)
    assert resp.status_code == 413
    assert ET.fromstring(resp.content).findtext("error/code") == "413"
    boundary = "contractboundary"
    multipart = _chunks(
        f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'.encode(),
        4096,
        f"\r\n--{boundary}--\r\n".encode(),
    )
    resp = small.post(
        f"{V2}/requests.json?api_key={api_key}",
        content=multipart,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status_code == 413 and resp.json()[0]["code"] == 413
    assert count_cases(engine) == before
    # under the limit, chunked is fine
    resp = small.post(
        f"{V1}/complaints",
        content=_chunks(b'{"subclass": "0101", "address": "x", "description": "', 512, b'"}'),
        headers=json_ct,
    )
    assert resp.status_code == 201, resp.text
    assert count_cases(engine) == before + 1


def test_declared_length_over_the_limit_is_413_before_reading(small: TestClient) -> None:
    """A Content-Length over the limit is refused at once, and the connection closed."""
    resp = small.post(
        f"{V1}/complaints",
        content=b"{" + b" " * 3000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.headers["connection"] == "close"
    assert resp.json()["detail"][0]["field"] is None
    # GET bodies are never read, so never refused
    resp = small.request("GET", f"{V1}/catalogue", content=b"x" * 3000)
    assert resp.status_code == 200
