"""Tables of the spatial model: versioned layout and the organisation on it.

The layout (district → subdistrict → community → grid) is versioned in
generations, as MapIt does: every load writes a complete new generation and
makes it current in one transaction, so a case keeps the exact grid row it was
located in while the layout moves on. Rows of one generation are linked by
code (a grid's code starts with its community's code, and so on), which is the
identity that survives across generations.

The organisation (squads, stations, officers, departments) is keyed by code and
not versioned: it refers to communities and grids by code.
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
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326
LEVELS = ("district", "subdistrict", "community", "grid")
CODE_LENGTH = {"district": 6, "subdistrict": 9, "community": 12, "grid": 15}
PARENT = {"subdistrict": "district", "community": "subdistrict", "grid": "community"}
ROLES = ("officer", "squad_leader", "deputy_leader", "chief")


class Base(DeclarativeBase):
    """Declarative base of every table."""


class LayoutGeneration(Base):
    """One complete version of the layout; exactly one is current."""

    __tablename__ = "layout_generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str] = mapped_column(Text, default="")
    # Fingerprint of what was loaded (file hashes): loading the same again is a no-op.
    source_hash: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # The cell sizes (degrees) its locate lattice was built with, derived from
    # the district's latitude; NULL until the lattice is built.
    lattice_grid_step: Mapped[float | None] = mapped_column(Double, nullable=True)
    lattice_area_step: Mapped[float | None] = mapped_column(Double, nullable=True)
    __table_args__ = (
        Index(
            "one_current_generation", "is_current", unique=True, postgresql_where=text("is_current")
        ),
    )


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=SRID, spatial_index=False)


class District(Base):
    """A county-level district: the home one and its neighbours."""

    __tablename__ = "district"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("layout_generation.id"))
    code: Mapped[str] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(Text)
    is_home: Mapped[bool] = mapped_column(Boolean, default=False)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        Index("district_geom_idx", "geom", postgresql_using="gist"),
    )


class DistrictPart(Base):
    """A district cut into small pieces (ST_Subdivide): fast point-in-area tests."""

    __tablename__ = "district_part"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id", ondelete="CASCADE"))
    geom = mapped_column(_geom("POLYGON"), nullable=False)
    __table_args__ = (Index("district_part_geom_idx", "geom", postgresql_using="gist"),)


class Subdistrict(Base):
    """街道 / 镇."""

    __tablename__ = "subdistrict"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("layout_generation.id"))
    code: Mapped[str] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str] = mapped_column(String(6))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        Index("subdistrict_geom_idx", "geom", postgresql_using="gist"),
    )


class Community(Base):
    """社区 / 村: one station each."""

    __tablename__ = "community"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("layout_generation.id"))
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(Text)
    subdistrict_code: Mapped[str] = mapped_column(String(9))
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        Index("community_geom_idx", "geom", postgresql_using="gist"),
    )


class GridCell(Base):
    """单元网格: the smallest polygon a case is located in."""

    __tablename__ = "grid_cell"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("layout_generation.id"))
    code: Mapped[str] = mapped_column(String(15))
    community_code: Mapped[str] = mapped_column(String(12))
    area_m2: Mapped[float] = mapped_column(Double)
    geom = mapped_column(_geom("MULTIPOLYGON"), nullable=False)
    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        Index("grid_cell_geom_idx", "geom", postgresql_using="gist"),
        CheckConstraint("code ~ '^[0-9]{15}$'", name="grid_code_format"),
    )


class Squad(Base):
    """执法中队: covers a set of communities."""

    __tablename__ = "squad"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    subdistrict_code: Mapped[str | None] = mapped_column(String(9))


class SquadCommunity(Base):
    """Which squad covers which community (by code, across generations)."""

    __tablename__ = "squad_community"
    community_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    squad_code: Mapped[str] = mapped_column(ForeignKey("squad.code"))


class Station(Base):
    """社区城管服务站: where officers sit on duty; one per community."""

    __tablename__ = "station"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    community_code: Mapped[str] = mapped_column(String(12), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    geom = mapped_column(_geom("POINT"), nullable=False)
    __table_args__ = (Index("station_geom_idx", "geom", postgresql_using="gist"),)


class Officer(Base):
    """An enforcement officer or leader; name and phone encrypted at rest."""

    __tablename__ = "officer"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    role: Mapped[str] = mapped_column(String(16))
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    squad_code: Mapped[str | None] = mapped_column(ForeignKey("squad.code"))
    # The usual half day of duty: the template a rota is generated from (sample.duty);
    # who is on duty comes from duty_shift (cases.stations.onduty).
    duty_weekday: Mapped[int | None] = mapped_column(
        SmallInteger,
        comment="the usual weekday of duty (0 = Monday), used to generate a rota; "
        "who is on duty comes from duty_shift",
    )
    duty_half: Mapped[str | None] = mapped_column(
        String(2),
        comment="the usual half day of duty (am/pm), used to generate a rota; "
        "who is on duty comes from duty_shift",
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="officer_role"),
        CheckConstraint("duty_weekday BETWEEN 0 AND 6", name="officer_duty_weekday"),
        CheckConstraint("duty_half IN ('am', 'pm')", name="officer_duty_half"),
        Index("officer_station_idx", "station_code"),
    )


class Department(Base):
    """A department sharing responsibility in multi-department grids (党建+N)."""

    __tablename__ = "department"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class GridDepartment(Base):
    """Grid code × department: who answers for a grid together."""

    __tablename__ = "grid_department"
    grid_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("department.code"), primary_key=True)


class LocateLattice(Base):
    """A regular lattice over a generation's polygons, for bulk point location.

    Each row is one lattice cell × one polygon touching it: `covered` when the
    polygon covers the whole cell (no geometry test needed), else `piece`, the
    polygon clipped to the cell (a tiny geometry, so the test is cheap). A
    point finds its cell by arithmetic on its coordinates and a hash join, so
    millions of points are located without building an index on them.
    Derived from the layout; rebuilt with each generation.
    """

    __tablename__ = "locate_lattice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(
        ForeignKey("layout_generation.id", ondelete="CASCADE")
    )
    layer: Mapped[str] = mapped_column(String(8))  # grid | district | zone
    cell: Mapped[int] = mapped_column(BigInteger)
    ref_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(15))
    is_home: Mapped[bool] = mapped_column(Boolean, default=False)
    # Order of precedence where pieces meet (an integer sorts fast): grids by
    # code; the home district, then others by code; the snapping zone last.
    priority: Mapped[int] = mapped_column(Integer)
    covered: Mapped[bool] = mapped_column(Boolean)
    piece = mapped_column(_geom("GEOMETRY"), nullable=True)
    __table_args__ = (
        Index("locate_lattice_cell_idx", "generation_id", "layer", "cell"),
        CheckConstraint("layer IN ('grid', 'district', 'zone')", name="lattice_layer"),
    )
