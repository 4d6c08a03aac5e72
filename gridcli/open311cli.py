"""Commands: `grid apikey create|list|revoke` for Open311 clients.

`grid apikey create NAME` prints the new key as its last line (scripts take
`tail -n 1`); the key is shown only then, since only its SHA-256 is stored.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

apikey_app = typer.Typer(
    help="API keys of Open311 clients (POST /open311/v2/requests).", no_args_is_help=True
)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="who the key is for, e.g. '12345 hotline'")],
) -> None:
    """Make a key; it is printed once, as the last line, and cannot be shown again."""
    from cases.apikeys import create_api_key
    from cases.errors import InvalidInput
    from gridcli.common import checked_engine, err, fail

    engine = checked_engine()
    try:
        key = create_api_key(engine, name)
    except InvalidInput as exc:
        raise fail(exc.message, 2) from exc
    err.print(
        f"api key for {name!r} made; it is shown once, only its SHA-256 is stored:", highlight=False
    )
    print(key)


@apikey_app.command("list")
def apikey_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Every key: id, name, when made, whether active (never the key)."""
    from rich.table import Table

    from cases.apikeys import list_api_keys
    from gridcli.common import checked_engine, out

    keys = list_api_keys(checked_engine())
    if as_json:
        print(json.dumps([k.as_dict() for k in keys], ensure_ascii=False))
        return
    table = Table("id", "name", "created", "active", title=f"{len(keys)} api keys")
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            k.created_at.isoformat(timespec="seconds"),
            "yes" if k.active else "no",
        )
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (grid apikey list)")],
) -> None:
    """Switch a key off; requests signed with it are refused with 403 from then on."""
    from cases.apikeys import revoke_api_key
    from cases.errors import NotFound
    from gridcli.common import checked_engine, fail, out

    try:
        info = revoke_api_key(checked_engine(), key_id)
    except NotFound as exc:
        raise fail(exc.message) from exc
    out.print(f"api key {info.id} ({info.name}) revoked", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(apikey_app, name="apikey")
