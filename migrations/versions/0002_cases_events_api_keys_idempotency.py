"""cases, events, api keys, idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:38:21.588841
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_geospatial_table(
        "case_file",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subclass_code", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "photos", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("reporter_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("reporter_phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("lon_in", sa.Double(), nullable=True),
        sa.Column("lat_in", sa.Double(), nullable=True),
        sa.Column("crs_in", sa.String(length=16), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("locate_method", sa.String(length=12), nullable=False),
        sa.Column("locate_distance_m", sa.Double(), nullable=True),
        sa.Column("grid_cell_id", sa.Integer(), nullable=True),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=True),
        sa.Column("subdistrict_code", sa.String(length=9), nullable=True),
        sa.Column("station_code", sa.String(length=16), nullable=True),
        sa.Column("squad_code", sa.String(length=16), nullable=True),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("officer_code", sa.String(length=16), nullable=True),
        sa.Column("master_id", sa.BigInteger(), nullable=True),
        sa.Column("report_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_note", sa.Text(), server_default="", nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("external_ref", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "locate_method IN ('contained', 'snapped', 'unassigned', 'outside', 'none')",
            name="case_locate_method",
        ),
        sa.CheckConstraint(
            "status IN ('open', 'needs_location', 'referred_out', 'merged', 'closed')",
            name="case_status",
        ),
        sa.CheckConstraint("tier IN ('minor', 'moderate', 'major')", name="case_tier"),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
        ),
        sa.ForeignKeyConstraint(
            ["grid_cell_id"],
            ["grid_cell.id"],
        ),
        sa.ForeignKeyConstraint(
            ["master_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("case_grid_code_idx", "case_file", ["grid_code"], unique=False)
    op.create_index(
        "case_master_idx",
        "case_file",
        ["master_id"],
        unique=False,
        postgresql_where=sa.text("master_id IS NOT NULL"),
    )
    op.create_geospatial_index(
        "case_open_geom_idx",
        "case_file",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_where=sa.text("status = 'open' AND master_id IS NULL"),
        postgresql_ops={},
    )
    op.create_index("case_reported_idx", "case_file", ["reported_at"], unique=False)
    op.create_index(
        "case_subclass_reported_idx", "case_file", ["subclass_code", "reported_at"], unique=False
    )
    op.create_table(
        "case_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("case_event_case_idx", "case_event", ["case_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("case_event_case_idx", table_name="case_event")
    op.drop_table("case_event")
    op.drop_index("case_subclass_reported_idx", table_name="case_file")
    op.drop_index("case_reported_idx", table_name="case_file")
    op.drop_geospatial_index(
        "case_open_geom_idx",
        table_name="case_file",
        postgresql_using="gist",
        postgresql_where=sa.text("status = 'open' AND master_id IS NULL"),
        column_name="geom",
    )
    op.drop_index(
        "case_master_idx", table_name="case_file", postgresql_where=sa.text("master_id IS NOT NULL")
    )
    op.drop_index("case_grid_code_idx", table_name="case_file")
    op.drop_geospatial_table("case_file")
    op.drop_table("idempotency_record")
    op.drop_table("api_key")
