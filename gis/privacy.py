"""Personal data: encrypted at rest, masked in views, never logged.

Names and phone numbers of residents and officers are stored as Fernet tokens
(AES-128-CBC with HMAC) in bytea columns named `*_enc`. The key comes from
`CG_DATA_KEY`, or from the key file (`var/data.key` by default, mode 0600).
It must be backed up together with the database: without it those columns
cannot be read.

A key is never made silently while encrypted data exists. `require_key`,
called at start-up (the API's lifespan, the CLI), makes one only when the
database holds no encrypted value; a missing key with encrypted data, or a key
that does not decrypt a sample of it, stops start-up with a message saying
what to do. `check_key` reports on the key without changing anything
(`grid key check`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine

from gis.settings import Settings, get_settings

log = logging.getLogger(__name__)


class KeyProblem(RuntimeError):
    """The personal-data key is missing or wrong; the message says what to do."""


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise KeyProblem(
            "the personal-data key is not a Fernet key (32 bytes, urlsafe base64); "
            "restore the key used with this database (see `grid key check`)"
        ) from exc


def _key(settings: Settings) -> str:
    if settings.data_key:
        return settings.data_key
    key = _key_from_file(settings.data_key_file)
    if key is None:
        raise KeyProblem(
            f"no personal-data key: {settings.data_key_file} is missing and CG_DATA_KEY is "
            "unset. Start through `grid` or the API (they make a key while the database "
            "holds no encrypted data), or restore the key backed up with the database."
        )
    return key


@lru_cache(maxsize=4)
def _key_from_file(path: Path) -> str | None:
    """The key in `path`, or None when there is no file (read once per process)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def key_source(settings: Settings | None = None) -> str:
    """Where the key is taken from, for messages: the variable or the file."""
    settings = settings or get_settings()
    return "CG_DATA_KEY" if settings.data_key else str(settings.data_key_file)


def fingerprint(key: str) -> str:
    """A short, safe name of a key: the start of its SHA-256 (not the key)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class KeyReport:
    """What `check_key` found: the key, and how a sample of stored values fared."""

    source: str
    present: bool
    fingerprint: str | None = None
    encrypted_data: bool = False
    samples: dict[str, tuple[int, int]] = field(default_factory=dict)
    """"table.column" -> (values decrypted, values sampled)."""
    made: bool = False

    @property
    def problem(self) -> str | None:
        """What is wrong and what to do, or None when the key is fine."""
        if not self.present and self.encrypted_data:
            return (
                f"the personal-data key is missing ({self.source}) but the database holds "
                "encrypted names and phone numbers. Restore the key file backed up with the "
                "database (or set CG_DATA_KEY); a new key could not read them, so none is made."
            )
        failed = {k: v for k, v in self.samples.items() if v[0] < v[1]}
        if self.present and failed:
            where = ", ".join(f"{k}: {ok} of {n}" for k, (ok, n) in failed.items())
            return (
                f"the personal-data key ({self.source}, {self.fingerprint}) does not decrypt "
                f"the stored data ({where} sampled values decrypt). Restore the key used "
                "with this database (see `grid key check`); nothing was changed."
            )
        return None

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (never the key itself)."""
        return {
            "source": self.source,
            "present": self.present,
            "fingerprint": self.fingerprint,
            "encrypted_data": self.encrypted_data,
            "samples": {k: {"decrypted": a, "sampled": b} for k, (a, b) in self.samples.items()},
            "made": self.made,
            "ok": self.problem is None,
            "problem": self.problem,
        }


def encrypted_columns(engine: Engine) -> list[tuple[str, str]]:
    """(table, column) of every stored personal value: bytea columns named *_enc
    (of a partitioned table, its parent only)."""
    with engine.connect() as conn:
        return [
            (r.table_name, r.column_name)
            for r in conn.execute(
                sa.text("""
                SELECT c.relname AS table_name, a.attname AS column_name
                FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                  AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.atttypid = 'bytea'::regtype AND a.attname LIKE '%\\_enc' ESCAPE '\\'
                ORDER BY 1, 2""")
            )
        ]


