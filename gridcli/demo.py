"""`grid demo`: everything a new user needs to see the service working, in one command.

Kept apart from gridcli.ops (assign and serve): the demo composes the sample
(sample/), the workflow's exports and the server, and grows with each floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridcli import common as main
from gridcli.ops import _serve, print_result

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# Points the demo locates: (label, lon, lat, crs). The GCJ-02 one is the first
# point as a phone map app (AMap, WeChat) would report it.
DEMO_POINTS: tuple[tuple[str, float, float, str], ...] = (
    ("城区 urban core (北街/仓后)", 113.0795, 22.5858, "wgs84"),
    ("镇 town (荷塘镇)", 113.0620, 22.7450, "wgs84"),
    ("江海区 neighbour", 113.1230, 22.5450, "wgs84"),
    ("新会区 neighbour", 113.0300, 22.4500, "wgs84"),
)


def run_demo(serve: bool, host: str, port: int) -> None:
    """`grid demo`: the sample district, a year of duty and complaints, a month of
    workflow, the maps, ledgers and reports written, the demo accounts; then serve."""
    from rich.table import Table

    from cases.bulk import AssignError
    from gis.crs import wgs84_to_gcj02
    from gis.layout import LayoutError
    from gis.locate import locate
    from gis.organisation import summary
    from sample.complaints import load_sample_complaints
    from sample.seed import load_sample

    out = main.out
    engine = main.checked_engine()

    # 1. The sample layout.
    try:
        seeded = load_sample(engine)
    except LayoutError as exc:
        for r in exc.reports:
            main.print_report(r, False)
        raise main.fail(str(exc)) from exc
    if seeded.loaded:
        errors = sum(len(r.errors) for r in seeded.reports)
        warnings = sum(len(r.warnings) for r in seeded.reports)
        out.print(
            f"sample layout loaded as generation {seeded.generation}: checks passed "
            f"({errors} errors, {warnings} warnings)"
        )
        for r in seeded.reports:
            out.print(
                f"  {r.level}: {r.features} features, {len(r.errors)} errors, "
                f"{len(r.warnings)} warnings",
                highlight=False,
            )
    else:
        out.print(
            f"sample layout already current (generation {seeded.generation}; "
            "its checks passed when it was loaded)"
        )
    counts = summary(engine)
    table = Table("what", "count", title="current layout")
    for k, v in counts.items():
        table.add_row(k, str(v))
    out.print(table)

    # 2. A few points located.
    points = list(DEMO_POINTS)
    lon, lat = wgs84_to_gcj02(DEMO_POINTS[0][1], DEMO_POINTS[0][2])
    points.append(
        ("GCJ-02 from a phone app (same place as the first)", round(lon, 6), round(lat, 6), "gcj02")
    )
    out.print("[bold]where sample points land[/]")
    with engine.connect() as conn:
        for label, x, y, crs in points:
            loc = locate(conn, x, y, crs)
            if loc.grid_code:
                got = (
                    f"{loc.method}: grid {loc.grid_code}, {loc.community_name}, "
                    f"{loc.station_name}, {loc.squad_name}"
                )
            else:
                got = f"{loc.method}: {loc.district or 'no district known'}"
            out.print(f"  {label}  {x}, {y} ({crs})\n    → {got}", highlight=False)

    # 3. A year of sample duty (shifts, check-ins, patrols), then of sample complaints:
    # intake gives a complaint to the officer on a shift covering its moment, so the
    # shifts come first.
    _demo_duty(engine)
    try:
        loaded = load_sample_complaints(engine)
    except (AssignError, LookupError) as exc:
        raise main.fail(str(exc)) from exc
    if not loaded.files:
        out.print(
            "sample complaints: already loaded ("
            + "; ".join(f"{c} {why}" for c, why in loaded.skipped.items())
            + ")"
        )
    for path, result in loaded.files:
        print_result(result, out)
        out.print(f"  file: {path}", highlight=False)
    with engine.connect() as conn:
        import sqlalchemy as sa

        rows = conn.execute(
            sa.text(
                "SELECT status, count(*) FROM case_file WHERE source = 'sample' "
                "GROUP BY status ORDER BY 2 DESC"
            )
        ).all()
    out.print(
        "sample cases in the database: "
        + (", ".join(f"{status} {n:,}" for status, n in rows) or "none")
    )

    # 4. Demo accounts, the workflow and the ledgers of the last full month.
    _demo_accounts(engine)
    _demo_workflow(engine)
    paths = _demo_maps(engine) + _demo_ledgers(engine) + _demo_reports(engine)
    out.print("[bold]files written[/]")
    for path in paths:
        out.print(f"  {path}", highlight=False)
    shown = f"[{host}]" if ":" in host else host
    out.print(
        f"start page: http://{shown}:{port}/ (API documentation: http://{shown}:{port}/docs)",
        highlight=False,
    )

    # 5. Serve.
    if serve:
        _serve(host, port, None, True)


# Demo accounts: one per role, with FIXED passwords printed by `grid demo`. They
# are for trying the sample out on one's own machine only: never run `grid demo`
# against a database that real people use (or disable these accounts there with
# `grid user disable`).
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105 - demo-only passwords, printed on purpose
DEMO_ROLES = (
    "officer",
    "squad_leader",
    "deputy_leader",
    "chief",
    "dispatcher",
    "analyst",
    "admin",
)


def _demo_station(engine: Engine) -> Any:
    """The demo officer's place: the first sample officer (by code) with a station."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT o.code, o.station_code, o.squad_code FROM officer o "
                "WHERE o.active AND o.role = 'officer' AND o.station_code IS NOT NULL "
                "AND o.squad_code IS NOT NULL ORDER BY o.code LIMIT 1"
            )
        ).one()


