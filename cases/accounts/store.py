"""Accounts: make, list and switch off; log in (with the throttle) and issue a token.

Usernames are stored lower-case, so `Chen.Li` and `chen.li` are one account.
Failed logins are counted per username in the database (`login_throttle`), so
every worker process sees the same count: after `CG_LOGIN_MAX_FAILURES` within
`CG_LOGIN_WINDOW_S` seconds the username is refused (429) until the window
ends, whatever the password. An attempt is counted before its password is
checked, in one atomic statement, so parallel guesses cannot slip past the
limit; a successful login clears the count. Passwords are never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import rule_for
from cases.accounts.errors import TooManyAttempts, Unauthenticated
from cases.accounts.models import ROLES, USERNAME_PATTERN
from cases.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    dummy_hash,
    hash_password,
    verify_password,
)
from cases.accounts.tokens import issue_token
from cases.errors import Conflict, InvalidInput, NotFound
from gis.settings import Settings

WRONG_CREDENTIALS = "wrong username or password"
"""The one answer to a bad login: it never says which of the two was wrong."""

_USERNAME = re.compile(USERNAME_PATTERN)


@dataclass(frozen=True)
class AccountInfo:
    """What may be shown about an account: never its password hash."""

    id: int
    username: str
    role: str
    station_code: str | None
    squad_code: str | None
    officer_code: str | None
    active: bool
    created_at: datetime
    department_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "station_code": self.station_code,
            "squad_code": self.squad_code,
            "officer_code": self.officer_code,
            "department_code": self.department_code,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Login:
    """The answer to a good login (OAuth2 token response)."""

    access_token: str
    expires_in: int
    role: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret

    def as_dict(self) -> dict[str, Any]:
        """The OAuth2 token response, plus the role."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "role": self.role,
        }


_COLUMNS = (
    "id, username, role, station_code, squad_code, officer_code, active, created_at, "
    "department_code"
)


def _info(row: Any) -> AccountInfo:
    return AccountInfo(**{k: row[k] for k in _COLUMNS.split(", ")})


def normalise_username(username: str) -> str:
    """The stored form of a username: trimmed and lower-case."""
    return username.strip().lower()


def _check_new(
    conn: sa.Connection,
    username: str,
    role: str,
    password: str,
    station_code: str | None,
    squad_code: str | None,
    officer_code: str | None,
    department_code: str | None = None,
) -> None:
    """Every check of a new account, each with a message naming the field."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; the roles are {', '.join(ROLES)}", field="role")
    if not _USERNAME.match(username):
        raise InvalidInput(
            "a username has 2 to 64 characters: letters, digits and _ . @ -, "
            "starting with a letter or digit",
            field="username",
        )
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            field="password",
        )
    place = rule_for(role).place
    if place == "station" and not station_code:
        raise InvalidInput(f"a {role} account needs --station (their station)", field="station")
    if place == "squad" and not squad_code:
        raise InvalidInput(f"a {role} account needs --squad (their squad)", field="squad")
    if station_code and place != "station":
        raise InvalidInput(f"--station is for officers, not for a {role}", field="station")
    if squad_code and place != "squad":
        raise InvalidInput(f"--squad is for squad leaders, not for a {role}", field="squad")
    if place == "department" and not department_code:
        raise InvalidInput(f"a {role} account needs --department (its code)", field="department")
    if department_code and place != "department":
        raise InvalidInput(
            f"--department is for department staff, not a {role}", field="department"
        )
    if (
        department_code
        and not conn.execute(
            sa.text("SELECT 1 FROM department WHERE code = :c"), {"c": department_code}
        ).scalar()
    ):
        raise NotFound(f"no department with code {department_code!r}", field="department")
    if (
        station_code
        and not conn.execute(
            sa.text("SELECT 1 FROM station WHERE code = :c"), {"c": station_code}
        ).scalar()
    ):
        raise NotFound(f"no station with code {station_code!r} (grid org load)", field="station")
    if (
        squad_code
        and not conn.execute(
            sa.text("SELECT 1 FROM squad WHERE code = :c"), {"c": squad_code}
        ).scalar()
    ):
        raise NotFound(f"no squad with code {squad_code!r} (grid org load)", field="squad")
    if officer_code:
        _check_officer(conn, officer_code, role, station_code, squad_code)


def _check_officer(
    conn: sa.Connection,
    officer_code: str,
    role: str,
    station_code: str | None,
    squad_code: str | None,
) -> None:
    """An account linked to an officer record agrees with it: role and place."""
    row = (
        conn.execute(
            sa.text("SELECT role, station_code, squad_code FROM officer WHERE code = :c"),
            {"c": officer_code},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"no officer with code {officer_code!r} (grid org load)", field="officer")
    if row["role"] != role:
        raise InvalidInput(
            f"officer {officer_code} is a {row['role']}, not a {role}", field="officer"
        )
    if station_code and row["station_code"] != station_code:
        raise InvalidInput(
            f"officer {officer_code} sits at station {row['station_code']}, not {station_code}",
            field="station",
        )
    if squad_code and row["squad_code"] != squad_code:
        raise InvalidInput(
            f"officer {officer_code} is in squad {row['squad_code']}, not {squad_code}",
            field="squad",
        )


def create_account(
    engine: Engine,
    username: str,
    role: str,
    password: str,
    *,
    station_code: str | None = None,
    squad_code: str | None = None,
    officer_code: str | None = None,
    department_code: str | None = None,
) -> AccountInfo:
    """Make an account. InvalidInput for a bad role, username, password or a
    place that does not fit the role; NotFound for a station, squad or officer
    that does not exist; Conflict for a username already taken."""
    username = normalise_username(username)
    station_code = station_code.strip() if station_code else None
    squad_code = squad_code.strip() if squad_code else None
    officer_code = officer_code.strip() if officer_code else None
    department_code = department_code.strip() if department_code else None
    with engine.begin() as conn:
        _check_new(
            conn, username, role, password, station_code, squad_code, officer_code, department_code
        )
        row = (
            conn.execute(
                sa.text(
                    "INSERT INTO account (username, role, password_hash, station_code, "
                    "squad_code, officer_code, department_code) "
                    "VALUES (:u, :r, :h, :st, :sq, :of, :dep) "
                    f"ON CONFLICT (username) DO NOTHING RETURNING {_COLUMNS}"
                ),
                {
                    "u": username,
                    "r": role,
                    "h": hash_password(password),
                    "st": station_code,
                    "sq": squad_code,
                    "of": officer_code,
                    "dep": department_code,
                },
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        raise Conflict(f"the username {username!r} is taken", field="username")
    return _info(row)


def list_accounts(engine: Engine) -> list[AccountInfo]:
    """Every account, by username."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM account ORDER BY username"))
        return [_info(r) for r in rows.mappings()]


