"""`grid`: the command line for set-up, loading, locating and serving.

Exit codes: 0 done, 1 the input failed its checks, 2 usage, 3 database
unreachable. Machine-readable output with --json on the commands others call.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gis import pgserver
from gis.crs import UnknownCRSError
from gis.settings import get_settings
from gridcli.common import checked_engine, fail, out, print_report

app = typer.Typer(
    help="community-grid: 蓬江区城管进社区网格化管理",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    help="The project-owned PostgreSQL server and the schema.", no_args_is_help=True
)
sample_app = typer.Typer(help="The generated sample district.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sample_app, name="sample")
layout_app = typer.Typer(help="Generations of the layout.", no_args_is_help=True)
app.add_typer(layout_app, name="layout")
org_app = typer.Typer(help="Squads, stations, officers, departments.", no_args_is_help=True)
app.add_typer(org_app, name="org")

# ------------------------------------------------------------------- db ---


@db_app.command("start")
def db_start() -> None:
    """Start the project-owned PostgreSQL (creating it on first use)."""
    try:
        out.print(pgserver.start(get_settings()))
    except pgserver.ClusterError as exc:
        raise fail(str(exc), 3) from exc


@db_app.command("stop")
def db_stop() -> None:
    """Stop the project-owned PostgreSQL."""
    try:
        out.print(pgserver.stop(get_settings()))
    except pgserver.ClusterError as exc:
        raise fail(str(exc), 3) from exc


@db_app.command("status")
def db_status() -> None:
    """Say whether the project-owned PostgreSQL is running."""
    st = pgserver.status(get_settings())
    out.print(st.detail)
    if st.managed and not st.running:
        raise typer.Exit(1)


@db_app.command("init")
def db_init() -> None:
    """Create the database and PostGIS if missing, migrate it, grant the app role its rights."""
    from gis.db import ensure_database, migrate

    settings = get_settings()
    try:
        created = ensure_database()
        migrate()
    except RuntimeError as exc:  # DatabaseUnavailable, ClusterError, a missing role
        raise fail(str(exc), 3) from exc
    roles = f"owner {settings.owner_role_name}, application {settings.app_role_name}"
    if settings.owner_role_name == settings.app_role_name:
        roles += " (one role: set CG_OWNER_DATABASE_URL for least privilege)"
    out.print(
        f"database {settings.database}: {'created, ' if created else ''}migrated; {roles}",
        highlight=False,
    )


# ----------------------------------------------------------------- load ---


@app.command()
def load(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or Shapefile")],
    level: Annotated[str, typer.Option(help="district|subdistrict|community|grid")],
    crs: Annotated[str, typer.Option(help="wgs84|cgcs2000|gcj02|bd09|EPSG:n")],
    name_field: Annotated[str | None, typer.Option(help="field with the name")] = None,
    code_field: Annotated[str | None, typer.Option(help="field with the code")] = None,
    parent_field: Annotated[str | None, typer.Option(help="field with the parent's code")] = None,
    layer: Annotated[str | None, typer.Option(help="layer of a GeoPackage")] = None,
    repair: Annotated[bool, typer.Option(help="repair invalid geometry with make_valid")] = False,
    dry_run: Annotated[bool, typer.Option(help="check only, write nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check a layout file and load it as a new current generation."""
    from gis.layout import LayoutError, load_file

    engine = checked_engine()
    try:
        gen, report = load_file(
            engine,
            file,
            level,
            crs,
            name_field=name_field,
            code_field=code_field,
            parent_field=parent_field,
            layer=layer,
            repair=repair,
            dry_run=dry_run,
        )
    except LayoutError as exc:
        for r in exc.reports:
            print_report(r, as_json)
        if as_json:
            print(
                json.dumps(
                    {
                        "ok": False,
                        "error": str(exc),
                        "findings": [f.as_dict() for r in exc.reports for f in r.findings],
                    },
                    ensure_ascii=False,
                )
            )
        raise fail(str(exc)) from exc
    print_report(report, as_json)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "generation": gen,
                    "features": report.features,
                    "findings": [f.as_dict() for f in report.findings],
                },
                ensure_ascii=False,
            )
        )
    else:
        what = "checked (dry run)" if dry_run else f"loaded as generation {gen}"
        out.print(f"{file}: {report.features} {level} features {what}")


# --------------------------------------------------------------- locate ---


