"""Personal data: encrypted at rest, masked in views, never logged.

Names and phone numbers of residents and officers are stored as Fernet tokens
(AES-128-CBC with HMAC). The key comes from `CG_DATA_KEY`, or from a key file
made once under var/ on a developer machine.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gis.settings import Settings, get_settings


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def _key(settings: Settings) -> str:
    if settings.data_key:
        return settings.data_key
    return _key_from_file(settings.data_key_file)


@lru_cache(maxsize=4)
def _key_from_file(path: Path) -> str:
    """The key in `path`, made once if missing (read once per process)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode())
    return path.read_text().strip()


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
