"""The personal-data key: never made while encrypted data exists; a wrong one stops start-up."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from other_database import on_database
from sqlalchemy.engine import Engine

from gis.db import drop_database, ensure_database, get_engine, migrate
from gis.privacy import KeyProblem, check_key, fingerprint, require_key
from gis.settings import ROOT, Settings

GRID = str(ROOT / ".venv" / "bin" / "grid")


def grid(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `grid` against the test database with extra environment; output unwrapped."""
    run = subprocess.run(
        [GRID, *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    run.stderr = " ".join(run.stderr.split())  # the console wraps long messages
    return run


@pytest.fixture(scope="module")
def empty_db(settings: Settings) -> Iterator[Settings]:
    """A second migrated database that holds no encrypted value (dropped afterwards)."""
    name = f"cg_empty_{uuid.uuid4().hex[:8]}"
    empty = on_database(settings, name)
    ensure_database(empty)
    migrate(empty)
    yield empty
    get_engine(empty).dispose()
    drop_database(empty, name)


def test_missing_key_with_encrypted_data_stops_the_cli(tmp_path: Path, sample_layout: int) -> None:
    missing = tmp_path / "data.key"
    run = grid("summary", CG_DATA_KEY_FILE=str(missing))
    assert run.returncode == 1
    assert "personal-data key is missing" in run.stderr and str(missing) in run.stderr
    assert "Restore the key file backed up with the database" in run.stderr
    assert not missing.exists(), "no key is made while encrypted data exists"
    assert "Traceback" not in run.stderr


def test_missing_key_with_encrypted_data_stops_the_api(
    tmp_path: Path, settings: Settings, sample_layout: int
) -> None:
    from api.app import create_app

    missing = tmp_path / "data.key"
    app = create_app(settings.model_copy(update={"data_key_file": missing}))
    with pytest.raises(KeyProblem, match="personal-data key is missing"), TestClient(app):
        pass
    assert not missing.exists()


def test_wrong_key_stops_the_cli_and_the_api(settings: Settings, sample_layout: int) -> None:
    from api.app import create_app

    other = Fernet.generate_key().decode()
    run = grid("summary", CG_DATA_KEY=other)
    assert run.returncode == 1
    assert "does not decrypt the stored data" in run.stderr
    assert fingerprint(other) in run.stderr and other not in run.stderr
    app = create_app(settings.model_copy(update={"data_key": other}))
    with pytest.raises(KeyProblem, match="does not decrypt"), TestClient(app):
        pass


def test_key_check_reports_where_the_key_is_and_what_it_reads(
    engine: Engine, settings: Settings, sample_layout: int
) -> None:
    run = grid("key", "check", "--sample", "3")
    assert run.returncode == 0, run.stderr
    report = check_key(engine, settings)
    assert str(settings.data_key_file) in run.stdout and "(file)" in run.stdout
    assert f"fingerprint:  {report.fingerprint}" in run.stdout
    assert "officer.name_enc: 3 of 3 sampled" in run.stdout
    assert "officer.phone_enc: 3 of 3 sampled" in run.stdout
    assert "back the key up together with the database" in run.stdout

    wrong = grid("key", "check", "--json", CG_DATA_KEY=Fernet.generate_key().decode())
    assert wrong.returncode == 1
    body = json.loads(wrong.stdout)
    assert body["source"] == "CG_DATA_KEY" and body["present"] is True and body["ok"] is False
    assert body["samples"]["officer.name_enc"]["decrypted"] == 0
    assert "does not decrypt" in wrong.stderr


def test_a_key_is_made_only_on_a_database_without_encrypted_data(
    tmp_path: Path, empty_db: Settings, settings: Settings, sample_layout: int
) -> None:
    fresh = tmp_path / "data.key"
    there = (
        {"DATABASE_URL": empty_db.url_for()}
        if empty_db.database_url
        else {"CG_DATABASE_NAME": empty_db.database}
    )
    run = grid("key", "check", CG_DATA_KEY_FILE=str(fresh), **there)
    assert run.returncode == 0 and "present:      no" in run.stdout
    assert "the next start makes one" in run.stdout and not fresh.exists()

    run = grid("summary", CG_DATA_KEY_FILE=str(fresh), **there)
    assert run.returncode == 0, run.stderr
    assert "made a new personal-data key" in run.stderr
    assert fresh.exists() and fresh.stat().st_mode & 0o777 == 0o600
    made = require_key(get_engine(empty_db), empty_db.model_copy(update={"data_key_file": fresh}))
    assert made.present and not made.made

    # The same missing key on the database with officers: refused, nothing made.
    with pytest.raises(KeyProblem, match="missing"):
        absent = settings.model_copy(update={"data_key_file": tmp_path / "absent.key"})
        require_key(get_engine(settings), absent)