def check_key(engine: Engine, settings: Settings | None = None, sample: int = 5) -> KeyReport:
    """Report on the key: present, where, fingerprint, and whether it decrypts
    up to `sample` stored values of every encrypted column. Changes nothing."""
    settings = settings or get_settings()
    report = KeyReport(source=key_source(settings), present=True)
    key: str | None = None
    valid = False
    try:
        key = _key(settings)
        report.fingerprint = fingerprint(key)
        _fernet(key)
        valid = True
    except KeyProblem:
        report.present = key is not None
    with engine.connect() as conn:
        for table, column in encrypted_columns(engine):
            t, c = _quote(table), _quote(column)
            if key is None:
                # Exact, so that no key is made while a single value exists.
                found = conn.execute(
                    sa.text(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NOT NULL)")
                ).scalar_one()
                report.encrypted_data = report.encrypted_data or bool(found)
                continue
            # A bounded look (no full scan of a big table where the column is rare).
            values = conn.execute(
                sa.text(
                    f"SELECT v FROM (SELECT {c} AS v FROM {t} LIMIT 100000) s "
                    "WHERE v IS NOT NULL LIMIT :n"
                ),
                {"n": sample},
            ).scalars()
            tokens = [bytes(v) for v in values]
            if tokens:
                report.encrypted_data = True
                ok = sum(valid and _decrypts(key, tok) for tok in tokens)
                report.samples[f"{table}.{column}"] = (ok, len(tokens))
    if key is not None and not valid:
        report.fingerprint = f"{report.fingerprint} (not a Fernet key)"
        report.samples.setdefault("key", (0, 1))
    return report


def require_key(engine: Engine, settings: Settings | None = None) -> KeyReport:
    """Make sure the key fits the database before anything runs; start-up calls this.

    A missing key is made (mode 0600) only while the database holds no
    encrypted value. A missing key with encrypted data, or a wrong key, raises
    KeyProblem with what to do.
    """
    settings = settings or get_settings()
    report = check_key(engine, settings)
    problem = report.problem
    if problem:
        raise KeyProblem(problem)
    if not report.present:
        _make_key_file(settings.data_key_file)
        report = check_key(engine, settings)
        report.made = True
    return report


def require_key_at_start(engine: Engine, settings: Settings | None = None) -> KeyReport | None:
    """`require_key` for a service's start-up; None while the database is unreachable.

    A service whose database is down still starts (and answers 503 until it
    is back), so the check cannot wait for it: then it is skipped, said on
    the log, and nothing is made; a key problem still stops the start.
    """
    try:
        return require_key(engine, settings)
    except sa.exc.OperationalError:
        log.warning("database unreachable at start-up: the personal-data key was not checked")
        return None


def _make_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(Fernet.generate_key().decode())
    _key_from_file.cache_clear()


def _decrypts(key: str, token: bytes) -> bool:
    try:
        _fernet(key).decrypt(token)
    except InvalidToken:
        return False
    return True


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def encrypt(value: str | None, settings: Settings | None = None) -> bytes | None:
    """Encrypt a personal value for storage; None stays None."""
    if value is None or value == "":
        return None
    return _fernet(_key(settings or get_settings())).encrypt(value.encode())


def decrypt(token: bytes | None, settings: Settings | None = None) -> str | None:
    """Decrypt a stored value; a token from another key reads as None."""
    if token is None:
        return None
    try:
        return _fernet(_key(settings or get_settings())).decrypt(bytes(token)).decode()
    except InvalidToken:
        return None


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise, not enough to call."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 11 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """张*丰 / 李*: the family name and, for long names, the last character."""
    if not name:
        return None
    name = name.strip()
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
