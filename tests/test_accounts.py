"""Accounts: passwords hashed with argon2id, the scope of each role on the
sample district's real stations, squads and communities, who reads personal
data, and `grid user` as an operator types it.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cases.access import (
    RULES,
    Disclosure,
    Principal,
    disclosure,
    handles_case,
    load_principal,
    may_see,
    reporter_contact,
    scope_condition,
)
from cases.accounts.errors import TooManyAttempts, Unauthenticated
from cases.accounts.models import ROLES
from cases.accounts.passwords import hash_password, verify_password
from cases.accounts.store import (
    WRONG_CREDENTIALS,
    authenticate,
    create_account,
    list_accounts,
    set_active,
)
from cases.accounts.tokens import issue_token, read_token
from cases.errors import Conflict, InvalidInput, NotFound
from gis.settings import Settings
from gridcli.main import app

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
PASSWORD = "correct horse 42"
_serial = itertools.count(1)


def _features(name: str) -> list[dict[str, str]]:
    data = json.loads((SAMPLE / name).read_text())
    return [f["properties"] for f in data["features"]]


# The sample district as its files say (what a user would check it against).
STATION_COMMUNITY = {p["code"]: p["community_code"] for p in _features("stations.geojson")}
SQUAD_COMMUNITIES: dict[str, set[str]] = defaultdict(set)
for _p in _features("communities.geojson"):
    SQUAD_COMMUNITIES[_p["squad_code"]].add(_p["code"])
ALL_COMMUNITIES = {p["code"] for p in _features("communities.geojson")}
STATION = sorted(STATION_COMMUNITY)[0]
SQUAD = sorted(SQUAD_COMMUNITIES)[0]
OTHER_SQUAD = sorted(SQUAD_COMMUNITIES)[1]


_STATION_OF = {c: s for s, c in STATION_COMMUNITY.items()}
_SQUAD_OF = {c: sq for sq, cs in SQUAD_COMMUNITIES.items() for c in cs}
_HOLDER = {"minor": "officer", "moderate": "squad_leader", "major": "deputy_leader"}


@dataclass(frozen=True)
class CaseAt:
    """Where a case lies, its tier and who holds it (by its tier, as when dispatched):
    all the access rules read of a case."""

    community_code: str | None
    tier: str = "minor"
    department_code: str | None = None

    @property
    def station_code(self) -> str | None:
        return _STATION_OF.get(self.community_code or "")

    @property
    def squad_code(self) -> str | None:
        return _SQUAD_OF.get(self.community_code or "")

    @property
    def holder_role(self) -> str:
        return _HOLDER[self.tier]


def _name(role: str) -> str:
    return f"acc-{role.replace('_', '-')}-{next(_serial)}"


def _account(engine: Engine, role: str, **place: str) -> Principal:
    if role == "officer":
        place.setdefault("station_code", STATION)
    if role == "squad_leader":
        place.setdefault("squad_code", SQUAD)
    info = create_account(engine, _name(role), role, PASSWORD, **place)
    return load_principal(engine, info.id, info.role)


# ------------------------------------------------------------ passwords ---


def test_password_hash_round_trip() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) == (True, None)
    assert verify_password(PASSWORD + " ", first)[0] is False
    assert verify_password("", first)[0] is False
    assert verify_password(PASSWORD, "not a hash") == (False, None)


def test_stored_password_is_a_hash(engine: Engine, sample_layout: int) -> None:
    info = create_account(engine, "Stored.Hash", "dispatcher", PASSWORD)
    assert info.username == "stored.hash"
    with engine.connect() as conn:
        dump = conn.execute(sa.text("SELECT t::text FROM account t WHERE id = :i"), {"i": info.id})
        text = dump.scalar_one()
    assert "$argon2id$" in text and PASSWORD not in text
    # The username is case-insensitive at login.
    assert authenticate(engine, "  STORED.hash ", PASSWORD, _settings()).id == info.id


def test_an_old_hash_is_upgraded_at_login(engine: Engine, sample_layout: int) -> None:
    info = create_account(engine, _name("analyst"), "analyst", PASSWORD)
    weak = Argon2Hasher(memory_cost=8192, time_cost=1, parallelism=1).hash(PASSWORD)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE account SET password_hash = :h WHERE id = :i"),
            {"h": weak, "i": info.id},
        )
    authenticate(engine, info.username, PASSWORD, _settings())
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT password_hash FROM account WHERE id = :i"), {"i": info.id}
        ).scalar_one()
    assert stored != weak and "m=19456,t=2,p=1" in stored
    assert verify_password(PASSWORD, stored)[0]


# -------------------------------------------------------- authenticate ---


def _settings() -> Settings:
    from gis.settings import get_settings

    return get_settings()


def test_wrong_password_and_unknown_user_read_the_same(engine: Engine, sample_layout: int) -> None:
    info = create_account(engine, _name("chief"), "chief", PASSWORD)
    messages = []
    for user, password in ((info.username, "wrong password"), ("nobody-here", PASSWORD)):
        with pytest.raises(Unauthenticated) as exc:
            authenticate(engine, user, password, _settings())
        messages.append(exc.value.message)
    assert messages == [WRONG_CREDENTIALS, WRONG_CREDENTIALS]


def test_throttle_holds_under_parallel_guesses(
    engine: Engine, settings: Settings, sample_layout: int
) -> None:
    """Eight guesses at once with a limit of five: exactly five are checked."""
    info = create_account(engine, _name("admin"), "admin", PASSWORD)
    strict = settings.model_copy(update={"login_max_failures": 5})

    def guess(i: int) -> str:
        try:
            authenticate(engine, info.username, f"guess {i}", strict)
        except TooManyAttempts as exc:
            assert exc.retry_after > 0
            return "throttled"
        except Unauthenticated:
            return "refused"
        return "in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(8)))
    assert sorted(outcomes) == ["refused"] * 5 + ["throttled"] * 3
    # Even the right password waits for the window to end...
    with pytest.raises(TooManyAttempts):
        authenticate(engine, info.username, PASSWORD, strict)
    # ...and gets in once it has.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE login_throttle SET window_start = window_start - make_interval(secs => :w)"
                " WHERE username = :u"
            ),
            {"w": strict.login_window_s, "u": info.username},
        )
    assert authenticate(engine, info.username, PASSWORD, strict).id == info.id


def test_a_good_login_clears_the_count(
    engine: Engine, settings: Settings, sample_layout: int
) -> None:
    info = create_account(engine, _name("dispatcher"), "dispatcher", PASSWORD)
    strict = settings.model_copy(update={"login_max_failures": 3})
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            authenticate(engine, info.username, "nope nope", strict)
    authenticate(engine, info.username, PASSWORD, strict)  # the third attempt: in
    for _ in range(3):  # the count starts again
        with pytest.raises(Unauthenticated):
            authenticate(engine, info.username, "nope nope", strict)
    with pytest.raises(TooManyAttempts):
        authenticate(engine, info.username, PASSWORD, strict)


def test_a_switched_off_account_cannot_log_in(engine: Engine, sample_layout: int) -> None:
    info = create_account(engine, _name("analyst"), "analyst", PASSWORD)
    principal = load_principal(engine, info.id, info.role)
    set_active(engine, info.username, False)
    with pytest.raises(Unauthenticated, match="switched off"):
        authenticate(engine, info.username, PASSWORD, _settings())
    with pytest.raises(Unauthenticated):
        load_principal(engine, principal.account_id, principal.role)
    set_active(engine, info.username, True)
    assert authenticate(engine, info.username, PASSWORD, _settings()).active


# -------------------------------------------------------------- tokens ---


def test_token_key_file_is_made_once_and_private(settings: Settings, tmp_path: Path) -> None:
    own = settings.model_copy(update={"auth_secret": None, "auth_key_file": tmp_path / "k"})
    token, lifetime = issue_token(7, "someone", "chief", own)
    assert lifetime == own.auth_token_minutes * 60
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == 0o600
    claims = read_token(token, own)
    assert (claims.account_id, claims.username, claims.role) == (7, "someone", "chief")
    other = settings.model_copy(update={"auth_secret": None, "auth_key_file": tmp_path / "k2"})
    with pytest.raises(Unauthenticated):
        read_token(token, other)
    secret = settings.model_copy(update={"auth_secret": "s" * 40})
    with pytest.raises(Unauthenticated):
        read_token(token, secret)
    assert read_token(issue_token(7, "someone", "chief", secret)[0], secret).account_id == 7


# --------------------------------------------------------------- scope ---


def test_officer_sees_only_their_station_community(engine: Engine, sample_layout: int) -> None:
    p = _account(engine, "officer", station_code=STATION)
    assert not p.scope.everywhere
    assert p.scope.communities == {STATION_COMMUNITY[STATION]}
    other = next(c for c in ALL_COMMUNITIES if c != STATION_COMMUNITY[STATION])
    assert may_see(p, CaseAt(STATION_COMMUNITY[STATION]))
    assert not may_see(p, CaseAt(other))
    assert not may_see(p, CaseAt(None))  # outside / unassigned: for the command centre


def test_squad_leader_sees_the_squads_communities(engine: Engine, sample_layout: int) -> None:
    p = _account(engine, "squad_leader", squad_code=SQUAD)
    assert p.scope.communities == SQUAD_COMMUNITIES[SQUAD]
    assert len(SQUAD_COMMUNITIES[SQUAD]) > 1
    for c in SQUAD_COMMUNITIES[SQUAD]:
        assert may_see(p, CaseAt(c))
    for c in SQUAD_COMMUNITIES[OTHER_SQUAD]:
        assert not may_see(p, CaseAt(c))


@pytest.mark.parametrize("role", ["deputy_leader", "chief", "dispatcher", "admin", "analyst"])
def test_leaders_dispatchers_admins_analysts_see_everywhere(
    engine: Engine, sample_layout: int, role: str
) -> None:
    p = _account(engine, role)
    assert p.scope.everywhere
    assert all(may_see(p, CaseAt(c)) for c in ALL_COMMUNITIES)
    assert may_see(p, CaseAt(None))


def test_every_role_has_a_rule() -> None:
    assert set(RULES) == set(ROLES)
    assert ROLES == (
        "officer",
        "squad_leader",
        "deputy_leader",
        "chief",
        "dispatcher",
        "analyst",
        "admin",
        "department_staff",
    )


def test_scope_condition_filters_the_real_communities(engine: Engine, sample_layout: int) -> None:
    """The SQL form of the scope keeps exactly the communities the rule names."""
    community = sa.table("community", sa.column("code"), sa.column("generation_id"))
    expected = {
        "officer": {STATION_COMMUNITY[STATION]},
        "squad_leader": SQUAD_COMMUNITIES[SQUAD],
        "chief": ALL_COMMUNITIES,
    }
    for role, want in expected.items():
        p = _account(engine, role)
        query = sa.select(community.c.code).where(
            community.c.generation_id == sample_layout, scope_condition(p, community.c.code)
        )
        with engine.connect() as conn:
            assert set(conn.execute(query).scalars()) == want, role


# -------------------------------------------------------- personal data ---


def test_who_reads_the_reporter_unmasked(engine: Engine, sample_layout: int) -> None:
    here = STATION_COMMUNITY[STATION]
    minor, major = CaseAt(here, "minor"), CaseAt(here, "major")
    # A community of the squad with another station: the squad leader's, not the officer's.
    assert here in SQUAD_COMMUNITIES[SQUAD]
    next_door = CaseAt(sorted(SQUAD_COMMUNITIES[SQUAD] - {here})[0], "minor")
    expect = {
        # role: (minor here, major here, minor next door), each held by its tier's holder:
        # the station's officers, the deputy leader in charge (cases.lifecycle.holders)
        "officer": (Disclosure.PLAIN, Disclosure.MASKED, Disclosure.ABSENT),
        "squad_leader": (Disclosure.MASKED, Disclosure.MASKED, Disclosure.MASKED),
        "deputy_leader": (Disclosure.MASKED, Disclosure.PLAIN, Disclosure.MASKED),
        "chief": (Disclosure.MASKED, Disclosure.MASKED, Disclosure.MASKED),
        "dispatcher": (Disclosure.PLAIN, Disclosure.PLAIN, Disclosure.PLAIN),
        "admin": (Disclosure.MASKED, Disclosure.MASKED, Disclosure.MASKED),
        "analyst": (Disclosure.ABSENT, Disclosure.ABSENT, Disclosure.ABSENT),
    }
    for role, want in expect.items():
        p = _account(engine, role)
        got = tuple(disclosure(p, case) for case in (minor, major, next_door))
        assert got == want, role
        assert handles_case(p, minor) == (want[0] is Disclosure.PLAIN), role
    assert disclosure(None, minor) is Disclosure.ABSENT  # a resident with a token


def test_reporter_contact_masks_or_leaves_out(engine: Engine, sample_layout: int) -> None:
    case = CaseAt(STATION_COMMUNITY[STATION], "minor")
    name, phone = "陈小明", "13812345678"
    officer, admin, analyst = (_account(engine, r) for r in ("officer", "admin", "analyst"))
    assert reporter_contact(officer, case, name, phone) == {
        "reporter_name": name,
        "reporter_phone": phone,
    }
    assert reporter_contact(admin, case, name, phone) == {
        "reporter_name": "陈*明",
        "reporter_phone": "138****5678",
    }
    assert reporter_contact(analyst, case, name, phone) is None
    assert reporter_contact(None, case, name, phone) is None


# --------------------------------------------------------- create rules ---


def test_create_account_refuses_what_does_not_fit(engine: Engine, sample_layout: int) -> None:
    cases: list[tuple[dict[str, str], type[Exception], str]] = [
        ({"role": "resident"}, InvalidInput, "unknown role"),
        ({"role": "officer"}, InvalidInput, "needs --station"),
        ({"role": "squad_leader"}, InvalidInput, "needs --squad"),
        ({"role": "officer", "station_code": "ST0"}, NotFound, "no station"),
        ({"role": "squad_leader", "squad_code": "SQ0"}, NotFound, "no squad"),
        ({"role": "chief", "station_code": STATION}, InvalidInput, "for officers"),
        ({"role": "officer", "station_code": STATION, "squad_code": SQUAD}, InvalidInput, "squad"),
        ({"role": "chief", "officer_code": "OF99999"}, NotFound, "no officer"),
        ({"role": "dispatcher", "officer_code": "OF00001"}, InvalidInput, "is a chief"),
    ]
    for kwargs, error, words in cases:
        role = kwargs.pop("role")
        with pytest.raises(error, match=words):
            create_account(engine, _name("x"), role, PASSWORD, **kwargs)
    with pytest.raises(InvalidInput, match="password"):
        create_account(engine, _name("chief"), "chief", "short")
    with pytest.raises(InvalidInput, match="username"):
        create_account(engine, "bad name!", "chief", PASSWORD)
    create_account(engine, "twice", "chief", PASSWORD, officer_code="OF00001")
    with pytest.raises(Conflict, match="taken"):
        create_account(engine, "TWICE", "analyst", PASSWORD)
    assert [a.role for a in list_accounts(engine) if a.username == "twice"] == ["chief"]


# ----------------------------------------------------------------- CLI ---


def _grid(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_grid_user_create_list_disable(engine: Engine, sample_layout: int) -> None:
    code, text = _grid(
        "user", "create", "Li.Wei", "--role", "officer", "--password", PASSWORD,
        "--station", STATION,
    )  # fmt: skip
    assert code == 0, text
    assert "li.wei" in text and STATION in text and PASSWORD not in text
    code, text = _grid(
        "user", "create", "zhang.lead", "--role", "squad_leader", "--password", PASSWORD,
        "--squad", SQUAD,
    )  # fmt: skip
    assert code == 0, text
    code, text = _grid("user", "create", "cc110", "--role", "dispatcher", "--password", PASSWORD)
    assert code == 0, text
    code, text = _grid("user", "list", "--json")
    assert code == 0
    listed = {a["username"]: a for a in json.loads(text)}
    assert listed["li.wei"]["role"] == "officer" and listed["li.wei"]["station_code"] == STATION
    assert listed["zhang.lead"]["squad_code"] == SQUAD
    assert listed["cc110"]["active"] is True
    assert all("password" not in key for a in listed.values() for key in a)
    officer = authenticate(engine, "li.wei", PASSWORD, _settings())
    assert load_principal(engine, officer.id, "officer").scope.communities == {
        STATION_COMMUNITY[STATION]
    }
    code, text = _grid("user", "list")
    assert code == 0 and "li.wei" in text and "$argon2" not in text
    code, text = _grid("user", "disable", "LI.WEI")
    assert code == 0 and "switched off" in text
    with pytest.raises(Unauthenticated):
        authenticate(engine, "li.wei", PASSWORD, _settings())
    code, text = _grid("user", "disable", "no.such.user")
    assert code == 1 and "no account" in text


@pytest.mark.parametrize(
    ("args", "exit_code", "words"),
    [
        (["--role", "mayor"], 2, "unknown role"),
        (["--role", "officer"], 2, "needs --station"),
        (["--role", "squad_leader"], 2, "needs --squad"),
        (["--role", "officer", "--station", "ST404"], 1, "no station"),
        (["--role", "squad_leader", "--squad", "SQ404"], 1, "no squad"),
        (["--role", "analyst", "--squad", SQUAD], 2, "for squad leaders"),
        (["--role", "chief", "--password", "short"], 2, "8 to 256"),
    ],
)
def test_grid_user_create_bad_input(
    sample_layout: int, args: list[str], exit_code: int, words: str
) -> None:
    full = ["user", "create", _name("cli"), *args]
    if "--password" not in args:
        full += ["--password", PASSWORD]
    code, text = _grid(*full)
    assert code == exit_code, text
    assert words in " ".join(text.split())


def test_grid_user_create_duplicate(sample_layout: int) -> None:
    name = _name("dup")
    assert _grid("user", "create", name, "--role", "analyst", "--password", PASSWORD)[0] == 0
    code, text = _grid("user", "create", name, "--role", "chief", "--password", PASSWORD)
    assert code == 1 and "taken" in text
