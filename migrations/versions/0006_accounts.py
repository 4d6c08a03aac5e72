"""accounts and the login throttle

Revision ID: 0006_accounts
Revises: 0004
Create Date: 2026-11-25 10:00:00

A second head beside 0005 (made at the same time on the same parent);
`gis.db.migrate()` upgrades to every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_accounts"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in cases.accounts.models at the time of this revision (migrations do not
# import the models: a later change there must not rewrite history here).
ROLES = ("officer", "squad_leader", "deputy_leader", "chief", "dispatcher", "analyst", "admin")
USERNAME_PATTERN = "^[a-z0-9][a-z0-9_.@-]{1,63}$"


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("station_code", sa.String(length=16), nullable=True),
        sa.Column("squad_code", sa.String(length=16), nullable=True),
        sa.Column("officer_code", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(f"role IN {ROLES!r}", name="account_role"),
        sa.CheckConstraint(f"username ~ '{USERNAME_PATTERN}'", name="account_username"),
        sa.CheckConstraint(
            "role <> 'officer' OR station_code IS NOT NULL", name="account_officer_station"
        ),
        sa.CheckConstraint(
            "role <> 'squad_leader' OR squad_code IS NOT NULL", name="account_leader_squad"
        ),
        sa.ForeignKeyConstraint(["officer_code"], ["officer.code"]),
        sa.ForeignKeyConstraint(["squad_code"], ["squad.code"]),
        sa.ForeignKeyConstraint(["station_code"], ["station.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_index("login_throttle_window_idx", "login_throttle", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index("login_throttle_window_idx", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_table("account")
