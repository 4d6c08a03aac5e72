"""Open311 GeoReport v2 under /open311/v2/: every resource, both formats, every error.

Reading tests use cases written straight into the test database in windows of
time nobody else uses (March 2021, January 2020), so filters, windows and
pages can be checked exactly while other tests add cases of their own. POST
tests go through the real intake and a real API key.
"""

from __future__ import annotations

import json
import uuid
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from open311_spec import REQUEST_FIELDS, SERVICE_FIELDS
from sqlalchemy.engine import Engine
from starlette.exceptions import StarletteDeprecationWarning

from api.app import create_app
from cases.apikeys import create_api_key, revoke_api_key, verify_api_key
from cases.catalogue import load_catalogue
from cases.lifecycle.states import STATE_CODES
from cases.open311 import JURISDICTION_ID, LOCAL_TZ, MAX_RESULTS
from gis.settings import Settings

with warnings.catch_warnings():
    # Starlette asks for httpx2 in place of httpx (a dev dependency of the project);
    # the test client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

V2 = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def local(text: str) -> datetime:
    """A Beijing-time datetime from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)


# ----------------------------------------------------------------- fixtures ---


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def api_key(engine: Engine) -> str:
    return create_api_key(engine, "open311 tests")


@dataclass(frozen=True)
class Place:
    station_code: str
    station_name: str
    squad_code: str
    squad_name: str
    lon: float
    lat: float


@pytest.fixture(scope="module")
def place(engine: Engine, settings: Settings) -> Place:
    """A point inside a grid of the sample layout, with its station and squad."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            SELECT st.code AS station_code, st.name AS station_name,
                   sq.code AS squad_code, sq.name AS squad_name,
                   ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM grid_cell g
            JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
            JOIN station st ON st.community_code = g.community_code
            JOIN squad_community sc ON sc.community_code = g.community_code
            JOIN squad sq ON sq.code = sc.squad_code
            ORDER BY g.code LIMIT 1""")
        ).one()
    return Place(**row._mapping)


CODES = [s.code for s in load_catalogue().subclasses]
CODE_A, CODE_B, CODE_C = CODES[0], CODES[6], CODES[12]


def insert_case(engine: Engine, **values: Any) -> int:
    """Write one case row directly (reading tests need exact times and statuses)."""
    row: dict[str, Any] = {
        "token": uuid.uuid4().hex[:24],
        "status": "dispatched",
        "subclass_code": CODE_A,
        "tier": "minor",
        "description": "",
        "address": "",
        "source": "test",
        "locate_method": "contained",
        "photos": "[]",
        "lon": None,
        "lat": None,
    }
    row.update(values)
    row.setdefault("created_at", row["reported_at"])
    lon, lat = row.pop("lon"), row.pop("lat")
    cols = list(row)
    geom = "NULL" if lon is None else "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    sql = (
        f"INSERT INTO case_file ({', '.join(cols)}, geom) VALUES "
        f"({', '.join(':' + c if c != 'photos' else 'CAST(:photos AS jsonb)' for c in cols)}, "
        f"{geom}) RETURNING id"
    )
    with engine.begin() as conn:
        return int(conn.execute(sa.text(sql), {**row, "lon": lon, "lat": lat}).scalar_one())


def add_event(engine: Engine, case_id: int, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO case_event (case_id, at, kind, actor) VALUES (:c, :at, 'note', 'test')"
            ),
            {"c": case_id, "at": at},
        )


@dataclass(frozen=True)
class March:
    """Cases of March 2021 (and one just before it), by role."""

    open_a: int
    closed_a: int
    merged_a: int
    merged_closed: int
    referred_b: int
    unlocated_b: int
    last_c: int
    before: int
    token: str

    @property
    def inside(self) -> set[int]:
        return {
            self.open_a,
            self.closed_a,
            self.merged_a,
            self.merged_closed,
            self.referred_b,
            self.unlocated_b,
            self.last_c,
        }


@pytest.fixture(scope="module")
def march(engine: Engine, place: Place) -> March:
    where = {
        "lon": place.lon,
        "lat": place.lat,
        "station_code": place.station_code,
        "squad_code": place.squad_code,
        "grid_code": None,
    }
    token = "tok" + uuid.uuid4().hex[:20]
    open_a = insert_case(
        engine,
        **where,
        token=token,
        reported_at=local("2021-03-02 09:00"),
        due_at=local("2021-03-02 17:00"),
        description="门口垃圾堆放",
        address="蓬江区建设路1号",
        photos='["https://img.example.cn/a.jpg", "https://x/b.jpg"]',
    )
    add_event(engine, open_a, local("2021-03-04 10:30"))
    closed_a = insert_case(
        engine,
        **where,
        status="closed",
        reported_at=local("2021-03-05 08:00"),
        closed_at=local("2021-03-06 12:00"),
        status_note="已清理完毕",
    )
    merged_a = insert_case(
        engine,
        **where,
        status="duplicate",
        master_id=open_a,
        reported_at=local("2021-03-03 10:00"),
    )
    merged_closed = insert_case(
        engine,
        **where,
        status="duplicate",
        master_id=closed_a,
        reported_at=local("2021-03-20 10:00"),
        status_note=f"与案件 {closed_a} 重复，已合并",
    )
    referred_b = insert_case(
        engine,
        subclass_code=CODE_B,
        status="referred_out",
        locate_method="outside",
        lon=113.2,
        lat=22.5,
        reported_at=local("2021-03-10 10:00"),
        status_note="转办：江海区",
    )
    unlocated_b = insert_case(
        engine,
        subclass_code=CODE_B,
        status="received",
        locate_method="none",
        address="白沙市场门口",
        reported_at=local("2021-03-15 10:00"),
    )
    last_c = insert_case(
        engine,
        **where,
        subclass_code=CODE_C,
        tier="major",
        reported_at=local("2021-03-31 23:59:59"),
    )
    before = insert_case(engine, **where, reported_at=local("2021-02-28 23:59:59"))
    return March(
        open_a, closed_a, merged_a, merged_closed, referred_b, unlocated_b, last_c, before, token
    )


MARCH = {"start_date": "2021-03-01T00:00:00+08:00", "end_date": "2021-03-31T23:59:59+08:00"}


def get_json(client: TestClient, path: str, params: Any = None, status: int = 200) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    return r.json()


def get_xml(client: TestClient, path: str, params: Any = None, status: int = 200) -> ET.Element:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(r.content)


def ids(found: list[dict[str, Any]]) -> list[int]:
    return [r["service_request_id"] for r in found]


def assert_errors_json(r: Any, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert isinstance(body, list) and body
    assert all(set(e) == {"code", "description"} for e in body)
    assert body[0]["code"] == status
    for word in words:
        assert word in body[0]["description"], body


def assert_errors_xml(r: Any, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(r.content)
    assert root.tag == "errors"
    errors = root.findall("error")
    assert errors and [c.tag for c in errors[0]] == ["code", "description"]
    assert errors[0].findtext("code") == str(status)
    for word in words:
        assert word in (errors[0].findtext("description") or "")


# ---------------------------------------------------------------- discovery ---


def test_discovery_json(client: TestClient) -> None:
    body = get_json(client, f"{V2}/discovery.json")
    for field in ("changeset", "contact", "key_service", "endpoints"):
        assert body[field]
    assert body["jurisdiction_id"] == JURISDICTION_ID
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert datetime.fromisoformat(endpoint["changeset"]).tzinfo is not None


def test_discovery_xml(client: TestClient) -> None:
    root = get_xml(client, f"{V2}/discovery.xml")
    assert root.tag == "discovery"
    assert root.findtext("jurisdiction_id") == JURISDICTION_ID
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]


# ----------------------------------------------------------------- services ---


def test_services_json_lists_the_catalogue(client: TestClient) -> None:
    body = get_json(client, f"{V2}/services.json", {"jurisdiction_id": JURISDICTION_ID})
    catalogue = load_catalogue()
    assert [s["service_code"] for s in body] == [s.code for s in catalogue.subclasses]
    first, sub = body[0], catalogue.subclasses[0]
    assert list(first) == SERVICE_FIELDS
    assert first["service_name"] == sub.name
    assert first["group"] == sub.class_name
    assert first["metadata"] is False and first["type"] == "realtime"
    assert sub.class_name in first["keywords"]


def test_services_xml(client: TestClient) -> None:
    root = get_xml(client, f"{V2}/services.xml")
    assert root.tag == "services"
    services = root.findall("service")
    assert len(services) == len(load_catalogue().subclasses)
    assert [c.tag for c in services[0]] == SERVICE_FIELDS
    assert services[0].findtext("metadata") == "false"
    assert services[0].findtext("service_code") == CODE_A


def test_service_definition_both_formats(client: TestClient) -> None:
    assert get_json(client, f"{V2}/services/{CODE_B}.json") == {
        "service_code": CODE_B,
        "attributes": [],
    }
    root = get_xml(client, f"{V2}/services/{CODE_B}.xml")
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == CODE_B
    attributes = root.find("attributes")
    assert attributes is not None and len(attributes) == 0


@pytest.mark.parametrize("code", ["9999", "abc", "x" * 300, "0101 ", "%3Cscript%3E"])
def test_unknown_service_definition_is_404(client: TestClient, code: str) -> None:
    assert_errors_json(client.get(f"{V2}/services/{code}.json"), 404, "service_code")
    assert_errors_xml(client.get(f"{V2}/services/{code}.xml"), 404, "service_code")


# ----------------------------------------------------------- GET requests ---


def test_requests_window_json(client: TestClient, march: March) -> None:
    found = get_json(client, f"{V2}/requests.json", MARCH)
    assert set(ids(found)) == march.inside  # start and end are inclusive
    times = [r["requested_datetime"] for r in found]
    assert times == sorted(times, reverse=True)  # newest first
    assert all(list(r) == REQUEST_FIELDS for r in found)


def test_requests_window_xml(client: TestClient, march: March) -> None:
    root = get_xml(client, f"{V2}/requests.xml", MARCH)
    assert root.tag == "service_requests"
    requests = root.findall("request")
    assert {int(r.findtext("service_request_id") or 0) for r in requests} == march.inside
    assert all([c.tag for c in r] == REQUEST_FIELDS for r in requests)


def test_request_fields(client: TestClient, march: March, place: Place) -> None:
    (r,) = get_json(client, f"{V2}/requests/{march.open_a}.json")
    sub = load_catalogue().subclass(CODE_A)
    assert r["service_request_id"] == march.open_a
    assert r["status"] == "open"
    assert r["service_code"] == CODE_A and r["service_name"] == sub.name
    assert r["description"] == "门口垃圾堆放"
    assert r["address"] == "蓬江区建设路1号"
    assert r["requested_datetime"] == "2021-03-02T09:00:00+08:00"
    assert r["updated_datetime"] == "2021-03-04T10:30:00+08:00"  # the latest event
    assert r["expected_datetime"] == "2021-03-02T17:00:00+08:00"
    assert r["agency_responsible"] == f"{place.squad_name} / {place.station_name}"
    assert place.station_name in r["service_notice"]
    assert r["lat"] == pytest.approx(place.lat) and r["long"] == pytest.approx(place.lon)
    assert r["media_url"] == "https://img.example.cn/a.jpg"
    assert r["address_id"] is None and r["zipcode"] is None

    root = get_xml(client, f"{V2}/requests/{march.open_a}.xml")
    (req,) = root.findall("request")
    assert req.findtext("service_request_id") == str(march.open_a)
    assert req.findtext("requested_datetime") == "2021-03-02T09:00:00+08:00"
    assert float(req.findtext("lat") or "nan") == pytest.approx(place.lat)
    zipcode = req.find("zipcode")
    assert zipcode is not None and zipcode.text is None  # empty element for none


def test_statuses_and_notes(client: TestClient, march: March) -> None:
    found = {r["service_request_id"]: r for r in get_json(client, f"{V2}/requests.json", MARCH)}
    closed = found[march.closed_a]
    assert closed["status"] == "closed" and closed["status_notes"] == "已清理完毕"
    assert closed["updated_datetime"] == "2021-03-06T12:00:00+08:00"  # the close
    # a duplicate follows its master: open while the master is, closed when it closes
    merged = found[march.merged_a]
    assert merged["status"] == "open" and str(march.open_a) in merged["status_notes"]
    merged_closed = found[march.merged_closed]
    assert merged_closed["status"] == "closed"
    assert str(march.closed_a) in merged_closed["status_notes"]
    assert merged_closed["updated_datetime"] == "2021-03-06T12:00:00+08:00"  # master's close
    referred = found[march.referred_b]
    assert referred["status"] == "closed" and "江海区" in referred["status_notes"]
    unlocated = found[march.unlocated_b]
    assert unlocated["status"] == "open" and unlocated["lat"] is None
    assert unlocated["long"] is None and unlocated["agency_responsible"] is None
    assert found[march.open_a]["status_notes"] is None


OPEN = {"open_a", "merged_a", "unlocated_b", "last_c"}
CLOSED = {"closed_a", "merged_closed", "referred_b"}


@pytest.mark.parametrize(
    ("status", "expect"),
    [
        ("open", OPEN),
        ("closed", CLOSED),
        ("open,closed", OPEN | CLOSED),
        ("closed , open", OPEN | CLOSED),
        ("OPEN", OPEN),
        ("", OPEN | CLOSED),
    ],
)
def test_status_filter(client: TestClient, march: March, status: str, expect: set[str]) -> None:
    found = get_json(client, f"{V2}/requests.json", {**MARCH, "status": status})
    assert set(ids(found)) == {getattr(march, name) for name in expect}


def test_service_code_filter(client: TestClient, march: March) -> None:
    one = get_json(client, f"{V2}/requests.json", {**MARCH, "service_code": CODE_B})
    assert set(ids(one)) == {march.referred_b, march.unlocated_b}
    comma = get_json(client, f"{V2}/requests.json", {**MARCH, "service_code": f"{CODE_B},{CODE_C}"})
    repeated = get_json(
        client,
        f"{V2}/requests.json",
        [*MARCH.items(), ("service_code", CODE_B), ("service_code", CODE_C)],
    )
    assert (
        set(ids(comma)) == set(ids(repeated)) == {march.referred_b, march.unlocated_b, march.last_c}
    )
    both = get_json(
        client, f"{V2}/requests.json", {**MARCH, "service_code": CODE_B, "status": "open"}
    )
    assert ids(both) == [march.unlocated_b]
    assert get_json(client, f"{V2}/requests.json", {**MARCH, "service_code": "9999"}) == []


def test_date_filters(client: TestClient, march: March) -> None:
    def window(start: str | None, end: str | None) -> set[int]:
        params = {k: v for k, v in (("start_date", start), ("end_date", end)) if v}
        return set(ids(get_json(client, f"{V2}/requests.json", params)))

    assert window("2021-03-02T09:00:00+08:00", "2021-03-05T08:00:00+08:00") == {
        march.open_a,
        march.merged_a,
        march.closed_a,
    }
    # the same instants in UTC, and with fractions of a second
    assert window("2021-03-02T01:00:00Z", "2021-03-05T00:00:00.000Z") == {
        march.open_a,
        march.merged_a,
        march.closed_a,
    }
    # date-only forms are Beijing days; a lone start_date runs 90 days on
    assert window("2021-03-15", "2021-03-16") == {march.unlocated_b}
    assert march.before not in window("2021-03-01", None)
    assert march.inside <= window("2021-03-01", None)
    # a lone end_date reaches 90 days back
    assert window(None, "2021-03-01T00:00:00+08:00") >= {march.before}
    # "+08:00" sent unencoded arrives as " 08:00": read as the offset it was
    r = client.get(
        f"{V2}/requests.json?start_date=2021-03-15T00:00:00+08:00"
        "&end_date=2021-03-16T00:00:00+08:00"
    )
    assert r.status_code == 200 and ids(r.json()) == [march.unlocated_b]


def test_service_request_id_overrides_other_filters(client: TestClient, march: March) -> None:
    params = {
        "service_request_id": f"{march.before}, {march.last_c},,{march.closed_a}",
        "status": "open",
        "service_code": CODE_B,
        **MARCH,
    }
    found = get_json(client, f"{V2}/requests.json", params)
    assert set(ids(found)) == {march.before, march.last_c, march.closed_a}
    root = get_xml(client, f"{V2}/requests.xml", {"service_request_id": str(march.last_c)})
    assert [r.findtext("service_request_id") for r in root] == [str(march.last_c)]
    assert get_json(client, f"{V2}/requests.json", {"service_request_id": "999999999"}) == []


def test_default_window_is_the_last_90_days(client: TestClient, engine: Engine) -> None:
    now = datetime.now(LOCAL_TZ)
    recent = insert_case(engine, reported_at=now - timedelta(seconds=1))
    old = insert_case(engine, reported_at=now - timedelta(days=91))
    found = ids(get_json(client, f"{V2}/requests.json"))
    assert recent in found and old not in found
    assert len(found) <= MAX_RESULTS
    assert recent in ids(get_json(client, f"{V2}/requests.json", {"status": "open"}))


def test_at_most_1000_and_pages(client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            INSERT INTO case_file (token, status, subclass_code, tier, description, address,
                                   source, locate_method, reported_at, created_at)
            SELECT 'bulk' || n || '-' || :tag, 'dispatched', :code, 'minor', '', '', 'test', 'none',
                   TIMESTAMPTZ '2020-01-01 00:00:00+08' + n * INTERVAL '1 minute',
                   TIMESTAMPTZ '2020-01-01 00:00:00+08' + n * INTERVAL '1 minute'
            FROM generate_series(1, 1005) AS n"""),
            {"tag": uuid.uuid4().hex[:8], "code": CODE_C},
        )
    window = {"start_date": "2020-01-01", "end_date": "2020-01-31"}
    first = get_json(client, f"{V2}/requests.json", window)
    assert len(first) == MAX_RESULTS
    rest = get_json(client, f"{V2}/requests.json", {**window, "page": "2"})
    assert len(rest) == 5
    assert not set(ids(first)) & set(ids(rest))
    pages = [
        ids(get_json(client, f"{V2}/requests.json", {**window, "page_size": "400", "page": str(p)}))
        for p in (1, 2, 3)
    ]
    assert [len(p) for p in pages] == [400, 400, 205]
    assert [i for p in pages for i in p] == ids(first) + ids(
        rest
    )  # same order, no gaps, no repeats
    root = get_xml(client, f"{V2}/requests.xml", {**window, "page_size": "3", "page": "335"})
    assert len(root.findall("request")) == 3


