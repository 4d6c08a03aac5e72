"""layout and organisation

Revision ID: 0001
Revises:
Create Date: 2026-11-24 14:34:26.738428
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "layout_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.Text(), server_default="", nullable=False),
        sa.Column("is_current", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "one_current_generation",
        "layout_generation",
        ["is_current"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "squad",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("subdistrict_code", sa.String(length=9), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_geospatial_table(
        "station",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("community_code"),
    )
    op.create_geospatial_index(
        "station_geom_idx",
        "station",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "community",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("subdistrict_code", sa.String(length=9), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["layout_generation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "code"),
    )
    op.create_geospatial_index(
        "community_geom_idx",
        "community",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "district",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("is_home", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["layout_generation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "code"),
    )
    op.create_geospatial_index(
        "district_geom_idx",
        "district",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "grid_cell",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{15}$'", name="grid_code_format"),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["layout_generation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "code"),
    )
    op.create_geospatial_index(
        "grid_cell_geom_idx",
        "grid_cell",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "grid_department",
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("department_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
        ),
        sa.PrimaryKeyConstraint("grid_code", "department_code"),
    )
    op.create_table(
        "officer",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("station_code", sa.String(length=16), nullable=True),
        sa.Column("squad_code", sa.String(length=16), nullable=True),
        sa.Column("duty_weekday", sa.SmallInteger(), nullable=True),
        sa.Column("duty_half", sa.String(length=2), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint("duty_half IN ('am', 'pm')", name="officer_duty_half"),
        sa.CheckConstraint(
            "role IN ('officer', 'squad_leader', 'deputy_leader', 'chief')", name="officer_role"
        ),
        sa.CheckConstraint("duty_weekday BETWEEN 0 AND 6", name="officer_duty_weekday"),
        sa.ForeignKeyConstraint(
            ["squad_code"],
            ["squad.code"],
        ),
        sa.ForeignKeyConstraint(
            ["station_code"],
            ["station.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("officer_station_idx", "officer", ["station_code"], unique=False)
    op.create_table(
        "squad_community",
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("squad_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["squad_code"],
            ["squad.code"],
        ),
        sa.PrimaryKeyConstraint("community_code"),
    )
    op.create_geospatial_table(
        "subdistrict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=9), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["generation_id"],
            ["layout_generation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "code"),
    )
    op.create_geospatial_index(
        "subdistrict_geom_idx",
        "subdistrict",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "district_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "district_part_geom_idx",
        "district_part",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )


def downgrade() -> None:
    op.drop_geospatial_index(
        "district_part_geom_idx",
        table_name="district_part",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("district_part")
    op.drop_geospatial_index(
        "subdistrict_geom_idx",
        table_name="subdistrict",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("subdistrict")
    op.drop_table("squad_community")
    op.drop_index("officer_station_idx", table_name="officer")
    op.drop_table("officer")
    op.drop_table("grid_department")
    op.drop_geospatial_index(
        "grid_cell_geom_idx", table_name="grid_cell", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("grid_cell")
    op.drop_geospatial_index(
        "district_geom_idx", table_name="district", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("district")
    op.drop_geospatial_index(
        "community_geom_idx", table_name="community", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("community")
    op.drop_geospatial_index(
        "station_geom_idx", table_name="station", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("station")
    op.drop_table("squad")
    op.drop_index(
        "one_current_generation",
        table_name="layout_generation",
        postgresql_where=sa.text("is_current"),
    )
    op.drop_table("layout_generation")
    op.drop_table("department")