def _demo_accounts(engine: Engine) -> None:
    """Make the demo accounts that do not exist yet (a rerun makes none) and print
    them with their passwords. Officers, squad leaders, deputies and the chief are
    linked to the sample officer who holds that post."""
    import sqlalchemy as sa

    from cases.accounts.store import create_account, list_accounts

    me = _demo_station(engine)
    with engine.connect() as conn:
        holders: dict[str, str] = dict(
            (r.role, r.code)
            for r in conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (role) role, code FROM officer WHERE active AND "
                    "(role IN ('deputy_leader', 'chief') OR "
                    "(role = 'squad_leader' AND squad_code = :sq)) ORDER BY role, code"
                ),
                {"sq": me.squad_code},
            ).all()
        )
    holders["officer"] = me.code
    existing = {a.username for a in list_accounts(engine)}
    main.out.print("[bold]demo accounts (demo only: fixed passwords)[/]")
    main.out.print(f"  {'username':<20} {'password':<26} {'role':<14} place", highlight=False)
    for role in DEMO_ROLES:
        username = f"demo_{role}"
        password = role + DEMO_PASSWORD_SUFFIX
        station = me.station_code if role == "officer" else None
        squad = me.squad_code if role == "squad_leader" else None
        if username not in existing:
            create_account(
                engine,
                username,
                role,
                password,
                station_code=station,
                squad_code=squad,
                officer_code=holders.get(role),
            )
        main.out.print(
            f"  {username:<20} {password:<26} {role:<14} {station or squad or '蓬江区'}",
            highlight=False,
            soft_wrap=True,
        )
    main.out.print(
        "These accounts and passwords are for the demo only; never keep them on a "
        "database that real people use (`grid user disable USERNAME`)."
    )


def _demo_duty(engine: Engine) -> None:
    """Load the sample year's shifts, check-ins and patrols not loaded yet."""
    from sample.duty import load_sample_duty

    try:
        done = load_sample_duty(engine)
    except LookupError as exc:
        raise main.fail(str(exc)) from exc
    if done.shifts:
        main.out.print(
            f"sample duty {done.first} to {done.last}: {done.shifts:,} shifts, "
            f"{done.checks:,} check-ins/outs ({done.flagged:,} flagged outside), "
            f"{done.patrols:,} patrols",
            highlight=False,
        )
    else:
        main.out.print("sample duty: already loaded")


def _demo_workflow(engine: Engine) -> None:
    """Drive part of the last full month's sample cases through the lifecycle."""
    from sample.workflow import run_sample_workflow

    done = run_sample_workflow(engine)
    if done.moves:
        main.out.print(
            f"sample workflow {done.month}: "
            + ", ".join(f"{fate} {n:,}" for fate, n in done.cases.items())
            + f" cases ({done.moves:,} moves through the lifecycle)",
            highlight=False,
        )
    else:
        main.out.print(f"sample workflow {done.month}: already run")


def _demo_maps(engine: Engine) -> list[Path]:
    """The main maps (every map page, default filters: the last twelve months) as
    standalone HTML files under var/demo/maps; returns their paths. Without the
    map assets (scripts/assets.sh) the maps are left out with a warning."""
    from api.pages.views import PageQuery
    from gis.settings import ROOT
    from gridcli.mapscmd import export_maps
    from maps.offline import MissingAssetsError

    try:
        return export_maps(engine, ROOT / "var" / "demo" / "maps", PageQuery())
    except MissingAssetsError as exc:
        main.err.print(f"[yellow]warning:[/] maps not written: {exc}", highlight=False)
        return []


def _last_full_month() -> str:
    """`YYYY-MM` of the last full month (Asia/Shanghai): the sample year's last."""
    from datetime import UTC, datetime

    from cases.stations.weeks import LOCAL_TZ

    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    if today.month == 1:
        return f"{today.year - 1}-12"
    return f"{today.year}-{today.month - 1:02d}"


def _demo_reports(engine: Engine) -> list[Path]:
    """The monthly meeting report of the last full month for the demo station and
    for the district (.html and .xlsx each) under var/demo/reports; their paths."""
    from cases.errors import DomainError
    from cases.reports import export_monthly_report
    from gis.settings import ROOT

    month = _last_full_month()
    station = _demo_station(engine).station_code
    out = ROOT / "var" / "demo" / "reports"
    paths: list[Path] = []
    try:
        paths += export_monthly_report(engine, month, out / station, station=station)
        paths += export_monthly_report(engine, month, out / "district")
    except DomainError as exc:
        raise main.fail(f"monthly report {month}: {exc.message}") from exc
    except OSError as exc:
        raise main.fail(f"cannot write the reports in {out}: {exc.strerror}") from exc
    return paths


def _demo_ledgers(engine: Engine) -> list[Path]:
    """The five ledgers of the demo officer's station for the last full month of
    the sample year, as .xlsx under var/demo/ledgers; returns their paths."""
    from datetime import UTC, datetime

    from cases.ledgers import Month, export_ledgers
    from cases.stations.weeks import LOCAL_TZ
    from gis.settings import ROOT

    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    last = Month(today.year - 1, 12) if today.month == 1 else Month(today.year, today.month - 1)
    station = _demo_station(engine).station_code
    out_dir = ROOT / "var" / "demo" / "ledgers"
    try:
        return export_ledgers(engine, station, last, out_dir)
    except OSError as exc:
        raise main.fail(f"cannot write the ledgers in {out_dir}: {exc.strerror}") from exc