def test_tokens_both_formats(client: TestClient, march: March) -> None:
    assert get_json(client, f"{V2}/tokens/{march.token}.json") == [
        {"service_request_id": march.open_a, "token": march.token}
    ]
    root = get_xml(client, f"{V2}/tokens/{march.token}.xml", {"jurisdiction_id": JURISDICTION_ID})
    (req,) = root.findall("request")
    assert req.findtext("service_request_id") == str(march.open_a)
    assert req.findtext("token") == march.token


# ---------------------------------------------------------- read errors ---


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2021-03-01T00:00:00"}, "start_date"),  # a time needs its offset
        ({"end_date": "2021-02-30"}, "end_date"),
        ({"start_date": "2021-03-01T25:00:00Z"}, "start_date"),
        ({"start_date": "2021-03-10", "end_date": "2021-03-01"}, "end_date"),
        ({"start_date": "2021-01-01", "end_date": "2021-06-01"}, "90 days"),
        ({"status": "pending"}, "status"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "-1"}, "page_size"),
        ({"service_request_id": "1,abc"}, "service_request_id"),
        ({"service_request_id": ",".join(str(i) for i in range(1, 1100))}, "service_request_id"),
    ],
)
def test_bad_query_parameters_are_400(
    client: TestClient, params: dict[str, str], word: str
) -> None:
    assert_errors_json(client.get(f"{V2}/requests.json", params=params), 400, word)
    assert_errors_xml(client.get(f"{V2}/requests.xml", params=params), 400, word)


