"""Commands: complaints (`grid complaint show ID`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

complaint_app = typer.Typer(help="Complaints (cases) taken in.", no_args_is_help=True)


@complaint_app.command("show")
def show(
    case_id: Annotated[int, typer.Argument(help="the complaint's id")],
    events: Annotated[bool, typer.Option("--events", help="include its events")] = False,
) -> None:
    """Print one complaint as JSON (personal data masked)."""
    from cases.errors import DomainError
    from cases.intake import case_events, get_case
    from gridcli.common import checked_engine, fail

    engine = checked_engine()
    try:
        data = get_case(engine, case_id).as_dict()
        if events:
            data["events"] = case_events(engine, case_id)
    except DomainError as exc:
        raise fail(exc.message) from exc
    print(json.dumps(data, ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(complaint_app, name="complaint")
