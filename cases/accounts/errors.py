"""Errors of logging in; the API answers 401 (with WWW-Authenticate) and 429."""

from __future__ import annotations

from cases.errors import DomainError


class Unauthenticated(DomainError):
    """No credentials, or credentials that do not hold (401): never says which part
    was wrong, so nobody learns whether a username exists."""

    code = "unauthenticated"


class TooManyAttempts(DomainError):
    """Too many failed logins for one username in the window (429)."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, field="username")
        self.retry_after = retry_after
