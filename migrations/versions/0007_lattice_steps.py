"""locate lattice: cell sizes recorded per generation

Revision ID: 0007_lattice_steps
Revises: 0004
Create Date: 2026-11-25 12:00:00

The lattice's cell sizes in degrees are now derived from the home district's
latitude (so that a cell is about as many metres wide anywhere) and recorded on
the generation that the lattice belongs to; bulk locating reads them from
there. Lattices built before this have no recorded sizes and are rebuilt on
first use (the lattice is derived data). A head of its own beside 0005 and
0006; `gis.db.migrate()` upgrades to every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lattice_steps"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("layout_generation", sa.Column("lattice_grid_step", sa.Double(), nullable=True))
    op.add_column("layout_generation", sa.Column("lattice_area_step", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("layout_generation", "lattice_area_step")
    op.drop_column("layout_generation", "lattice_grid_step")
