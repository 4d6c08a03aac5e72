"""an index for intake's repeat-report rule: earlier reports of a subclass in a grid

Revision ID: 0013_repeat_reports
Revises: 0012_duty_dispatch
Create Date: 2026-11-26 06:00:00

Rule 2 of intake (cases.intake.rules) raises a case's tier when the same
subclass was reported in the same grid `repeat_report_count` times within
`repeat_report_days`. Counting them through the (subclass_code, reported_at)
index read every report of the subclass in the window, district-wide, and
fetched each row for its grid: with a year of 1M cases that was 17 ms of each
complaint's 20 (bench/prepared.py). This index answers the count from a range
of its own entries. On the partitioned `case_file` it is made on every
partition; a bulk load's partition gets it when `case_batch_close` attaches it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_repeat_reports"
down_revision: str | Sequence[str] | None = "0012_duty_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The index of reports by grid, subclass and time."""
    op.create_index(
        "case_grid_subclass_reported_idx",
        "case_file",
        ["grid_code", "subclass_code", "reported_at"],
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("case_grid_subclass_reported_idx", table_name="case_file")
