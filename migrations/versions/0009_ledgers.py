"""ledgers: manual ledger entries of the stations, versioned and append-only

Revision ID: 0009_ledgers
Revises: 0007_stations
Create Date: 2026-11-26 10:00:00

One table, `ledger_entry`: each row is one version of a manual entry in one of
a station's ledgers (see cases.ledgers.models). A trigger refuses UPDATE,
DELETE and TRUNCATE for every role: a correction is a new version.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_ledgers"
down_revision: str | None = "0007_stations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in cases.ledgers.models at the time of this revision (migrations do not
# import the models: a later change there must not rewrite history here).
ENTRY_KINDS = ("work_log", "problem_list", "meeting_minutes", "petition_register")


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("station_code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column(
            "fields",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("personal_enc", sa.LargeBinary(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"kind IN {ENTRY_KINDS!r}", name="ledger_entry_kind"),
        sa.CheckConstraint("version >= 1", name="ledger_entry_version"),
        sa.CheckConstraint(
            "(version = 1) = (entry_id = id)", name="ledger_entry_first_version_is_the_entry"
        ),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger_entry.id"]),
        sa.ForeignKeyConstraint(["station_code"], ["station.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "version", name="ledger_entry_version_once"),
    )
    op.create_index(
        "ledger_entry_station_kind_date_idx",
        "ledger_entry",
        ["station_code", "kind", "entry_date"],
    )
    op.execute("""
    CREATE FUNCTION ledger_entry_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        RAISE EXCEPTION 'ledger_entry is append-only: % is refused', TG_OP
            USING ERRCODE = 'restrict_violation',
                  HINT = 'a correction is a new version of the entry; nothing is overwritten';
    END
    $fn$""")
    op.execute(
        "CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entry_append_only()"
    )
    op.execute(
        "CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_entry_append_only()"
    )
    op.execute("ALTER TABLE ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_append_only")
    op.execute("ALTER TABLE ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_no_truncate")


def downgrade() -> None:
    op.drop_index("ledger_entry_station_kind_date_idx", table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.execute("DROP FUNCTION ledger_entry_append_only()")