@pytest.mark.parametrize(
    "path",
    ["services", "services/0101", "requests", "requests/1", "tokens/abc", "discovery"],
)
def test_unknown_jurisdiction_is_404(client: TestClient, path: str) -> None:
    if path == "discovery":  # discovery takes no jurisdiction: it names ours
        assert client.get(f"{V2}/discovery.json", params={"jurisdiction_id": "x"}).is_success
        return
    params = {"jurisdiction_id": "guangzhou.gov.cn"}
    assert_errors_json(client.get(f"{V2}/{path}.json", params=params), 404, "jurisdiction_id")
    assert_errors_xml(client.get(f"{V2}/{path}.xml", params=params), 404, "jurisdiction_id")
    ours = client.get(f"{V2}/{path}.json", params={"jurisdiction_id": JURISDICTION_ID.upper()})
    assert ours.status_code in (200, 404)
    assert "jurisdiction_id" not in ours.text


@pytest.mark.parametrize(
    "path",
    [
        "requests/999999999",
        "requests/abc",
        "requests/-1",
        "tokens/nosuchtoken",
        f"tokens/{'t' * 100}",
    ],
)
def test_unknown_request_or_token_is_404(client: TestClient, path: str) -> None:
    assert_errors_json(client.get(f"{V2}/{path}.json"), 404)
    assert_errors_xml(client.get(f"{V2}/{path}.xml"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "services.html",
        "services.JSON",
        "discovery.yaml",
        "requests.csv",
        "requests/1.txt",
        "services/0101.rss",
        "tokens/x.json.php",
    ],
)
def test_unknown_format_is_404(client: TestClient, path: str) -> None:
    assert_errors_json(client.get(f"{V2}/{path}"), 404)


