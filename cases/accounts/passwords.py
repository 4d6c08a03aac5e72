"""Password hashing: argon2id through pwdlib.

Parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): on
this 2-core machine a hash takes a few tens of milliseconds idle, so a login
stays quick while a stolen hash stays expensive to attack. The parameters are
written into each hash, so raising them later rehashes every password at its
owner's next login (`verify_and_update`).
"""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
"""Longer passwords are refused before hashing (hashing cost grows with length)."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(memory_cost=19456, time_cost=2, parallelism=1),))


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash of nothing anyone knows, verified when a username is unknown, so
    that an unknown user takes as long to refuse as a wrong password."""
    return _hasher().hash("no such account: this hash only costs time")


def hash_password(password: str) -> str:
    """The stored form of a password (argon2id, salted; the parameters included)."""
    return _hasher().hash(password)


def verify_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether `password` matches `stored`, and a new hash when the stored one
    uses older parameters (None otherwise). A malformed hash never matches."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False, None
    try:
        return _hasher().verify_and_update(password, stored)
    except UnknownHashError:
        return False, None
