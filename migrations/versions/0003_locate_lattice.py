"""locate lattice

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:46:03.270491
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "locate_lattice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=8), nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("is_home", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column(
            "piece",
            Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("layer IN ('grid', 'district', 'zone')", name="lattice_layer"),
        sa.ForeignKeyConstraint(["generation_id"], ["layout_generation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "locate_lattice_cell_idx",
        "locate_lattice",
        ["generation_id", "layer", "cell"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("locate_lattice_cell_idx", table_name="locate_lattice")
    op.drop_geospatial_table("locate_lattice")