def test_unknown_resource_is_404_in_the_spec_format(client: TestClient) -> None:
    assert_errors_json(client.get(f"{V2}/nothing.json"), 404)
    assert_errors_xml(client.get(f"{V2}/nothing/here.xml"), 404)
    assert_errors_json(client.get("/open311/v3/discovery.json"), 404)


def test_wrong_method_is_answered_in_the_spec_format(client: TestClient) -> None:
    assert_errors_xml(client.post(f"{V2}/services.xml"), 405)
    assert_errors_json(client.delete(f"{V2}/requests.json"), 405)


# --------------------------------------------------------- XML escaping ---


NASTY = "<script>alert(\"x\")</script> & ]]> <![CDATA[x]]> 'q' 中文\n第二行"


def test_text_is_escaped_in_xml_and_exact_in_json(
    client: TestClient, engine: Engine, march: March
) -> None:
    case_id = insert_case(
        engine,
        reported_at=local("2019-06-01 10:00"),
        description=NASTY + "\x0b\x01",
        address="<b>&amp;</b>",
    )
    r = client.get(f"{V2}/requests/{case_id}.xml")
    assert r.status_code == 200
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    req = ET.fromstring(r.content).find("request")
    assert req is not None
    assert req.findtext("description") == NASTY  # characters XML cannot carry are dropped
    assert req.findtext("address") == "<b>&amp;</b>"
    (j,) = client.get(f"{V2}/requests/{case_id}.json").json()
    assert j["description"] == NASTY + "\x0b\x01"


