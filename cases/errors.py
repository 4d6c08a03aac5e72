"""Domain errors of the workflow. The API maps each to one HTTP status, in one table."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause; `message` is safe to show them."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """The request is well-formed but its values cannot be accepted (422)."""

    code = "invalid"


class NotFound(DomainError):
    """No such case, service, token or key (404)."""

    code = "not_found"


class Forbidden(DomainError):
    """Missing or wrong credentials (403)."""

    code = "forbidden"


class Conflict(DomainError):
    """The state changed under the caller, or an idempotency key was reused (409)."""

    code = "conflict"