def set_active(engine: Engine, username: str, active: bool) -> AccountInfo:
    """Switch an account off (or on again); its tokens stop working at once.
    NotFound for an unknown username."""
    with engine.begin() as conn:
        row = (
            conn.execute(
                sa.text(f"UPDATE account SET active = :a WHERE username = :u RETURNING {_COLUMNS}"),
                {"a": active, "u": normalise_username(username)},
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        raise NotFound(f"no account {normalise_username(username)!r}", field="username")
    return _info(row)


_COUNT_ATTEMPT = sa.text(
    """
    INSERT INTO login_throttle AS t (username, failures, window_start)
    VALUES (:u, 1, now())
    ON CONFLICT (username) DO UPDATE SET
        failures = CASE WHEN t.window_start <= now() - make_interval(secs => :w)
                        THEN 1 ELSE t.failures + 1 END,
        window_start = CASE WHEN t.window_start <= now() - make_interval(secs => :w)
                            THEN now() ELSE t.window_start END
    RETURNING failures,
              ceil(extract(epoch FROM window_start + make_interval(secs => :w) - now()))::int
                  AS retry_after
    """
)


def _count_attempt(engine: Engine, username: str, settings: Settings) -> None:
    """Count this attempt; TooManyAttempts when the window's limit is used up.
    Expired windows of other usernames are swept in the same transaction."""
    window = settings.login_window_s
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM login_throttle "
                "WHERE window_start <= now() - make_interval(secs => :w) AND username <> :u"
            ),
            {"w": window, "u": username},
        )
        failures, retry_after = conn.execute(_COUNT_ATTEMPT, {"u": username, "w": window}).one()
    if failures > settings.login_max_failures:
        raise TooManyAttempts(
            f"too many failed logins for this username; try again in {max(retry_after, 1)} s",
            retry_after=max(retry_after, 1),
        )


def authenticate(engine: Engine, username: str, password: str, settings: Settings) -> AccountInfo:
    """The account whose username and password these are.

    Unauthenticated, with one message for an unknown user and a wrong
    password (an unknown user costs a hash too, so timing does not tell them
    apart); TooManyAttempts past the throttle's limit.
    """
    name = normalise_username(username)[:64]
    _count_attempt(engine, name, settings)
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.text(f"SELECT {_COLUMNS}, password_hash FROM account WHERE username = :u"),
                {"u": name},
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        verify_password(password, dummy_hash())
        raise Unauthenticated(WRONG_CREDENTIALS)
    ok, new_hash = verify_password(password, row["password_hash"])
    if not ok:
        raise Unauthenticated(WRONG_CREDENTIALS)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM login_throttle WHERE username = :u"), {"u": name})
        if new_hash:
            conn.execute(
                sa.text("UPDATE account SET password_hash = :h WHERE id = :id"),
                {"h": new_hash, "id": row["id"]},
            )
    if not row["active"]:
        raise Unauthenticated("this account is switched off; ask an administrator")
    return _info(row)


def login(engine: Engine, username: str, password: str, settings: Settings) -> Login:
    """Check the credentials and issue a signed token (OAuth2 password flow)."""
    account = authenticate(engine, username, password, settings)
    token, lifetime = issue_token(account.id, account.username, account.role, settings)
    return Login(access_token=token, expires_in=lifetime, role=account.role)
