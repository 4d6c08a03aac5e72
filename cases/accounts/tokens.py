"""Signed access tokens (JWT, HS256) for the OAuth2 password flow and the session cookie.

The signing secret is `CG_AUTH_SECRET`; when unset, a random key is made once
in `var/auth.key` (mode 0600) and reused. Making it silently is safe: tokens
live `CG_AUTH_TOKEN_MINUTES` (an hour by default), so a lost or replaced key
only means logging in again. With several machines serving, set the secret.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import jwt

from cases.accounts.errors import Unauthenticated
from gis.settings import Settings

ALGORITHM = "HS256"
ISSUER = "community-grid"
AUDIENCE = "community-grid-api"


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is and until when."""

    account_id: int
    username: str
    role: str
    expires_at: datetime


@lru_cache(maxsize=4)
def _key_from_file(path: Path) -> str:
    """The key in `path`, made once (0600) if missing; read once per process."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def signing_key(settings: Settings) -> str:
    """The secret that signs and checks tokens (setting first, else the key file)."""
    return settings.auth_secret or _key_from_file(settings.auth_key_file)


def issue_token(
    account_id: int, username: str, role: str, settings: Settings, now: datetime | None = None
) -> tuple[str, int]:
    """A signed token for an account and its lifetime in seconds."""
    issued = now or datetime.now(UTC)
    lifetime = settings.auth_token_minutes * 60
    claims = {
        "sub": str(account_id),
        "name": username,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=lifetime)).timestamp()),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM), lifetime


def read_token(token: str, settings: Settings) -> TokenClaims:
    """The claims of a token signed by us and not expired; Unauthenticated otherwise
    (tampered, expired, from another key, or not a token at all)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "role", "exp", "iat", "iss", "aud"]},
        )
        account_id = int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired; log in again") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthenticated("the token is not valid; log in again") from None
    return TokenClaims(
        account_id=account_id,
        username=str(claims.get("name", "")),
        role=str(claims["role"]),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
