"""indicators: each case's first report back and first deadline, kept by the database

Revision ID: 0010_indicators
Revises: 0008_lifecycle
Create Date: 2026-11-26 03:30:00

The indicators (cases.indicators) need, for every case due in a period, two
facts that only events told: when it was first reported back (处理反馈: the
handling time, 处置率), and its first deadline (the escalation sweeper moves
`due_at` on; 应结案数 and 按期结案率 are counted on the deadline set at
dispatch). Joining a year's events for them cost seconds for 1M cases; as two
columns of the case row they cost nothing more than the scan:

- `case_file.reported_back_at`: the earliest `reported_back` event's time;
- `case_file.first_due_at`: the earliest `overdue_since` of its `escalated`
  events (null for a case never escalated: its `due_at` is its first deadline).

Both are derived from the append-only events, by the database itself: an
AFTER INSERT row trigger on `case_event` (only for those two kinds, by its
WHEN clause, so other events pay nothing) sets them on the case, whoever
writes the event (a move, the sweeper). Existing events are read into them
here. Writers that load events straight into a detached partition (bulk
history) set the columns themselves, or leave them null (then closure stands
in for the report back).

And a partial index of the rare workflow events the indicators count by time
(filed, sent back, escalated), so counting them reads none of the millions
of intake events.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_indicators"
down_revision: str | tuple[str, ...] | None = "0008_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION case_event_progress() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
BEGIN
    IF NEW.kind = 'reported_back' THEN
        UPDATE case_file SET reported_back_at = NEW.at
        WHERE id = NEW.case_id AND (reported_back_at IS NULL OR reported_back_at > NEW.at);
    ELSIF NEW.kind = 'escalated' AND NEW.data ? 'overdue_since' THEN
        UPDATE case_file
        SET first_due_at = CAST(NEW.data ->> 'overdue_since' AS timestamptz)
        WHERE id = NEW.case_id
          AND (first_due_at IS NULL
               OR first_due_at > CAST(NEW.data ->> 'overdue_since' AS timestamptz));
    END IF;
    RETURN NULL;
END
$fn$
"""


def upgrade() -> None:
    ex = op.execute
    op.add_column(
        "case_file", sa.Column("reported_back_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("case_file", sa.Column("first_due_at", sa.DateTime(timezone=True), nullable=True))
    ex("""
    UPDATE case_file c SET reported_back_at = e.first
    FROM (SELECT case_id, min(at) AS first FROM case_event
          WHERE kind = 'reported_back' GROUP BY case_id) e
    WHERE e.case_id = c.id""")
    ex("""
    UPDATE case_file c SET first_due_at = e.first
    FROM (SELECT case_id, min(CAST(data ->> 'overdue_since' AS timestamptz)) AS first
          FROM case_event WHERE kind = 'escalated' AND data ? 'overdue_since'
          GROUP BY case_id) e
    WHERE e.case_id = c.id""")
    ex(FUNCTION)
    ex(
        "CREATE TRIGGER case_event_progress AFTER INSERT ON case_event FOR EACH ROW "
        "WHEN (NEW.kind IN ('reported_back', 'escalated')) "
        "EXECUTE FUNCTION case_event_progress()"
    )
    op.create_index(
        "case_event_moves_idx",
        "case_event",
        ["kind", "at"],
        postgresql_include=["case_id"],
        postgresql_where=sa.text("kind IN ('filed', 'sent_back', 'escalated')"),
    )


def downgrade() -> None:
    op.drop_index("case_event_moves_idx", table_name="case_event")
    op.execute("DROP TRIGGER case_event_progress ON case_event")
    op.execute("DROP FUNCTION case_event_progress()")
    op.drop_column("case_file", "first_due_at")
    op.drop_column("case_file", "reported_back_at")
