"""Tables of the case workflow: cases, their append-only events, API keys,
idempotency records.

A case row carries where it was located (the exact grid row of its generation,
plus the codes, so it reads the same after the layout moves on). Every state
change bumps `version` (optimistic concurrency) and appends a `case_event` in
the same transaction; nothing is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.models import SRID, Base

CASE_STATUSES = ("open", "needs_location", "referred_out", "merged", "closed")
TIERS = ("minor", "moderate", "major")
LOCATE_METHODS = ("contained", "snapped", "unassigned", "outside", "none")


class Case(Base):
    """案件: a complaint or finding taken into the workflow."""

    __tablename__ = "case_file"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
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
    # No foreign key: grid rows are never updated or deleted (each load writes a
    # new generation), and the check would cost a trigger call per case in bulk.
    grid_cell_id: Mapped[int | None] = mapped_column(Integer)
    grid_code: Mapped[str | None] = mapped_column(String(15))
    community_code: Mapped[str | None] = mapped_column(String(12))
    subdistrict_code: Mapped[str | None] = mapped_column(String(9))
    station_code: Mapped[str | None] = mapped_column(String(16))
    squad_code: Mapped[str | None] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(6))
    officer_code: Mapped[str | None] = mapped_column(String(16))
    master_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    external_ref: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __table_args__ = (
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="case_status"),
        CheckConstraint(f"tier IN {TIERS!r}", name="case_tier"),
        CheckConstraint(f"locate_method IN {LOCATE_METHODS!r}", name="case_locate_method"),
        # Duplicate search (one subclass within hours: a few rows to test by
        # distance) and Open311 listings by service and date. No GiST on the
        # points: its upkeep was a third of a bulk load's insert time.
        Index("case_subclass_reported_idx", "subclass_code", "reported_at"),
        Index("case_reported_idx", "reported_at"),
        Index("case_master_idx", "master_id", postgresql_where=text("master_id IS NOT NULL")),
    )


class CaseEvent(Base):
    """One state change of a case; append-only."""

    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key: events are only written with their case, by the workflow,
    # in the same statement or transaction; the check was a trigger call each.
    case_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    __table_args__ = (Index("case_event_case_idx", "case_id", "at"),)


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