# -------------------------------------------------------------------- POST ---


def post(
    client: TestClient,
    fields: dict[str, str] | list[tuple[str, str]],
    fmt: str = "json",
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"{V2}/requests.{fmt}", content=urlencode(fields), headers={**FORM, **(headers or {})}
    )


def count_cases(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar_one())


@pytest.mark.usefixtures("sample_layout")
def test_post_creates_a_request(
    client: TestClient, engine: Engine, api_key: str, place: Place
) -> None:
    fields = {
        "api_key": api_key,
        "jurisdiction_id": JURISDICTION_ID,
        "service_code": CODE_A,
        "lat": str(place.lat),
        "long": str(place.lon),
        "address_string": "建设路 1 号",
        "email": "a@example.cn",
        "device_id": "dev-1",
        "account_id": "acc-7",
        "first_name": "三",
        "last_name": "张",
        "phone": "13800000000",
        "description": "路边垃圾<script>x</script>",
        "media_url": "https://img.example.cn/p.jpg",
    }
    r = post(client, fields)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    (created,) = r.json()
    assert list(created) == ["service_request_id", "service_notice", "account_id"]
    assert "token" not in created  # the spec: no token when the id is returned
    case_id = created["service_request_id"]
    assert isinstance(case_id, int) and created["service_notice"]
    (got,) = get_json(client, f"{V2}/requests/{case_id}.json")
    assert got["service_code"] == CODE_A
    assert got["status"] == "open"
    assert got["description"] == "路边垃圾<script>x</script>"
    assert got["media_url"] == "https://img.example.cn/p.jpg"
    assert got["lat"] == pytest.approx(place.lat, abs=1e-6)
    assert got["long"] == pytest.approx(place.lon, abs=1e-6)
    assert got["agency_responsible"]
    assert "张三" not in json.dumps(got, ensure_ascii=False)  # no personal data out
    assert "13800000000" not in json.dumps(got)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT source, api_key_id, token FROM case_file WHERE id = :id"),
            {"id": case_id},
        ).one()
    assert row.source == "open311" and row.api_key_id == verify_api_key(engine, api_key)
    (tok,) = get_json(client, f"{V2}/tokens/{row.token}.json")
    assert tok["service_request_id"] == case_id


