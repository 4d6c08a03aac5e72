"""API keys of Open311 clients: made once, stored only as SHA-256, checked, revoked.

The command line is tested as operators use it: `grid apikey create NAME`
prints the key as its last line, `grid apikey list` never shows a key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cases.apikeys import (
    KEY_PREFIX,
    create_api_key,
    hash_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from cases.errors import Forbidden, InvalidInput, NotFound
from gis.settings import ROOT, Settings

GRID = str(ROOT / ".venv" / "bin" / "grid")


def _stored(engine: Engine, key_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM api_key WHERE id = :id"), {"id": key_id})
        return dict(row.mappings().one())


def test_create_returns_a_random_key_and_stores_only_its_sha256(engine: Engine) -> None:
    key = create_api_key(engine, "12345 热线")
    other = create_api_key(engine, "12345 热线")
    assert key != other
    assert key.startswith(KEY_PREFIX)
    assert len(key) >= len(KEY_PREFIX) + 40  # 256 random bits, urlsafe base64
    key_id = verify_api_key(engine, key)
    row = _stored(engine, key_id)
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
    assert row["name"] == "12345 热线"
    assert row["active"] is True
    with engine.connect() as conn:
        dump = conn.execute(sa.text("SELECT string_agg(t::text, '|') FROM api_key t")).scalar()
    assert dump is not None and key not in dump


def test_verify_refuses_missing_wrong_and_oversized_keys(engine: Engine) -> None:
    key = create_api_key(engine, "wechat mini-program")
    assert verify_api_key(engine, f"  {key} ") == verify_api_key(engine, key)
    for bad in (None, "", "   ", key + "x", key[:-1], "cg_" + "A" * 43, "x" * 10_000):
        with pytest.raises(Forbidden) as info:
            verify_api_key(engine, bad)
        assert info.value.field == "api_key"


def test_revoked_key_is_refused_and_listed_inactive(engine: Engine) -> None:
    key = create_api_key(engine, "to revoke")
    key_id = verify_api_key(engine, key)
    info = revoke_api_key(engine, key_id)
    assert info.active is False
    assert revoke_api_key(engine, key_id).active is False  # idempotent
    with pytest.raises(Forbidden):
        verify_api_key(engine, key)
    listed = {k.id: k for k in list_api_keys(engine)}
    assert listed[key_id].active is False
    assert listed[key_id].name == "to revoke"
    with pytest.raises(NotFound):
        revoke_api_key(engine, 2_000_000_000)


@pytest.mark.parametrize("name", ["", "   ", "a" * 201, "tab\x01name"])
def test_create_refuses_bad_names(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidInput):
        create_api_key(engine, name)


def test_create_keeps_names_as_text(engine: Engine) -> None:
    name = "<script>alert(1)</script>'; DROP TABLE api_key; --"
    key_id = verify_api_key(engine, create_api_key(engine, name))
    assert _stored(engine, key_id)["name"] == name


def test_cli_create_prints_the_key_as_last_line_and_list_never_shows_it(
    engine: Engine, settings: Settings
) -> None:
    done = subprocess.run(
        [GRID, "apikey", "create", "城管通 app"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    key_id = verify_api_key(engine, key)
    assert _stored(engine, key_id)["name"] == "城管通 app"

    from gridcli.main import app

    listed = CliRunner().invoke(app, ["apikey", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {"id": key_id, "name": "城管通 app", "active": True}.items() <= next(
        r for r in rows if r["id"] == key_id
    ).items()
    assert key not in listed.stdout
    table = CliRunner().invoke(app, ["apikey", "list"])
    assert table.exit_code == 0 and key not in table.stdout

    revoked = CliRunner().invoke(app, ["apikey", "revoke", str(key_id)])
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(Forbidden):
        verify_api_key(engine, key)


def test_cli_create_refuses_an_empty_name(settings: Settings) -> None:
    from gridcli.main import app

    result = CliRunner().invoke(app, ["apikey", "create", "  "])
    assert result.exit_code == 2
    assert result.stdout.strip() == ""
