"""lifecycle: the seven steps' states, holders by tier, deadlines, notifications

Revision ID: 0008_lifecycle
Revises: 0005_case_integrity, 0006_accounts
Create Date: 2026-11-26 02:00:00

- `case_file.status` takes the lifecycle's states (cases.lifecycle.states).
  Intake's statuses so far map: open -> dispatched (filed and dispatched at
  once), needs_location -> received (for a dispatcher), merged -> duplicate;
  referred_out and closed stay.
- Who holds a case now (`holder_role`, `holder_code`: an officer code), kept
  apart from where it was located; the department a case is shared with in a
  党建+N grid (`department_code`); when it was dispatched; whether its due
  time is provisional (an uncovered calendar year); the reply deadline (答复)
  and when the resident was answered; the resident's rating (综合评价).
  Dispatched cases so far get their holder by tier (the duty officer, the
  squad's leader with the lowest code, the deputy leader with the lowest
  code) and their moment of dispatch from their `dispatched` event.
- `notification`: what was sent to whom about which case (codes, never names
  or phones), and when it was delivered.
- Accounts of a department's staff (`department_staff`, with its code).

A merge of the two heads it builds on (cases and accounts).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_lifecycle"
down_revision: str | tuple[str, ...] | None = ("0005_case_integrity", "0006_accounts")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in cases.lifecycle.states at this revision (migrations do not import the code).
STATES = (
    "received",
    "filed",
    "dispatched",
    "in_progress",
    "reported_back",
    "rework",
    "closed",
    "evaluated",
    "cancelled",
    "referred_out",
    "duplicate",
)
OLD_STATES = ("open", "needs_location", "referred_out", "merged", "closed")
CLOCK = ("dispatched", "in_progress", "rework")
HOLDER_ROLES = ("dispatcher", "officer", "squad_leader", "deputy_leader", "chief")
ROLES = (
    "officer",
    "squad_leader",
    "deputy_leader",
    "chief",
    "dispatcher",
    "analyst",
    "admin",
    "department_staff",
)
OLD_ROLES = ("officer", "squad_leader", "deputy_leader", "chief", "dispatcher", "analyst", "admin")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _drop_status_check() -> None:
    """Drop `case_status` on the parent and on every partition that has its own copy."""
    op.execute("ALTER TABLE case_file DROP CONSTRAINT case_status")
    op.execute("""
    DO $$
    DECLARE part regclass;
    BEGIN
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                    WHERE inhparent = 'case_file'::regclass LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS case_status', part);
        END LOOP;
    END
    $$""")


def upgrade() -> None:
    ex = op.execute
    # ---- states
    _drop_status_check()
    ex("""
    UPDATE case_file SET status = CASE status
        WHEN 'open' THEN 'dispatched'
        WHEN 'needs_location' THEN 'received'
        WHEN 'merged' THEN 'duplicate'
        ELSE status END
    WHERE status IN ('open', 'needs_location', 'merged')""")
    ex(f"ALTER TABLE case_file ADD CONSTRAINT case_status CHECK (status IN {_in(STATES)})")

    # ---- holders, deadlines, reply, rating
    for column in (
        sa.Column("holder_role", sa.String(length=16), nullable=True),
        sa.Column("holder_code", sa.String(length=16), nullable=True),
        sa.Column("department_code", sa.String(length=16), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_provisional", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("reply_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_provisional", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
    ):
        op.add_column("case_file", column)
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_holder_role "
        f"CHECK (holder_role IN {_in(HOLDER_ROLES)})"
    )
    ex("ALTER TABLE case_file ADD CONSTRAINT case_rating CHECK (rating BETWEEN 1 AND 5)")
    ex("""
    UPDATE case_file c SET
        holder_role = CASE c.tier WHEN 'minor' THEN 'officer'
                                  WHEN 'moderate' THEN 'squad_leader'
                                  ELSE 'deputy_leader' END,
        holder_code = CASE c.tier
            WHEN 'minor' THEN c.officer_code
            WHEN 'moderate' THEN (SELECT min(o.code) FROM officer o WHERE o.active
                                  AND o.role = 'squad_leader' AND o.squad_code = c.squad_code)
            ELSE (SELECT min(o.code) FROM officer o
                  WHERE o.active AND o.role = 'deputy_leader') END,
        dispatched_at = COALESCE(
            (SELECT (e.data ->> 'dispatched_at')::timestamptz FROM case_event e
             WHERE e.case_id = c.id AND e.kind = 'dispatched' ORDER BY e.id LIMIT 1),
            c.created_at)
    WHERE c.status = 'dispatched'""")
    ex("UPDATE case_file SET holder_role = 'dispatcher' WHERE status = 'received'")
    op.create_index(
        "case_clock_due_idx",
        "case_file",
        ["due_at"],
        postgresql_where=sa.text(f"status IN {_in(CLOCK)}"),
    )
    op.create_index(
        "case_department_idx",
        "case_file",
        ["department_code"],
        postgresql_where=sa.text("department_code IS NOT NULL"),
    )

    # ---- notifications
    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_role", sa.String(length=16), nullable=False),
        sa.Column("recipient_code", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "notification_pending_idx",
        "notification",
        ["id"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.create_index("notification_case_idx", "notification", ["case_id"])

    # ---- department staff accounts
    op.add_column("account", sa.Column("department_code", sa.String(length=16), nullable=True))
    op.create_foreign_key(
        "account_department_code_fkey", "account", "department", ["department_code"], ["code"]
    )
    ex("ALTER TABLE account DROP CONSTRAINT account_role")
    ex(f"ALTER TABLE account ADD CONSTRAINT account_role CHECK (role IN {_in(ROLES)})")
    ex(
        "ALTER TABLE account ADD CONSTRAINT account_department_staff "
        "CHECK (role <> 'department_staff' OR department_code IS NOT NULL)"
    )


def downgrade() -> None:
    ex = op.execute
    ex("DELETE FROM account WHERE role = 'department_staff'")
    ex("ALTER TABLE account DROP CONSTRAINT account_department_staff")
    ex("ALTER TABLE account DROP CONSTRAINT account_role")
    ex(f"ALTER TABLE account ADD CONSTRAINT account_role CHECK (role IN {_in(OLD_ROLES)})")
    op.drop_constraint("account_department_code_fkey", "account", type_="foreignkey")
    op.drop_column("account", "department_code")

    op.drop_index("notification_case_idx", table_name="notification")
    op.drop_index("notification_pending_idx", table_name="notification")
    op.drop_table("notification")

    op.drop_index("case_department_idx", table_name="case_file")
    op.drop_index("case_clock_due_idx", table_name="case_file")
    ex("ALTER TABLE case_file DROP CONSTRAINT case_rating")
    ex("ALTER TABLE case_file DROP CONSTRAINT case_holder_role")
    for name in (
        "rating",
        "replied_at",
        "reply_provisional",
        "reply_due_at",
        "due_provisional",
        "dispatched_at",
        "department_code",
        "holder_code",
        "holder_role",
    ):
        op.drop_column("case_file", name)
    _drop_status_check()
    ex("""
    UPDATE case_file SET status = CASE
        WHEN status IN ('filed', 'dispatched', 'in_progress', 'reported_back', 'rework')
            THEN 'open'
        WHEN status = 'received' THEN 'needs_location'
        WHEN status = 'duplicate' THEN 'merged'
        WHEN status IN ('evaluated', 'cancelled') THEN 'closed'
        ELSE status END""")
    ex(f"ALTER TABLE case_file ADD CONSTRAINT case_status CHECK (status IN {_in(OLD_STATES)})")
