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

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case
from sqlalchemy.engine import Engine

from api.app import create_app
from api.schemas import china_box
from cases.apikeys import create_api_key
from cases.open311 import parse_w3c_datetime
from gis.settings import get_settings

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
    max_examples=15,
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
