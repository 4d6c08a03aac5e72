"""The table of manual ledger entries: what a station writes down by hand where
the data does not know it (free notes in the work log, problems, meetings,
walk-in requests).

Versioned and append-only: an entry is its first row (`entry_id` = its `id`,
`version` 1); a correction or a withdrawal is a new row with the next
version of the same `entry_id`, and the newest version is the entry. The
database refuses UPDATE, DELETE and TRUNCATE of this table for every role
(trigger `ledger_entry_append_only`, migration 0009_ledgers), and two
corrections of one version cannot both be kept (unique `entry_id, version`).

The fields are JSON, checked per ledger (cases.ledgers.manual); the names and
phone numbers among them are kept apart, encrypted (gis.privacy) in
`personal_enc`, never in `fields`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.models import Base

ENTRY_KINDS = ("work_log", "problem_list", "meeting_minutes", "petition_register")
"""The ledgers that take manual entries (cases.ledgers.kinds.MANUAL_KINDS)."""


class LedgerEntry(Base):
    """One version of a manual ledger entry of a station."""

    __tablename__ = "ledger_entry"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"))
    version: Mapped[int] = mapped_column(Integer)
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    kind: Mapped[str] = mapped_column(String(24))
    entry_date: Mapped[date] = mapped_column(Date)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    personal_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint(f"kind IN {ENTRY_KINDS!r}", name="ledger_entry_kind"),
        CheckConstraint("version >= 1", name="ledger_entry_version"),
        CheckConstraint(
            "(version = 1) = (entry_id = id)", name="ledger_entry_first_version_is_the_entry"
        ),
        UniqueConstraint("entry_id", "version", name="ledger_entry_version_once"),
        # A station's month of one ledger.
        Index("ledger_entry_station_kind_date_idx", "station_code", "kind", "entry_date"),
    )
