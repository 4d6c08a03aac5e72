"""Commands: bulk assignment (`grid assign`) and serving the API (`grid serve`);
`grid demo` is registered here and built in gridcli.demo.

Exit codes as everywhere in `grid`: 0 done, 1 the input failed its checks,
2 usage (unknown CRS, no such file), 3 database unreachable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridcli import common as main

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from cases.bulk import AssignResult

STEPS = {
    "read": "reading",
    "validate": "checking rows",
    "copy": "copying (COPY)",
    "locate": "locating",
    "insert": "writing cases",
}
OUTCOMES = (
    ("located", "located (in a grid)"),
    ("gap_snapped", "gap-snapped (nearest grid)"),
    ("referred_out", "referred out (转办)"),
    ("unassigned", "needs location: in no grid"),
    ("no_location", "needs location: address only"),
    ("invalid", "invalid rows"),
)


def _progress_printer(enabled: bool) -> tuple[Callable[[str, int, int], None] | None, Any]:
    """A rich progress bar fed by assign_file's callback, or nothing."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        transient=True,
        console=main.err,
    )
    tasks: dict[str, Any] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in tasks:
            for t in tasks.values():  # an earlier step is complete
                bar.update(t, completed=bar.tasks[t].total)
            tasks[step] = bar.add_task(STEPS.get(step, step), total=max(total, 1))
        bar.update(tasks[step], completed=done, total=max(total, 1))

    return progress, bar


def print_result(result: AssignResult, console: Any) -> None:
    """Counts per outcome, the first rejects with their lines, timings."""
    from rich.table import Table

    title = f"{result.file}: {result.rows:,} rows, crs {result.crs}"
    if result.already_assigned:
        title += f" (already assigned {result.assigned_at}: nothing written now)"
    table = Table("outcome", "rows", title=title)
    for key, label in OUTCOMES:
        table.add_row(label, f"{getattr(result, key):,}")
    console.print(table)
    if result.by_status:
        from cases.lifecycle.states import BY_CODE, STATE_CODES

        by_status = Table("status", "cases", title="cases by status")
        for code in sorted(result.by_status, key=STATE_CODES.index):
            by_status.add_row(f"{code} ({BY_CODE[code].label})", f"{result.by_status[code]:,}")
        console.print(by_status)
    if result.history_not_applied:
        console.print(
            f"status from the file not applied to {result.history_not_applied:,} rows: "
            "outside the district, not placed, or in a grid without a station "
            "(they keep their intake status)",
            highlight=False,
        )
    if result.referred_to:
        console.print(
            "referred out to: "
            + ", ".join(f"{name} {n:,}" for name, n in result.referred_to.items())
        )
    if result.first_rejects:
        more = result.invalid - len(result.first_rejects)
        unit = result.line_numbers.split(" ")[0]
        unit = unit if unit in ("feature", "row") else "line"
        note = (
            ""
            if result.line_numbers in ("exact", "feature numbers", "row numbers")
            else (f" ({result.line_numbers})")
        )
        console.print(f"[bold]invalid rows[/]{note}:", highlight=False)
        for line, reason in result.first_rejects:
            console.print(f"  {unit} {line}: {reason}", highlight=False)
        if more > 0:
            console.print(f"  ... and {more:,} more", highlight=False)
    if result.rejects_path:
        console.print(
            f"all invalid rows, with their values: {result.rejects_path}", highlight=False
        )
    if result.timings:
        console.print(
            "timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()),
            highlight=False,
        )


def _assign(
    engine: Engine,
    file: Path,
    crs: str,
    rejects: Path | None,
    as_json: bool,
) -> AssignResult:
    from cases.bulk import AssignError, assign_file
    from cases.calendar import CalendarError
    from cases.catalogue import CatalogueError
    from gis.crs import UnknownCRSError

    progress, bar = _progress_printer(sys.stdout.isatty() and not as_json)
    try:
        if bar is not None:
            with bar:
                return assign_file(engine, file, crs, progress=progress, rejects=rejects)
        return assign_file(engine, file, crs, rejects=rejects)
    except UnknownCRSError as exc:
        raise main.fail(str(exc), 2) from exc
    except AssignError as exc:
        raise main.fail(str(exc), 2 if exc.usage else 1) from exc
    except (CatalogueError, CalendarError, LookupError) as exc:
        raise main.fail(str(exc), 1) from exc


def register(app: typer.Typer) -> None:
    """Add `assign`, `serve` and `demo` to the `grid` app."""

    @app.command()
    def assign(
        file: Annotated[Path, typer.Argument(help="CSV, GeoJSON or GeoParquet of complaints")],
        crs: Annotated[
            str, typer.Option(help="CRS of the coordinates: wgs84|cgcs2000|gcj02|bd09|EPSG:n")
        ],
        rejects: Annotated[
            Path | None,
            typer.Option(help="where to write the invalid rows (default: FILE.rejects.csv)"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Locate and file every complaint of a file (columns lon,lat,subclass,reported_at
        and optionally description,address, and a case's later course: status,
        dispatched_at,closed_at,rating); invalid rows are listed, not dropped."""
        engine = main.checked_engine()
        result = _assign(engine, file, crs, rejects, as_json)
        if as_json:
            print(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            print_result(result, main.out)

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port")] = 8000,
        workers: Annotated[
            int | None,
            typer.Option(help="worker processes (default: CG_API_WORKERS, else one per core)"),
        ] = None,
        access_log: Annotated[bool, typer.Option(help="log every request")] = True,
    ) -> None:
        """Serve the API (uvicorn, api.app:create_app) until interrupted."""
        _serve(host, port, workers, access_log)

    @app.command()
    def demo(
        serve: Annotated[
            bool, typer.Option("--serve/--no-serve", help="serve the API at the end")
        ] = True,
        host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    ) -> None:
        """Load the sample district and a year of sample complaints, show them, serve."""
        from gridcli.demo import run_demo

        run_demo(serve, host, port)


WORKER_HEALTHCHECK_S = 60
"""How long `grid serve`'s supervisor waits for a worker to answer before replacing it."""


def serve_workers(workers: int | None) -> int:
    """How many worker processes `grid serve` starts: --workers, else the settings'
    api_workers, else one per CPU core (the API is CPU-bound in Python)."""
    import os

    from gis.settings import get_settings

    if workers is None:
        workers = get_settings().api_workers or os.cpu_count() or 1
    return workers


def _serve(host: str, port: int, workers: int | None, access_log: bool) -> None:
    import uvicorn

    from gis.db import get_engine, ping

    workers = serve_workers(workers)
    if workers < 1:
        raise main.fail("--workers must be 1 or more", 2)
    if not ping(get_engine()):
        main.err.print(
            "[yellow]warning:[/] the database is not reachable; /healthz will "
            "answer 503 until it is (`grid db start`)"
        )
    shown = f"[{host}]" if ":" in host else host
    main.out.print(
        f"serving the API at http://{shown}:{port}/ with {workers} worker"
        f"{'s' if workers > 1 else ''} (docs at /docs; Ctrl-C stops)",
        highlight=False,
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        # A worker answers the supervisor's health pings only once the app is
        # imported; on a busy machine that takes longer than uvicorn's 5 s, and
        # the supervisor would kill and restart every worker, for ever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
