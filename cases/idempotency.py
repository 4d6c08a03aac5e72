"""Idempotent POSTs: a retry with the same `Idempotency-Key` gets the first answer.

`run_idempotent` keeps, per (scope, key), the hash of the request body and the
first answer (status, body, media type) in `idempotency_record`:
- no key: the request is simply produced;
- a key seen before with the same body: the stored answer, nothing created;
- a key seen before with a different body: Conflict (409);
- a key never seen: produce the answer and store it.

Two concurrent requests with one key are serialised by a transaction-scoped
advisory lock on (scope, key): the second waits, then finds the first's
record. The answer is produced inside the same transaction as the record
(`transaction(engine)` hands that connection to the producer), so a case is
never created without its record, nor the record without its case. A
producer that raises stores nothing, so a corrected retry may reuse the key.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.errors import Conflict, InvalidInput

MAX_KEY_LENGTH = 200
MAX_SCOPE_LENGTH = 64

_ambient: contextvars.ContextVar[tuple[Engine, Connection] | None] = contextvars.ContextVar(
    "cases_ambient_transaction", default=None
)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction: the caller's ambient one if any, else a new one.

    Functions of cases/ that write (e.g. `submit_complaint`) use this, so that
    under `run_idempotent` their writes commit or roll back with the record.
    """
    current = _ambient.get()
    if current is not None and current[0] is engine:
        yield current[1]
        return
    with engine.begin() as conn:
        yield conn


def _lock_key(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"idem\0{scope}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def check_key(key: str) -> str:
    """Refuse keys that are empty, longer than 200 characters or not printable ASCII."""
    if not key.strip():
        raise InvalidInput("Idempotency-Key must not be empty", field="Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )
    if not all(" " <= ch <= "~" for ch in key):
        raise InvalidInput("Idempotency-Key must be printable ASCII", field="Idempotency-Key")
    return key


def run_idempotent(
    engine: Engine,
    scope: str,
    key: str | None,
    request_body: bytes,
    produce: Callable[[], tuple[int, str, str]],
) -> tuple[int, str, str]:
    """Produce `(status, body, media_type)` once per (scope, key) and replay it on retries."""
    if key is None:
        return produce()
    check_key(key)
    if not scope or len(scope) > MAX_SCOPE_LENGTH:
        raise ValueError(f"scope must be 1-{MAX_SCOPE_LENGTH} characters")
    body_hash = hashlib.sha256(request_body).hexdigest()
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(scope, key)})
        seen = conn.execute(
            sa.text(
                "SELECT request_hash, status_code, body, media_type FROM idempotency_record "
                "WHERE scope = :scope AND key = :key"
            ),
            {"scope": scope, "key": key},
        ).first()
        if seen is not None:
            if seen.request_hash != body_hash:
                raise Conflict(
                    "this Idempotency-Key was already used with a different request body; "
                    "use a new key for a new request",
                    field="Idempotency-Key",
                )
            return int(seen.status_code), str(seen.body), str(seen.media_type)
        token = _ambient.set((engine, conn))
        try:
            status, body, media_type = produce()
        finally:
            _ambient.reset(token)
        conn.execute(
            sa.text("""
            INSERT INTO idempotency_record (scope, key, request_hash, status_code, body,
                                            media_type)
            VALUES (:scope, :key, :hash, :status, :body, :media)
            ON CONFLICT (scope, key) DO NOTHING"""),
            {
                "scope": scope,
                "key": key,
                "hash": body_hash,
                "status": status,
                "body": body,
                "media": media_type,
            },
        )
        return status, body, media_type
