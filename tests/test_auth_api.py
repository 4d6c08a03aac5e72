"""Logging in over HTTP: the OAuth2 password flow, bearer tokens and the
session cookie, 401 and 429 with their headers, /me, and role rules on a route.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api import auth
from api.app import create_app
from cases.access import Principal
from cases.accounts.store import create_account, set_active
from cases.accounts.tokens import issue_token
from gis.settings import Settings

PASSWORD = "correct horse 42"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
_STATION = json.loads((SAMPLE / "stations.geojson").read_text())["features"][0]["properties"]
STATION, STATION_COMMUNITY = _STATION["code"], _STATION["community_code"]
SQUAD = "SQ440703001"
MAX_FAILURES = 3
_serial = itertools.count(1)


def build_app(settings: Settings) -> FastAPI:
    """The service's app (auth routes mounted) plus a route only some roles may call."""
    app = create_app(settings)

    @app.get("/test/command-centre")
    def command_centre(
        p: Annotated[Principal, Depends(auth.require_roles("dispatcher", "chief"))],
    ) -> dict[str, str]:
        return {"hello": p.username}

    return app


@pytest.fixture(scope="module")
def client(settings: Settings, sample_layout_once: int) -> Iterator[TestClient]:
    strict = settings.model_copy(update={"login_max_failures": MAX_FAILURES})
    with TestClient(build_app(strict), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def sample_layout_once(engine: Engine, settings: Settings) -> int:
    from sample.seed import load_sample

    return load_sample(engine, settings=settings).generation


def _user(engine: Engine, role: str = "dispatcher", **place: str) -> str:
    name = f"api-{role.replace('_', '-')}-{next(_serial)}"
    create_account(engine, name, role, PASSWORD, **place)
    return name


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _token(client: TestClient, username: str) -> str:
    answer = _login(client, username)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_a_bearer_token(client: TestClient, engine: Engine) -> None:
    name = _user(engine, "chief")
    answer = _login(client, name)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "role"}
    assert body["token_type"] == "bearer" and body["role"] == "chief"
    assert body["expires_in"] == 60 * 60
    assert answer.headers["cache-control"] == "no-store"
    me = client.get("/api/v1/auth/me", headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == name and me.json()["scope"]["everywhere"] is True


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, engine: Engine
) -> None:
    name = _user(engine)
    wrong = _login(client, name, "not the password")
    unknown = _login(client, "no-such-user", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "access_token" not in answer.json()
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"][0]["message"] == "wrong username or password"


def test_missing_fields_are_422(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/token", data={"username": "x"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "password"
    answer = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
    assert answer.status_code == 422


def test_repeated_failures_are_throttled(client: TestClient, engine: Engine) -> None:
    name = _user(engine)
    for _ in range(MAX_FAILURES):
        assert _login(client, name, "guess guess").status_code == 401
    throttled = _login(client, name, PASSWORD)  # even the right one, for now
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert throttled.json()["detail"][0]["code"] == "too_many_attempts"
    other = _user(engine)  # another username is not affected
    assert _login(client, other).status_code == 200


def test_no_token_is_401(client: TestClient) -> None:
    for path in ("/api/v1/auth/me", "/test/command-centre"):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["detail"][0]["code"] == "unauthenticated"


def test_expired_tampered_and_foreign_tokens_are_401(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    name = _user(engine)
    good = _token(client, name)
    account_id = client.get("/api/v1/auth/me", headers=_bearer(good)).json()["id"]
    old = datetime.now(UTC) - timedelta(minutes=settings.auth_token_minutes + 1)
    expired, _ = issue_token(account_id, name, "dispatcher", settings, now=old)
    head, payload, signature = good.split(".")
    tampered = f"{head}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    promoted, _ = issue_token(account_id, name, "admin", settings)  # role no longer matches
    foreign, _ = issue_token(
        account_id, name, "dispatcher", settings.model_copy(update={"auth_secret": "x" * 40})
    )
    for bad in (expired, tampered, promoted, foreign, "not-a-jwt", good + "x"):
        answer = client.get("/api/v1/auth/me", headers=_bearer(bad))
        assert answer.status_code == 401, bad
        assert answer.headers["www-authenticate"] == "Bearer"
    assert (
        "expired"
        in client.get("/api/v1/auth/me", headers=_bearer(expired)).json()["detail"][0]["message"]
    )
    assert client.get("/api/v1/auth/me", headers=_bearer(good)).status_code == 200


def test_switching_an_account_off_stops_its_token(client: TestClient, engine: Engine) -> None:
    name = _user(engine)
    token = _token(client, name)
    assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
    set_active(engine, name, False)
    assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 401
    assert _login(client, name).status_code == 401


def test_session_cookie_works_like_the_header(client: TestClient, engine: Engine) -> None:
    name = _user(engine, "chief")
    token = _token(client, name)
    client.cookies.set(auth.SESSION_COOKIE, token)
    try:
        assert client.get("/api/v1/auth/me").json()["username"] == name
        assert client.get("/test/command-centre").json() == {"hello": name}
        # A header, when sent, wins over the cookie.
        other = _user(engine, "analyst")
        me = client.get("/api/v1/auth/me", headers=_bearer(_token(client, other)))
        assert me.json()["username"] == other
        client.cookies.set(auth.SESSION_COOKIE, token + "x")
        assert client.get("/api/v1/auth/me").status_code == 401
    finally:
        client.cookies.clear()


def test_session_cookie_flags(settings: Settings) -> None:
    from fastapi.responses import Response
    from starlette.requests import Request

    from cases.accounts.store import Login

    response = Response()
    scope = {"type": "http", "scheme": "https", "server": ("grid.example", 443), "path": "/"}
    request = Request({**scope, "headers": [], "query_string": b""})
    auth.set_session_cookie(
        response, request, Login(access_token="t.t.t", expires_in=600, role="chief")
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{auth.SESSION_COOKIE}=t.t.t")
    for flag in ("HttpOnly", "SameSite=lax", "Secure", "Max-Age=600", "Path=/"):
        assert flag in cookie


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("dispatcher", 200),
        ("chief", 200),
        ("deputy_leader", 403),
        ("analyst", 403),
        ("admin", 403),
        ("officer", 403),
        ("squad_leader", 403),
    ],
)
def test_require_roles(client: TestClient, engine: Engine, role: str, status: int) -> None:
    place = {"officer": {"station_code": STATION}, "squad_leader": {"squad_code": SQUAD}}
    name = _user(engine, role, **place.get(role, {}))
    answer = client.get("/test/command-centre", headers=_bearer(_token(client, name)))
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["detail"][0]["code"] == "forbidden"


def test_me_shows_an_officers_place(client: TestClient, engine: Engine) -> None:
    name = _user(engine, "officer", station_code=STATION)
    me = client.get("/api/v1/auth/me", headers=_bearer(_token(client, name))).json()
    assert me["role"] == "officer" and me["station_code"] == STATION
    assert me["scope"] == {
        "everywhere": False,
        "communities": [STATION_COMMUNITY],
        "department": None,
    }


def test_require_roles_refuses_unknown_role_names() -> None:
    with pytest.raises(ValueError, match="resident"):
        auth.require_roles("resident")
    with pytest.raises(ValueError):
        auth.require_roles()
