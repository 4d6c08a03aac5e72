"""the database plans repeated statements once (plan_cache_mode = force_generic_plan)

Revision ID: 0010_generic_plans
Revises: 0005_case_integrity
Create Date: 2026-11-26 03:00:00

Every event inserted checks its case with a foreign-key query that PostgreSQL
keeps prepared. Since 0005 `case_file` is partitioned, and with the default
`plan_cache_mode = auto` that query is planned again on every call (its
custom plan looks cheaper than the generic one over all partitions): about
0.5 ms per event on this machine, against under 0.1 ms with the generic plan,
which prunes the partitions when it runs. The database's default becomes
`force_generic_plan` (new sessions), which also suits the project's own
prepared statements (gis.prepared): their parameters are ids, codes and
points, not skewed values that a custom plan would serve better.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_generic_plans"
down_revision: str | None = "0005_case_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    DO $$ BEGIN
        EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_generic_plan',
                       current_database());
    END $$""")


def downgrade() -> None:
    op.execute("""
    DO $$ BEGIN
        EXECUTE format('ALTER DATABASE %I RESET plan_cache_mode', current_database());
    END $$""")
