"""Logging in through the API in tests, as a client of the service does.

`token_header` posts a username and password to /api/v1/auth/token (the OAuth2
password form) and returns the Authorization header of the token it gets;
`bearer` first creates a new account of a role (at a station, squad, community or
department, as `create_account` takes them), so a test asks for "a squad leader of
SQ..." in one call. Both fail the test when the login is refused.

Imported as `api_login` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases.accounts.store import create_account

TOKEN_URL = "/api/v1/auth/token"
PASSWORD = "api login tests 2019"
_serial = itertools.count(1)


def token_header(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Log `username` in through the API; the Authorization header of its bearer token."""
    answer = client.post(TOKEN_URL, data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def bearer(client: TestClient, engine: Engine, role: str, **place: str) -> dict[str, str]:
    """A new account of `role` (at `place`), logged in: its Authorization header."""
    name = f"bearer-{role.replace('_', '-')}-{next(_serial)}"
    create_account(engine, name, role, PASSWORD, **place)
    return token_header(client, name, PASSWORD)
