"""Tables of the stations' work: duty shifts and check-ins, patrols with their
grids and findings, frontage units (门前三包) and their checks.

A shift is a time range (tstzrange, half-open `[start, end)`) of one officer
at one station; the database refuses two live shifts of one officer that
overlap (an exclusion constraint on GiST, with btree_gist for the code).
Check-ins and check-outs are append-only rows, each kept as sent, with where
it was and whether it counts (see cases.stations.duty). Nothing here is
deleted: a shift is cancelled (`cancelled_at`), never removed.
"""

from __future__ import annotations

from datetime import datetime

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
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from gis.models import SRID, Base

CHECK_KINDS = ("in", "out")
CHECK_FLAGS = ("ok", "outside", "no_location")
FRONTAGE_ITEMS: dict[str, str] = {
    "sanitation": "门前卫生",
    "order": "门前秩序",
    "greenery": "门前绿化",
}
"""The frontage responsibility items (门前三包) a patrol checks, code → label."""


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=SRID, spatial_index=False)


class DutyShift(Base):
    """值守: one officer on duty at one station for a time range."""

    __tablename__ = "duty_shift"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    officer_code: Mapped[str] = mapped_column(ForeignKey("officer.code"))
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    during: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(
            "NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during) "
            "AND NOT lower_inf(during) AND NOT upper_inf(during)",
            name="duty_shift_during_bounded",
        ),
        ExcludeConstraint(
            ("officer_code", "="),
            ("during", "&&"),
            name="duty_shift_no_overlap",
            using="gist",
            where=text("cancelled_at IS NULL"),
        ),
        # Who is on duty at a station now; a week's shifts for compliance.
        Index("duty_shift_station_during_idx", "station_code", "during", postgresql_using="gist"),
    )


class DutyCheck(Base):
    """A check-in or check-out on a shift, kept as sent, with its geofence verdict."""

    __tablename__ = "duty_check"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("duty_shift.id"))
    kind: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lon_in: Mapped[float | None] = mapped_column(Double)
    lat_in: Mapped[float | None] = mapped_column(Double)
    crs_in: Mapped[str | None] = mapped_column(String(16))
    geom = mapped_column(_geom("POINT"), nullable=True)
    distance_m: Mapped[float | None] = mapped_column(Double)
    in_community: Mapped[bool | None] = mapped_column(Boolean)
    counts: Mapped[bool] = mapped_column(Boolean)
    flag: Mapped[str] = mapped_column(String(12))
    recorded_by: Mapped[str] = mapped_column(String(64), default="system")
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        CheckConstraint(f"kind IN {CHECK_KINDS!r}", name="duty_check_kind"),
        CheckConstraint(f"flag IN {CHECK_FLAGS!r}", name="duty_check_flag"),
        Index("duty_check_shift_idx", "shift_id", "at"),
    )


class FrontageUnit(Base):
    """A shop or unit under the frontage responsibility system (门前三包), a point."""

    __tablename__ = "frontage_unit"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text, default="", server_default="")
    community_code: Mapped[str] = mapped_column(String(12))
    lon_in: Mapped[float] = mapped_column(Double)
    lat_in: Mapped[float] = mapped_column(Double)
    crs_in: Mapped[str] = mapped_column(String(16))
    geom = mapped_column(_geom("POINT"), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        Index("frontage_unit_community_idx", "community_code"),
        Index("frontage_unit_geom_idx", "geom", postgresql_using="gist"),
    )


class Patrol(Base):
    """巡查: a GPS track walked by an officer, with what it covered."""

    __tablename__ = "patrol"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    officer_code: Mapped[str] = mapped_column(ForeignKey("officer.code"))
    station_code: Mapped[str] = mapped_column(ForeignKey("station.code"))
    community_code: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_format: Mapped[str] = mapped_column(String(8))
    crs_in: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    track = mapped_column(_geom("MULTILINESTRING"), nullable=False)
    length_m: Mapped[float] = mapped_column(Double)
    generation_id: Mapped[int] = mapped_column(ForeignKey("layout_generation.id"))
    buffer_m: Mapped[float] = mapped_column(Double)
    covered_m2: Mapped[float] = mapped_column(Double)
    community_m2: Mapped[float] = mapped_column(Double)
    coverage: Mapped[float] = mapped_column(Double)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("source_format IN ('geojson', 'gpx')", name="patrol_source_format"),
        CheckConstraint("ended_at >= started_at", name="patrol_times"),
        CheckConstraint("coverage BETWEEN 0 AND 1", name="patrol_coverage"),
        Index("patrol_station_started_idx", "station_code", "started_at"),
    )


class PatrolGrid(Base):
    """A grid a patrol's track passed through, and the length walked inside it."""

    __tablename__ = "patrol_grid"
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id"), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12))
    length_m: Mapped[float] = mapped_column(Double)


class PatrolFinding(Base):
    """A problem seen on a patrol; it becomes a case through intake (source patrol)."""

    __tablename__ = "patrol_finding"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id"))
    seq: Mapped[int] = mapped_column(Integer)
    subclass_code: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    photos: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    lon_in: Mapped[float] = mapped_column(Double)
    lat_in: Mapped[float] = mapped_column(Double)
    crs_in: Mapped[str] = mapped_column(String(16))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set once intake has filed it; NULL means not filed yet (retry files it).
    case_id: Mapped[int | None] = mapped_column(BigInteger)
    filing_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("patrol_id", "seq"),
        Index("patrol_finding_unfiled_idx", "patrol_id", postgresql_where=text("case_id IS NULL")),
    )


class FrontageCheck(Base):
    """One item of a frontage unit checked on a patrol: passed or failed."""

    __tablename__ = "frontage_check"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id"))
    frontage_code: Mapped[str] = mapped_column(ForeignKey("frontage_unit.code"))
    item: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(f"item IN {tuple(FRONTAGE_ITEMS)!r}", name="frontage_check_item"),
        UniqueConstraint("patrol_id", "frontage_code", "item"),
        Index("frontage_check_unit_idx", "frontage_code", "checked_at"),
    )
