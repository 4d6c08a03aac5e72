"""intake dispatches by duty shifts: an index for the officers' open cases

Revision ID: 0012_duty_dispatch
Revises: 0011_one_head
Create Date: 2026-11-27 10:00:00

Intake now gives a case to the officer on duty by the shifts, and among
equals to the one holding the fewest open cases (cases.stations.onduty).
Counting an officer's open cases (states whose clock runs: dispatched,
in_progress, rework) reads this partial index only, however many closed
cases the officer has. On the partitioned `case_file` it is made on every
partition; a bulk load's partition gets it when `case_batch_close` attaches
it. The lookup of the shifts covering a moment at a station is served by
`duty_shift_station_during_idx` (GiST, 0007_stations) already.

`officer.duty_weekday` and `officer.duty_half` stay: they are an officer's
usual half day, the template a rota is generated from (sample.duty), no
longer who is on duty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_duty_dispatch"
down_revision: str | Sequence[str] | None = "0011_one_head"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The partial index of open cases by officer."""
    op.create_index(
        "case_open_officer_idx",
        "case_file",
        ["officer_code"],
        postgresql_where=sa.text("status IN ('dispatched', 'in_progress', 'rework')"),
    )
    op.execute(
        "COMMENT ON COLUMN officer.duty_weekday IS "
        "'the usual weekday of duty (0 = Monday), used to generate a rota; "
        "who is on duty comes from duty_shift'"
    )
    op.execute(
        "COMMENT ON COLUMN officer.duty_half IS "
        "'the usual half day of duty (am/pm), used to generate a rota; "
        "who is on duty comes from duty_shift'"
    )


def downgrade() -> None:
    """Drop the index and the comments."""
    op.execute("COMMENT ON COLUMN officer.duty_half IS NULL")
    op.execute("COMMENT ON COLUMN officer.duty_weekday IS NULL")
    op.drop_index("case_open_officer_idx", table_name="case_file")