@pytest.mark.usefixtures("sample_layout")
def test_post_xml_and_address_only(client: TestClient, api_key: str) -> None:
    fields = {"api_key": api_key, "service_code": CODE_B, "address_string": "白沙市场东门"}
    r = post(client, fields, "xml")
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    req = root.find("request")
    assert req is not None
    assert [c.tag for c in req] == ["service_request_id", "service_notice", "account_id"]
    case_id = int(req.findtext("service_request_id") or 0)
    (got,) = get_json(client, f"{V2}/requests/{case_id}.json")
    assert got["status"] == "open" and got["lat"] is None
    assert got["address"] == "白沙市场东门" and got["status_notes"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_or_with_a_wrong_key_is_403(
    client: TestClient, engine: Engine, place: Place, fmt: str
) -> None:
    check = assert_errors_json if fmt == "json" else assert_errors_xml
    fields = {"service_code": CODE_A, "lat": str(place.lat), "long": str(place.lon)}
    before = count_cases(engine)
    check(post(client, fields, fmt), 403, "api_key")
    check(post(client, {**fields, "api_key": ""}, fmt), 403, "api_key")
    check(post(client, {**fields, "api_key": "cg_wrong"}, fmt), 403, "api_key")
    revoked = create_api_key(engine, "revoked")
    revoke_api_key(engine, verify_api_key(engine, revoked))
    check(post(client, {**fields, "api_key": revoked}, fmt), 403, "api_key")
    # the key is checked before anything else
    check(post(client, {"api_key": "nope", "service_code": "9999"}, fmt), 403)
    assert count_cases(engine) == before


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "9999"}, 404, "service_code"),
        ({"jurisdiction_id": "sfgov.org"}, 404, "jurisdiction_id"),
        ({"lat": "abc"}, 400, "lat"),
        ({"lat": "nan"}, 400, "lat"),
        ({"long": "inf"}, 400, "long"),
        ({"lat": "95"}, 400, "lat"),
        ({"long": "-181"}, 400, "long"),
        ({"long": None}, 400, "long"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"lat": "113.08", "long": "22.6"}, 400, "lat"),  # swapped
        ({"description": "长" * 4001}, 400, "description"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"crs": "mars"}, 400, "crs"),
    ],
)
def test_post_bad_fields(
    client: TestClient,
    engine: Engine,
    api_key: str,
    place: Place,
    change: dict[str, str | None],
    status: int,
    word: str,
) -> None:
    fields: dict[str, str | None] = {
        "api_key": api_key,
        "service_code": CODE_A,
        "lat": str(place.lat),
        "long": str(place.lon),
        "description": "x",
    }
    fields.update(change)
    sent = {k: v for k, v in fields.items() if v is not None}
    before = count_cases(engine)
    assert_errors_json(post(client, sent, "json"), status, word)
    assert_errors_xml(post(client, sent, "xml"), status, word)
    assert count_cases(engine) == before


