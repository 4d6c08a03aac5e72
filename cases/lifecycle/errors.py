"""Refusals of a move that carry the case as it is now (cases.lifecycle.transitions).

A change based on an old version, or a move the table does not allow from the
case's state, is refused with the current state, never silently applied:
the caller sees what changed and may decide again. The API answers
`StaleVersion` and `IllegalTransition` with 409, `PreconditionFailed` (an
If-Match that no longer matches) with 412, each with `current` in the body and
the current ETag; a change that names no version at all is
`PreconditionRequired` (428).
"""

from __future__ import annotations

from typing import Any

from cases.errors import Conflict, DomainError


class CaseConflict(Conflict):
    """A move refused because of the case's current state; `current` is its view."""

    code = "conflict"

    def __init__(
        self, message: str, *, current: dict[str, Any], etag: str, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.current = current
        self.etag = etag


class StaleVersion(CaseConflict):
    """The `version` sent is not the case's version now (someone changed it since)."""

    code = "stale_version"


class PreconditionFailed(CaseConflict):
    """The If-Match sent does not match the case's ETag now (RFC 9110 §13.1.1)."""

    code = "precondition_failed"


class IllegalTransition(CaseConflict):
    """The table has no such move from the case's state."""

    code = "illegal_transition"


class PreconditionRequired(DomainError):
    """A change must say which version it was based on: `version` or If-Match."""

    code = "precondition_required"
