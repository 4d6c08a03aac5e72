"""Tables of the case workflow: cases, their append-only events, API keys,
idempotency records, and the staging table of bulk loads.

A case row carries where it was located (the exact grid row of its generation,
a foreign key, plus the codes, so it reads the same after the layout moves
on). Every state change bumps `version` (optimistic concurrency) and appends a
`case_event` in the same transaction; events are append-only in the database
itself (a trigger refuses UPDATE, DELETE and TRUNCATE for every role).

`case_file` and `case_event` are partitioned by case id (migration
0005_case_integrity): one pair of partitions for the cases filed one at a time
(ids from the sequence, below 2^40) and one pair per large bulk load (a block
of ids of its own), made, indexed after the load and attached by the
database functions `case_batch_open` and `case_batch_close`. Attaching checks
the foreign keys of a whole load in one query each. A unique index must
contain the partition key, so each partition has its own unique index on the
tracking token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cases.lifecycle.states import HOLDER_ROLES, STATE_CODES
from gis.models import SRID, Base

LIVE_END = 2**40
"""Case ids below this are filed one at a time (case_file_id_seq, the live partitions)."""
BATCH_SPAN = 2**24
"""Case ids per bulk load's partitions (case_batch_seq hands out their first id)."""

CASE_STATUSES = STATE_CODES
"""The lifecycle's states (cases.lifecycle.states holds them and the legal moves)."""
TIERS = ("minor", "moderate", "major")
LOCATE_METHODS = ("contained", "snapped", "unassigned", "outside", "none")


class Case(Base):
    """案件: a complaint or finding taken into the workflow."""

    __tablename__ = "case_file"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Unique in each partition (an index of its own there; see the module docs).
    token: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    subclass_code: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    reporter_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16), default="api")
    # What the resident sent, as sent: nothing is lost in conversion.
    lon_in: Mapped[float | None] = mapped_column(Double)
    lat_in: Mapped[float | None] = mapped_column(Double)
    crs_in: Mapped[str | None] = mapped_column(String(16))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    locate_method: Mapped[str] = mapped_column(String(12), default="none")
    locate_distance_m: Mapped[float | None] = mapped_column(Double)
    grid_cell_id: Mapped[int | None] = mapped_column(ForeignKey("grid_cell.id"))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    community_code: Mapped[str | None] = mapped_column(String(12))
    subdistrict_code: Mapped[str | None] = mapped_column(String(9))
    station_code: Mapped[str | None] = mapped_column(String(16))
    squad_code: Mapped[str | None] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(6))
    officer_code: Mapped[str | None] = mapped_column(String(16))
    # Who holds the case now (cases.lifecycle.holders), apart from where it was
    # located; the department it is shared with in a 党建+N grid.
    holder_role: Mapped[str | None] = mapped_column(String(16))
    holder_code: Mapped[str | None] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(String(16))
    master_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    reply_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept by the trigger case_event_progress (0010_indicators) for the indicators:
    # the first report back, and the first deadline before any escalation.
    reported_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    external_ref: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __table_args__ = (
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="case_status"),
        CheckConstraint(f"tier IN {TIERS!r}", name="case_tier"),
        CheckConstraint(f"locate_method IN {LOCATE_METHODS!r}", name="case_locate_method"),
        CheckConstraint(f"holder_role IN {HOLDER_ROLES!r}", name="case_holder_role"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="case_rating"),
        # Duplicate search (one subclass within hours: a few rows to test by
        # distance) and Open311 listings by service and date. No GiST on the
        # points: its upkeep was a third of a bulk load's insert time.
        Index("case_subclass_reported_idx", "subclass_code", "reported_at"),
        Index("case_reported_idx", "reported_at"),
        Index("case_master_idx", "master_id", postgresql_where=text("master_id IS NOT NULL")),
        # The escalation sweeper's overdue cases; the cases shared with a department.
        Index(
            "case_clock_due_idx",
            "due_at",
            postgresql_where=text("status IN ('dispatched', 'in_progress', 'rework')"),
        ),
        Index(
            "case_department_idx",
            "department_code",
            postgresql_where=text("department_code IS NOT NULL"),
        ),
        # Intake's repeat-report rule: earlier reports of a subclass in a grid (0013).
        Index("case_grid_subclass_reported_idx", "grid_code", "subclass_code", "reported_at"),
        # Intake's officer choice counts each officer's open cases (0012_duty_dispatch).
        Index(
            "case_open_officer_idx",
            "officer_code",
            postgresql_where=text("status IN ('dispatched', 'in_progress', 'rework')"),
        ),
        {"postgresql_partition_by": "RANGE (id)"},
    )


class CaseEvent(Base):
    """One state change of a case; append-only (a trigger refuses UPDATE and DELETE).

    Keyed (case_id, id): the events of a case sit together in its partition.
    `id` comes from case_event_id_seq for cases filed one at a time; a bulk
    load numbers its events from its cases' ids (see cases.bulk.store).
    """

    __tablename__ = "case_event"
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id"), primary_key=True)
    id: Mapped[int] = mapped_column(
        BigInteger, Sequence("case_event_id_seq"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    __table_args__ = (
        # The indicators' moves (filed, sent back, escalated) by kind and time.
        Index(
            "case_event_moves_idx",
            "kind",
            "at",
            postgresql_include=["case_id"],
            postgresql_where=text("kind IN ('filed', 'sent_back', 'escalated')"),
        ),
        {"postgresql_partition_by": "RANGE (case_id)"},
    )


bulk_point = Table(
    "bulk_point",
    Base.metadata,
    Column("id", BigInteger, nullable=False),
    Column("geom", Geometry("POINT", srid=SRID, spatial_index=False), nullable=True),
    prefixes=["UNLOGGED"],
)
"""Where `grid assign` stages the points it locates (unlogged; emptied by each load).

An ordinary (unlogged) table, not a temporary one, so that parallel workers can
read it while locating. Each load takes it whole (TRUNCATE, held to the end of
its transaction), so bulk loads run one after another.
"""


class ApiKey(Base):
    """An Open311 client's key; only its SHA-256 is stored (keys are random)."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class IdempotencyRecord(Base):
    """The first answer to a POST with an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_record"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(64), default="application/json")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Notification(Base):
    """A message to a case's (new) holder, kept as a record (cases.lifecycle.notify).

    Names codes and roles only, never a name or a phone; `delivered_at` is set
    when a Notifier has sent it.
    """

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("case_file.id"), index=False)
    kind: Mapped[str] = mapped_column(String(32))
    recipient_role: Mapped[str] = mapped_column(String(16))
    recipient_code: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        Index("notification_pending_idx", "id", postgresql_where=text("delivered_at IS NULL")),
        Index("notification_case_idx", "case_id"),
    )