def test_post_malformed_bodies_are_400(
    client: TestClient, engine: Engine, api_key: str, place: Place
) -> None:
    good = {
        "api_key": api_key,
        "service_code": CODE_A,
        "lat": str(place.lat),
        "long": str(place.lon),
    }
    before = count_cases(engine)
    conflicting = [*good.items(), ("service_code", CODE_B)]
    assert_errors_json(post(client, conflicting), 400, "service_code")
    r = client.post(f"{V2}/requests.xml", json=good)  # JSON is not the spec's form body
    assert_errors_xml(r, 400, "Content-Type")
    bad_utf8 = urlencode(good).encode() + b"&description=%FF%FE"
    assert_errors_json(client.post(f"{V2}/requests.json", content=bad_utf8, headers=FORM), 400)
    many = urlencode([*good.items(), *((f"f{i}", "x") for i in range(200))])
    assert_errors_json(client.post(f"{V2}/requests.json", content=many, headers=FORM), 400)
    upload = client.post(
        f"{V2}/requests.json", data=good, files={"media": ("a.jpg", b"\xff\xd8", "image/jpeg")}
    )
    assert upload.status_code == 400
    huge = client.post(f"{V2}/requests.xml", content=b"a=" + b"x" * 300_000, headers=FORM)
    assert_errors_xml(huge, 413)
    assert count_cases(engine) == before


