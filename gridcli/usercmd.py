"""Commands: `grid user create|list|disable|enable`, the accounts that log in.

`grid user create USERNAME --role ROLE --password PASSWORD [--station CODE]
[--squad CODE]` is a stable interface that other tools call. Exit codes: 0
done, 1 a code that does not exist or a username already taken, 2 a bad
role, username, password or a place that does not fit the role.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

user_app = typer.Typer(
    help="Accounts that log in (officers, leaders, dispatchers...).", no_args_is_help=True
)

_ROLES_HELP = "officer|squad_leader|deputy_leader|chief|dispatcher|analyst|admin|department_staff"


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="login name (stored lower-case)")],
    role: Annotated[str, typer.Option(help=_ROLES_HELP)],
    password: Annotated[str, typer.Option(help="at least 8 characters; only its hash is kept")],
    station: Annotated[str | None, typer.Option(help="station code (officers)")] = None,
    squad: Annotated[str | None, typer.Option(help="squad code (squad leaders)")] = None,
    officer: Annotated[
        str | None, typer.Option(help="the officer record this account belongs to (optional)")
    ] = None,
    department: Annotated[
        str | None, typer.Option(help="department code (department_staff, 党建+N)")
    ] = None,
) -> None:
    """Make an account that logs in with POST /api/v1/auth/token."""
    from cases.accounts.store import create_account
    from cases.errors import Conflict, InvalidInput, NotFound
    from gridcli.common import checked_engine, fail, out

    engine = checked_engine()
    try:
        info = create_account(
            engine,
            username,
            role,
            password,
            station_code=station,
            squad_code=squad,
            officer_code=officer,
            department_code=department,
        )
    except InvalidInput as exc:
        raise fail(exc.message, 2) from None
    except (NotFound, Conflict) as exc:
        raise fail(exc.message, 1) from None
    place = info.station_code or info.squad_code or info.department_code or "all places"
    out.print(f"account {info.username} ({info.role}, {place}) made", highlight=False)


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every account: username, role, place, whether active (never a password)."""
    from rich.table import Table

    from cases.accounts.store import list_accounts
    from gridcli.common import checked_engine, out

    accounts = list_accounts(checked_engine())
    if as_json:
        print(json.dumps([a.as_dict() for a in accounts], ensure_ascii=False))
        return
    table = Table(
        "username",
        "role",
        "station",
        "squad",
        "officer",
        "active",
        "created",
        title=f"{len(accounts)} accounts",
    )
    for a in accounts:
        table.add_row(
            a.username,
            a.role,
            a.station_code or "",
            a.squad_code or "",
            a.officer_code or "",
            "yes" if a.active else "no",
            a.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)


def _set_active(username: str, active: bool) -> None:
    from cases.accounts.store import set_active
    from cases.errors import NotFound
    from gridcli.common import checked_engine, fail, out

    try:
        info = set_active(checked_engine(), username, active)
    except NotFound as exc:
        raise fail(exc.message) from None
    state = "switched on" if active else "switched off; its tokens stop working now"
    out.print(f"account {info.username} {state}", highlight=False)


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="the account's username")]) -> None:
    """Switch an account off (never deleted: its events keep naming it)."""
    _set_active(username, False)


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="the account's username")]) -> None:
    """Switch an account on again."""
    _set_active(username, True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(user_app, name="user")
