"""One head again: the branches made in parallel (layout lattice steps, case
integrity and generic plans, accounts and the lifecycle with its indicators,
stations and ledgers) meet here, so `alembic upgrade head` has one target.

Revision ID: 0011_one_head
Revises: 0007_lattice_steps, 0009_ledgers, 0010_generic_plans, 0010_indicators
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0011_one_head"
down_revision: str | Sequence[str] | None = (
    "0007_lattice_steps",
    "0009_ledgers",
    "0010_generic_plans",
    "0010_indicators",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to undo: this revision only joins the branches."""
