"""cases: lighter bulk inserts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 15:42:32.445942
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("case_grid_code_idx", table_name="case_file")
    op.drop_constraint(op.f("case_event_case_id_fkey"), "case_event", type_="foreignkey")
    op.drop_geospatial_index(
        op.f("case_open_geom_idx"),
        table_name="case_file",
        postgresql_using="gist",
        postgresql_where="(((status)::text = 'open'::text) AND (master_id IS NULL))",
        column_name="geom",
    )
    op.drop_constraint(op.f("case_file_grid_cell_id_fkey"), "case_file", type_="foreignkey")


def downgrade() -> None:
    op.create_index("case_grid_code_idx", "case_file", ["grid_code"], unique=False)
    op.create_foreign_key(
        op.f("case_file_grid_cell_id_fkey"), "case_file", "grid_cell", ["grid_cell_id"], ["id"]
    )
    op.create_geospatial_index(
        op.f("case_open_geom_idx"),
        "case_file",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_where="(((status)::text = 'open'::text) AND (master_id IS NULL))",
        postgresql_ops={},
    )
    op.create_foreign_key(
        op.f("case_event_case_id_fkey"), "case_event", "case_file", ["case_id"], ["id"]
    )
