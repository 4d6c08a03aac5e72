"""Commands: `grid calendar check`, the working-time calendar's years.

It says which years the calendar covers (the `holidays` library and
`data/holidays.toml`) and warns about this year and the next when they are
not covered, since their deadlines are then counted on weekdays only and
marked provisional.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

EXIT_NOT_COVERED = 4

calendar_app = typer.Typer(
    help="The working-time calendar of time limits (data/holidays.toml).", no_args_is_help=True
)


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        from gridcli.common import fail

        raise fail(f"--today: {text!r} is not a date like 2026-12-01", 2) from None


@calendar_app.command("check")
def calendar_check(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="calendar file (default: <data_dir>/holidays.toml)"),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(help="check as on this day, YYYY-MM-DD (default: today, Asia/Shanghai)"),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help=f"exit {EXIT_NOT_COVERED} when this or next year is not covered"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Say which years the calendar covers; warn about this year and the next.

    Exit codes: 0 checked (a year not covered is a warning line on stderr, or
    with --strict exit 4), 1 the calendar file is broken, 2 usage.
    """
    from cases.calendar import CalendarError, calendar_coverage, calendar_path, load_calendar
    from cases.calendar.coverage import year_ranges
    from gridcli.common import err, fail, out

    day = _parse_day(today)
    path = calendar_path(file)
    try:
        report = calendar_coverage(day, load_calendar(path))
    except CalendarError as exc:
        raise fail(str(exc), 1) from exc
    if as_json:
        print(json.dumps({"file": str(path), **report.as_dict()}, ensure_ascii=False))
    else:
        days = ", ".join(report.weekdays)
        out.print(f"calendar {path}", highlight=False)
        out.print(
            f"working time: {days}, {', '.join(report.periods)} ({report.timezone})",
            highlight=False,
        )
        if report.library_version:
            out.print(
                f"holidays library {report.library_version} (holidays.China): 调休 for "
                f"{year_ranges(set(report.library_years))}",
                highlight=False,
            )
        else:
            out.print("holidays library: not used (library = false)", highlight=False)
        table = "; ".join(
            f"{y}: {h} holidays, {w} workdays" for y, (h, w) in report.table_days.items()
        )
        out.print(
            f"table: {table or 'no days'}; complete years: "
            f"{year_ranges(set(report.complete_years))}",
            highlight=False,
        )
        out.print(f"covered: {year_ranges(set(report.covered_years))}", highlight=False)
        if not report.warnings:
            out.print(
                f"ok: {report.today.year} and {report.today.year + 1} are covered", highlight=False
            )
    for line in report.warnings:
        err.print(f"[bold yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    if strict and report.warnings:
        raise typer.Exit(EXIT_NOT_COVERED)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(calendar_app, name="calendar")
