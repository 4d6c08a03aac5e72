"""API keys of Open311 clients (third-party apps, hotline systems).

A key is random (256 bits from `secrets`), shown once when it is made, and
only its SHA-256 is stored: a leaked database gives nobody a usable key. A key
is switched off (never deleted) with `revoke_api_key`, so the cases it filed
keep naming it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.errors import Forbidden, InvalidInput, NotFound

KEY_PREFIX = "cg_"
"""Keys start with this, so a key pasted in the wrong place is recognisable."""

MAX_NAME_LENGTH = 200
MAX_KEY_LENGTH = 128
"""Longer candidates are refused before hashing (nothing we issue is longer)."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key: never the key itself."""

    id: int
    name: str
    created_at: datetime
    active: bool

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "active": self.active,
        }


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("a key needs a name (who it is for)", field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name longer than {MAX_NAME_LENGTH} characters", field="name")
    if any(ord(ch) < 32 for ch in cleaned):
        raise InvalidInput("name contains control characters", field="name")
    return cleaned


def create_api_key(engine: Engine, name: str) -> str:
    """Make a key for `name`; returns the key, which is not stored and cannot be shown again."""
    cleaned = _clean_name(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO api_key (name, key_hash, active) VALUES (:name, :key_hash, true)"),
            {"name": cleaned, "key_hash": hash_key(key)},
        )
    return key


def verify_api_key(engine: Engine, key: str | None) -> int:
    """The id of the active key `key`; Forbidden when it is missing, unknown or revoked."""
    if key is None or not key.strip():
        raise Forbidden("api_key is missing: a key is required to submit requests", field="api_key")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise Forbidden("invalid api_key", field="api_key")
    with engine.connect() as conn:
        key_id = conn.execute(
            sa.text("SELECT id FROM api_key WHERE key_hash = :h AND active"), {"h": hash_key(key)}
        ).scalar()
    if key_id is None:
        raise Forbidden("invalid api_key", field="api_key")
    return int(key_id)


def list_api_keys(engine: Engine) -> list[ApiKeyInfo]:
    """Every key ever made, oldest first, without the keys themselves."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, name, created_at, active FROM api_key ORDER BY id")
        ).all()
    return [
        ApiKeyInfo(id=r.id, name=r.name, created_at=r.created_at, active=r.active) for r in rows
    ]


def revoke_api_key(engine: Engine, key_id: int) -> ApiKeyInfo:
    """Switch a key off (idempotent); NotFound when there is no such key."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "UPDATE api_key SET active = false WHERE id = :id "
                "RETURNING id, name, created_at, active"
            ),
            {"id": key_id},
        ).one_or_none()
    if row is None:
        raise NotFound(f"no api key with id {key_id}", field="id")
    return ApiKeyInfo(id=row.id, name=row.name, created_at=row.created_at, active=row.active)
