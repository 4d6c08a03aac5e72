"""What every `grid` command shares: consoles, errors, the checked engine.

Command modules import this one and never each other, so the CLI has no
import cycles; `gridcli.main` builds the app and registers every module.
Exit codes everywhere: 0 done, 1 the input failed its checks, 2 usage,
3 database unreachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from gis.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for a person and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def checked_engine(key: bool = True) -> Engine:
    """The project's engine, or exit 3 with what to do when it is unreachable.

    With `key`, the personal-data key must fit the database too (exit 1 with
    what to do otherwise; see gis.privacy.require_key).
    """
    from gis.db import DatabaseUnavailable, get_engine, ping
    from gis.privacy import KeyProblem, require_key

    engine = get_engine()
    if not ping(engine):
        s = get_settings()
        where = "DATABASE_URL" if s.database_url else f"127.0.0.1:{s.pg_port}"
        raise fail(
            f"the database at {where} is not reachable; run `make setup` or `grid db start`", 3
        ) from DatabaseUnavailable(where)
    if key:
        try:
            report = require_key(engine)
        except KeyProblem as exc:
            raise fail(str(exc)) from exc
        if report.made:
            err.print(
                f"made a new personal-data key: {report.source} ({report.fingerprint}); "
                "back it up together with the database"
            )
    return engine


def print_report(report: Any, as_json: bool) -> None:
    """A layout check report as a table on stderr (nothing with --json)."""
    if as_json:
        return
    table = Table(
        title=f"{report.level}: {report.features} features, "
        f"{len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    for col in ("check", "severity", "where (lon, lat)", "message"):
        table.add_column(col)
    for f in report.findings[:200]:
        where = f"{f.lon}, {f.lat}" if f.lon is not None else ""
        table.add_row(f.check, f.severity, where, f.message)
    if report.findings:
        err.print(table)
    if len(report.findings) > 200:
        err.print(f"... and {len(report.findings) - 200} more")
