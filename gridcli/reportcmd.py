"""Commands: `grid report`: the monthly meeting report (月度例会报告).

`grid report monthly --month YYYY-MM [--station CODE | --squad CODE] --out DIR`
is a stable interface that other tools call: it writes the report of a
finished month, for the station, the squad or (neither) the whole district,
as `DIR/<name>.html` and `DIR/<name>.xlsx` (DIR made when missing) and prints
their two paths, one per line, the HTML first. Nothing is written unless both
are made.

Exit codes: 0 done; 1 the input failed its checks (a month not finished yet,
an unknown station or squad); 2 usage (a malformed month, --station with
--squad, an --out that is a file); 3 database unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(
    help="Reports: the monthly meeting report (月度例会报告) as .html and .xlsx.",
    no_args_is_help=True,
)


@report_app.command("monthly")
def monthly(
    month: Annotated[str, typer.Option("--month", help="a finished month, YYYY-MM")],
    out: Annotated[Path, typer.Option("--out", help="directory for the .html and .xlsx")],
    station: Annotated[
        str | None, typer.Option("--station", help="a station's code (else the district)")
    ] = None,
    squad: Annotated[
        str | None, typer.Option("--squad", help="a squad's code (else the district)")
    ] = None,
) -> None:
    """Write the monthly meeting report of a finished month; print its two paths."""
    from cases.errors import DomainError
    from cases.reports import MalformedMonth, export_monthly_report, parse_report_month
    from gridcli.common import checked_engine, fail

    if station is not None and squad is not None:
        raise fail("give --station or --squad, not both (neither: the whole district)", 2)
    if out.exists() and not out.is_dir():
        raise fail(f"--out: {out} is a file, not a directory", 2)
    try:
        which = parse_report_month(month)
    except DomainError as exc:
        raise fail(f"--month: {exc.message}", 2 if isinstance(exc, MalformedMonth) else 1) from None
    engine = checked_engine()
    try:
        paths = export_monthly_report(engine, which, out, station=station, squad=squad)
    except DomainError as exc:
        where = f"--{exc.field}: " if exc.field else ""
        raise fail(f"{where}{exc.message}", 1) from None
    except OSError as exc:
        raise fail(f"--out: cannot write in {out}: {exc.strerror}", 1) from None
    for path in paths:
        print(path)


def register(app: typer.Typer) -> None:
    """Add `grid report` to the `grid` app."""
    app.add_typer(report_app, name="report")