@app.command()
def locate(
    lon: Annotated[float, typer.Argument(help="longitude (x)")],
    lat: Annotated[float, typer.Argument(help="latitude (y)")],
    crs: Annotated[str, typer.Option(help="wgs84|cgcs2000|gcj02|bd09|EPSG:n")] = "wgs84",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Say which grid, community, subdistrict, station and squad a point is in."""
    from gis.locate import InvalidLocation
    from gis.locate import locate as locate_point

    engine = checked_engine()
    try:
        with engine.connect() as conn:
            where = locate_point(conn, lon, lat, crs)
    except (InvalidLocation, UnknownCRSError, LookupError) as exc:
        raise fail(str(exc), 2 if not isinstance(exc, LookupError) else 1) from exc
    if as_json:
        print(json.dumps(where.as_dict(), ensure_ascii=False))
        return
    table = Table(show_header=False)
    for key, value in where.as_dict().items():
        table.add_row(key, "" if value is None else str(value))
    out.print(table)


# --------------------------------------------------------------- sample ---


@sample_app.command("generate")
def sample_generate(
    out_dir: Annotated[Path, typer.Argument(help="where to write")] = Path("data/sample"),
    seed: Annotated[int, typer.Option(help="random seed")] = 440703,
) -> None:
    """Regenerate the sample subdistricts, communities, grids and organisation."""
    from sample.district import generate_sample

    counts = generate_sample(out_dir, seed=seed)
    out.print(counts)


@sample_app.command("load")
def sample_load(
    force: Annotated[bool, typer.Option(help="reload even if unchanged")] = False,
) -> None:
    """Load the sample layout (a no-op when the files have not changed)."""
    from gis.layout import LayoutError
    from sample.seed import load_sample

    engine = checked_engine()
    try:
        result = load_sample(engine, force=force)
    except LayoutError as exc:
        for r in exc.reports:
            print_report(r, False)
        raise fail(str(exc)) from exc
    from gis.locate import ensure_lattice

    with engine.begin() as conn:
        ensure_lattice(conn, result.generation)
    state = "loaded" if result.loaded else "already current"
    out.print(f"sample layout {state}: generation {result.generation}")


@layout_app.command("list")
def layout_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the generations of the layout, newest first."""
    from gis.layout import list_generations

    with checked_engine().connect() as conn:
        rows = list_generations(conn)
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
        return
    table = Table("id", "created", "current", "subdistricts", "communities", "grids", "note")
    for r in rows:
        table.add_row(
            str(r["id"]),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            "✓" if r["is_current"] else "",
            str(r["subdistricts"]),
            str(r["communities"]),
            str(r["grids"]),
            r["note"],
        )
    out.print(table)


@layout_app.command("activate")
def layout_activate(generation: Annotated[int, typer.Argument(help="generation id")]) -> None:
    """Make an earlier generation current again (cases keep the grids they had)."""
    from gis.layout import LayoutError, activate_generation

    try:
        with checked_engine().begin() as conn:
            activate_generation(conn, generation)
    except LayoutError as exc:
        raise fail(str(exc)) from exc
    out.print(f"generation {generation} is current")


@org_app.command("load")
def org_load(
    folder: Annotated[
        Path,
        typer.Argument(
            help="folder with squads.csv, stations.geojson, "
            "officers.csv, departments.csv, "
            "grid_departments.csv, communities.geojson"
        ),
    ],
    crs: Annotated[str, typer.Option(help="CRS of stations.geojson")] = "wgs84",
) -> None:
    """Load (upsert) the organisation; officers missing from the file are deactivated."""
    from gis.organisation import OrganisationError, load_organisation

    try:
        with checked_engine().begin() as conn:
            counts = load_organisation(conn, folder, crs)
    except (OrganisationError, UnknownCRSError) as exc:
        raise fail(str(exc)) from exc
    out.print(counts)


@app.command()
def summary(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts per level of the current layout and of the organisation."""
    from gis.organisation import summary as layout_summary

    counts = layout_summary(checked_engine())
    if as_json:
        print(json.dumps(counts))
        return
    table = Table("what", "count", title="current layout")
    for k, v in counts.items():
        table.add_row(k, str(v))
    out.print(table)


from gridcli import calendarcmd as _calendarcmd  # noqa: E402
from gridcli import dutycmd as _dutycmd  # noqa: E402
from gridcli import escalatecmd as _escalatecmd  # noqa: E402
from gridcli import indicatorcmd as _indicatorcmd  # noqa: E402
from gridcli import intake as _intake  # noqa: E402
from gridcli import keycmd as _keycmd  # noqa: E402
from gridcli import ledgercmd as _ledgercmd  # noqa: E402
from gridcli import mapscmd as _mapscmd  # noqa: E402
from gridcli import open311cli as _open311cli  # noqa: E402
from gridcli import ops as _ops  # noqa: E402
from gridcli import reportcmd as _reportcmd  # noqa: E402
from gridcli import usercmd as _usercmd  # noqa: E402

for _module in (_intake, _open311cli, _ops, _usercmd, _calendarcmd, _dutycmd, _mapscmd):
    _module.register(app)
_escalatecmd.register(app)
_ledgercmd.register(app)
_keycmd.register(app)
_indicatorcmd.register(app)
_reportcmd.register(app)


def main() -> None:  # pragma: no cover - console entry for `python -m gridcli.main`
    """Run the CLI."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
