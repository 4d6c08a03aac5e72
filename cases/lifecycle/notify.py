"""Notifications: kept as records, delivered through a `Notifier`.

When a case gets a new holder (dispatch, a raised tier, escalation) a row is
written to `notification` in the same transaction as the move: the case, the
recipient's role and officer code, and a message in Chinese. The message
names the case, its subclass, tier and due time, never a reporter's or an
officer's name or phone.

Delivery is separate and at least once: `deliver_pending` takes undelivered
rows (FOR UPDATE SKIP LOCKED, so several workers never send one twice at the
same time), hands each to the notifier and marks it delivered; a notifier
that raises leaves it pending with the error counted. `LogNotifier` writes
one log line per notification (codes only); SMS or WeChat adapters implement
the same Protocol later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One notification to deliver."""

    id: int
    case_id: int
    kind: str
    recipient_role: str
    recipient_code: str | None
    message: str


class Notifier(Protocol):
    """Delivers notices (log now; SMS, WeChat later). `channel` names it in the record."""

    channel: str

    def send(self, notice: Notice) -> None:
        """Deliver one notice; raise to leave it pending (it is tried again)."""
        ...


class LogNotifier:
    """Writes each notice as a log line: case, kind, recipient role and code only."""

    channel = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    def send(self, notice: Notice) -> None:
        """Log the notice (never a name or phone: the recipient is a code)."""
        self._log.info(
            "notification %d: case %d %s -> %s %s",
            notice.id,
            notice.case_id,
            notice.kind,
            notice.recipient_role,
            notice.recipient_code or "-",
        )


_PENDING = sa.text("""
SELECT id, case_id, kind, recipient_role, recipient_code, message FROM notification
WHERE delivered_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED
""")
_DELIVERED = sa.text("""
UPDATE notification SET delivered_at = now(), channel = :channel, attempts = attempts + 1
WHERE id = ANY(CAST(:ids AS bigint[]))
""")
_FAILED = sa.text("""
UPDATE notification SET attempts = attempts + 1, last_error = :error
WHERE id = ANY(CAST(:ids AS bigint[]))
""")


def deliver_pending(engine: Engine, notifier: Notifier, limit: int = 1000) -> int:
    """Deliver up to `limit` pending notifications; returns how many were delivered."""
    with engine.begin() as conn:
        rows = conn.execute(_PENDING, {"n": limit}).all()
        sent: list[int] = []
        failed: list[int] = []
        error = ""
        for r in rows:
            notice = Notice(r.id, r.case_id, r.kind, r.recipient_role, r.recipient_code, r.message)
            try:
                notifier.send(notice)
            except Exception as exc:  # a channel's failure: keep it pending, count it
                failed.append(r.id)
                error = f"{type(exc).__name__}"[:200]
            else:
                sent.append(r.id)
        if sent:
            conn.execute(_DELIVERED, {"ids": sent, "channel": notifier.channel})
        if failed:
            conn.execute(_FAILED, {"ids": failed, "error": error})
    return len(sent)
