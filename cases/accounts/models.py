"""Tables of accounts: who may log in, in which role, and the login throttle.

Residents have no account (they follow their case by its tracking token). An
account's place is where its role says: an officer's station, a squad
leader's squad; the other roles reach every place (cases.access holds that
rule). Accounts are switched off, never deleted, so the events they wrote keep
naming them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from gis.models import Base

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
"""The roles of accounts (residents are anonymous and have none). `department_staff`:
a department's staff in 党建+N grids (cases shared with their department)."""

USERNAME_PATTERN = "^[a-z0-9][a-z0-9_.@-]{1,63}$"
"""Lower-case letters, digits and _ . @ -, 2 to 64 characters (stored lower-case)."""


class Account(Base):
    """A person who logs in: role, password hash (argon2), and their place."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    squad_code: Mapped[str | None] = mapped_column(ForeignKey("squad.code"))
    officer_code: Mapped[str | None] = mapped_column(ForeignKey("officer.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="account_role"),
        CheckConstraint(f"username ~ '{USERNAME_PATTERN}'", name="account_username"),
        CheckConstraint(
            "role <> 'officer' OR station_code IS NOT NULL", name="account_officer_station"
        ),
        CheckConstraint(
            "role <> 'squad_leader' OR squad_code IS NOT NULL", name="account_leader_squad"
        ),
        CheckConstraint(
            "role <> 'department_staff' OR department_code IS NOT NULL",
            name="account_department_staff",
        ),
    )


class LoginThrottle(Base):
    """Failed logins per username in the current window (kept in the database,
    so every worker process sees the same count)."""

    __tablename__ = "login_throttle"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("login_throttle_window_idx", "window_start"),)