@pytest.mark.usefixtures("sample_layout")
def test_post_multipart_and_query_string_api_key(
    client: TestClient, api_key: str, place: Place
) -> None:
    fields = {"service_code": CODE_A, "lat": str(place.lat), "long": str(place.lon)}
    r = client.post(
        f"{V2}/requests.json",
        params={"api_key": api_key},
        files={k: (None, v) for k, v in fields.items()},
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["service_request_id"]


@pytest.mark.usefixtures("sample_layout")
def test_post_is_idempotent_with_a_key(
    client: TestClient, engine: Engine, api_key: str, place: Place
) -> None:
    fields = {
        "api_key": api_key,
        "service_code": CODE_C,
        "lat": str(place.lat),
        "long": str(place.lon),
        "description": "重试",
    }
    key = {"Idempotency-Key": "retry-" + uuid.uuid4().hex}
    before = count_cases(engine)
    first = post(client, fields, headers=key)
    assert first.status_code == 200, first.text
    again = post(client, fields, headers=key)
    assert again.status_code == 200 and again.content == first.content
    assert count_cases(engine) == before + 1
    changed = post(client, {**fields, "description": "另一件事"}, headers=key)
    assert changed.status_code == 409
    assert isinstance(changed.json(), list) and changed.json()[0]["code"] == 409
    other_format = post(client, fields, "xml", headers=key)
    assert other_format.status_code == 409
    assert count_cases(engine) == before + 1
    # without a key every POST is a new request
    post(client, fields)
    post(client, fields)
    assert count_cases(engine) == before + 3


# ---------------------------------------------------------------- no 500s ---


@pytest.mark.parametrize(
    "path",
    [
        "requests.json?start_date=%00",
        "requests.xml?status=%FF",
        "requests.json?page=99999999999",
        "requests.json?service_request_id=99999999999999999999",
        "requests.json?start_date=9999-12-31T23:59:59Z",
        "requests.json?start_date=0001-01-01",
        "requests.json?end_date=0001-01-01",
        "requests/1e9.json",
        "requests/%2e%2e.xml",
        "tokens/%00.json",
        "services/%00.xml",
        "services/..json",
        "requests/.json",
        "requests.json?service_code=" + "x" * 5000,
        "requests.json?jurisdiction_id=%00",
    ],
)
def test_odd_reads_never_500(client: TestClient, path: str) -> None:
    r = client.get(f"{V2}/{path}")
    assert 400 <= r.status_code < 500 or r.status_code == 200, r.text
    if r.status_code != 200:
        assert isinstance(
            r.json() if not path.split("?")[0].endswith(".xml") else ET.fromstring(r.content),
            list | ET.Element,
        )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"&&&",
        b"api_key",
        b"%",
        b"service_code=%ZZ",
        b"lat=1e999&long=1",
        b"a=" + "中".encode() * 10,
        b"\x00\x01",
        b"attribute[x][]=1&attribute[y]=2",
    ],
)
def test_odd_posts_never_500(client: TestClient, api_key: str, body: bytes) -> None:
    for sent in (body, f"api_key={api_key}&".encode() + body):
        r = client.post(f"{V2}/requests.json", content=sent, headers=FORM)
        assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize("status", list(STATE_CODES))
def test_status_mapping_agrees_with_the_intake(
    client: TestClient, engine: Engine, status: str
) -> None:
    from cases.intake import open311_status

    case_id = insert_case(engine, status=status, reported_at=local("2019-07-01 10:00"))
    (r,) = get_json(client, f"{V2}/requests/{case_id}.json")
    assert r["status"] == open311_status(status)


def test_validation_errors_under_open311_are_spec_400s(settings: Settings) -> None:
    """FastAPI's own validation errors on /open311/ paths come out as the spec's 400 list."""
    app = create_app(settings)

    @app.get("/open311/v2/probe/{number}.{fmt}")
    def probe(number: int, fmt: str) -> dict[str, int]:
        return {"number": number}

    with TestClient(app) as c:
        assert c.get("/open311/v2/probe/7.json").json() == {"number": 7}
        assert_errors_json(c.get("/open311/v2/probe/seven.json"), 400, "number")
        assert_errors_xml(c.get("/open311/v2/probe/seven.xml"), 400, "number")


@pytest.mark.usefixtures("sample_layout")
def test_bad_idempotency_keys_are_400(
    client: TestClient, engine: Engine, api_key: str, place: Place
) -> None:
    fields = {
        "api_key": api_key,
        "service_code": CODE_A,
        "lat": str(place.lat),
        "long": str(place.lon),
    }
    before = count_cases(engine)
    for bad in ("x" * 201, " "):
        r = post(client, fields, "xml", headers={"Idempotency-Key": bad})
        assert_errors_xml(r, 400, "Idempotency-Key")
    assert count_cases(engine) == before
