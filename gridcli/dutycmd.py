"""Commands: `grid duty`, `grid patrol`, `grid frontage`: the stations' work.

`grid duty compliance --week YYYY-Www [--station CODE | --squad CODE] --json`
is a stable interface that other tools call: one JSON object per line, per
officer and community, with the hours and whether the rule is met
(cases.stations.compliance.ComplianceRow). Exit codes: 0 done, 1 the input
failed its checks (overlapping shifts, a malformed or future week, an unknown
code, a check-in without a location, a broken track), 2 usage.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

duty_app = typer.Typer(
    help="Duty shifts (值守): plan, check in and out, who is on duty, weekly compliance.",
    no_args_is_help=True,
)
patrol_app = typer.Typer(help="Patrols (巡查): record a GPS track with findings.")
frontage_app = typer.Typer(help="Frontage units (门前三包): register and list.")

_CRS_HELP = "wgs84|cgcs2000|gcj02|bd09|EPSG:n"


def _when(value: str | None, option: str) -> datetime | None:
    from gridcli.common import fail

    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: {value!r} is not an ISO 8601 time", 2) from None
    if at.tzinfo is None:
        raise fail(f"{option}: {value!r} needs a time-zone offset, e.g. +08:00", 2)
    return at


def _first_error(exc: Any) -> str:
    """The first error of a pydantic ValidationError, `field: message`."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _run(call: Any) -> Any:
    """Call a domain function; its errors become exit 1 with the message."""
    from pydantic import ValidationError

    from cases.errors import DomainError
    from gridcli.common import fail

    try:
        return call()
    except DomainError as exc:
        where = f"{exc.field}: " if exc.field else ""
        raise fail(f"{where}{exc.message}") from None
    except ValidationError as exc:
        raise fail(_first_error(exc)) from None
    except LookupError as exc:
        raise fail(str(exc)) from None


def _lines(items: list[dict[str, Any]]) -> None:
    for item in items:
        print(json.dumps(item, ensure_ascii=False))


# ------------------------------------------------------------------ duty


@duty_app.command("plan")
def duty_plan(
    officer: Annotated[str | None, typer.Option(help="officer code")] = None,
    station: Annotated[str | None, typer.Option(help="station code")] = None,
    start: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    end: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    note: Annotated[str, typer.Option(help="a note on the shift")] = "",
    file: Annotated[
        Path | None,
        typer.Option(help="CSV with officer_code,station_code,start,end[,note]: a whole rota"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per shift")] = False,
) -> None:
    """Plan shifts, all or none; overlapping shifts of one officer are refused (exit 1)."""
    from pydantic import ValidationError

    from cases.stations.duty import ShiftIn, plan_shifts
    from gridcli.common import checked_engine, fail, out

    rows: list[dict[str, Any]]
    if file is not None:
        if any(v is not None for v in (officer, station, start, end)):
            raise fail("give either --file or --officer/--station/--start/--end", 2)
        try:
            with file.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as exc:
            raise fail(f"{file}: {exc.strerror}", 2) from None
    else:
        if None in (officer, station, start, end):
            raise fail("give --officer, --station, --start and --end (or --file)", 2)
        rows = [{"officer_code": officer, "station_code": station, "start": start, "end": end}]
        rows[0]["note"] = note
    shifts = []
    for i, row in enumerate(rows):
        try:
            shifts.append(ShiftIn.model_validate({k: v for k, v in row.items() if k}))
        except ValidationError as exc:
            line = f"line {i + 2}: " if file is not None else ""
            raise fail(f"{line}{_first_error(exc)}") from None
    made = _run(lambda: plan_shifts(checked_engine(), shifts))
    if as_json:
        _lines([s.as_dict() for s in made])
        return
    for s in made:
        out.print(
            f"shift {s.id}: {s.officer_code} at {s.station_code}, {s.start} to {s.end}",
            highlight=False,
        )


@duty_app.command("cancel")
def duty_cancel(shift_id: Annotated[int, typer.Argument(help="the shift's id")]) -> None:
    """Cancel a shift nobody checked in on (kept, marked cancelled)."""
    from cases.stations.duty import cancel_shift
    from gridcli.common import checked_engine, out

    shift = _run(lambda: cancel_shift(checked_engine(), shift_id))
    out.print(f"shift {shift.id} cancelled", highlight=False)


def _check(
    kind: str,
    shift_id: int,
    lon: float | None,
    lat: float | None,
    crs: str,
    at: str | None,
    as_json: bool,
) -> None:
    from cases.stations.duty import CheckIn, record_check
    from gridcli.common import checked_engine, err, out

    check = _run(lambda: CheckIn(lon=lon, lat=lat, crs=crs, at=_when(at, "--at")))
    result = _run(lambda: record_check(checked_engine(), shift_id, kind, check))
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    elif result.flag == "ok":
        out.print(f"check {result.id}: {result.message}", highlight=False)
    else:
        err.print(f"[bold yellow]flagged:[/] check {result.id}: {result.message}", highlight=False)


@duty_app.command("checkin")
def duty_checkin(
    shift_id: Annotated[int, typer.Argument(help="the shift's id")],
    lon: Annotated[float | None, typer.Option(help="x in --crs")] = None,
    lat: Annotated[float | None, typer.Option(help="y in --crs")] = None,
    crs: Annotated[str, typer.Option(help=_CRS_HELP)] = "wgs84",
    at: Annotated[str | None, typer.Option(help="ISO 8601 with offset; default now")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check in on a shift; far from the station it is kept and flagged."""
    _check("in", shift_id, lon, lat, crs, at, as_json)


@duty_app.command("checkout")
def duty_checkout(
    shift_id: Annotated[int, typer.Argument(help="the shift's id")],
    lon: Annotated[float | None, typer.Option(help="x in --crs")] = None,
    lat: Annotated[float | None, typer.Option(help="y in --crs")] = None,
    crs: Annotated[str, typer.Option(help=_CRS_HELP)] = "wgs84",
    at: Annotated[str | None, typer.Option(help="ISO 8601 with offset; default now")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check out of a shift."""
    _check("out", shift_id, lon, lat, crs, at, as_json)


@duty_app.command("now")
def duty_now_cmd(
    station: Annotated[str, typer.Option(help="station code")],
    at: Annotated[str | None, typer.Option(help="ISO 8601 with offset; default now")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who is on duty at a station: present, planned, then the rest (fewest open cases first)."""
    from rich.table import Table

    from cases.stations.duty import duty_now
    from gridcli.common import checked_engine, out

    moment = _when(at, "--at")
    now = _run(lambda: duty_now(checked_engine(), station, moment))
    if as_json:
        print(json.dumps(now.as_dict(), ensure_ascii=False))
        return
    table = Table(
        "officer", "name", "state", "shift", "open cases", title=f"{now.station_name} {now.at}"
    )
    for o in now.officers:
        shift = f"{o.shift_start} – {o.shift_end}" if o.shift_id else ""
        table.add_row(o.code, o.name or "", o.state, shift, str(o.open_cases))
    out.print(table)


@duty_app.command("compliance")
def duty_compliance(
    week: Annotated[str, typer.Option(help="ISO week YYYY-Www, e.g. 2019-W10")],
    station: Annotated[str | None, typer.Option(help="only this station")] = None,
    squad: Annotated[str | None, typer.Option(help="only this squad's stations")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per officer and community")
    ] = False,
) -> None:
    """Hours on duty per officer and community in a week, against the rule."""
    from rich.table import Table

    from cases.stations.compliance import weekly_compliance
    from gridcli.common import checked_engine, fail, out

    if station is not None and squad is not None:
        raise fail("give --station or --squad, not both", 2)
    report = _run(
        lambda: weekly_compliance(checked_engine(), week, station_code=station, squad_code=squad)
    )
    if as_json:
        _lines([r.as_dict() for r in report.rows])
        return
    table = Table(
        "station", "squad", "officers", "met", "short", "hours",
        title=f"{report.week} ({report.week_start} – {report.week_end}), "
        f"rule {report.rule_hours:g} h",
    )  # fmt: skip
    for g in report.stations:
        table.add_row(
            f"{g.station_code} {g.station_name}",
            g.squad_code or "",
            str(g.officers),
            str(g.met),
            str(g.short),
            f"{g.hours:.2f}",
        )
    out.print(table)
    if report.shortfalls:
        short = Table("officer", "name", "station", "hours", "short by", title="shortfalls")
        for r in report.shortfalls:
            short.add_row(
                r.officer_code,
                r.officer_name or "",
                r.station_code,
                f"{r.hours:.2f}",
                f"{r.shortfall_hours:.2f}",
            )
        out.print(short)


# ------------------------------------------------------------------ patrols


def _json_file(path: Path | None, option: str) -> Any:
    from gridcli.common import fail

    if path is None:
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"{option} {path}: {exc}", 2) from None


@patrol_app.command("record")
def patrol_record(
    track: Annotated[Path, typer.Argument(help="the track: .gpx, or .geojson/.json")],
    officer: Annotated[str, typer.Option(help="officer code")],
    station: Annotated[str | None, typer.Option(help="default: the officer's")] = None,
    crs: Annotated[str, typer.Option(help=_CRS_HELP)] = "wgs84",
    started_at: Annotated[str | None, typer.Option(help="default: the track's first time")] = None,
    ended_at: Annotated[str | None, typer.Option(help="default: the track's last time")] = None,
    findings: Annotated[
        Path | None, typer.Option(help="JSON list of findings (lon, lat, subclass, ...)")
    ] = None,
    checks: Annotated[
        Path | None, typer.Option(help="JSON list of frontage checks (frontage_code, item, passed)")
    ] = None,
    note: Annotated[str, typer.Option()] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record a patrol: coverage, grids passed, findings filed as cases (source patrol)."""
    from cases.stations.patrols import PatrolIn, record_patrol
    from gridcli.common import checked_engine, fail, out

    try:
        text = track.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{track}: {exc}", 2) from None
    body: dict[str, Any] = {
        "officer_code": officer,
        "station_code": station,
        "crs": crs,
        "started_at": _when(started_at, "--started-at"),
        "ended_at": _when(ended_at, "--ended-at"),
        "note": note,
        "findings": _json_file(findings, "--findings"),
        "frontage_checks": _json_file(checks, "--checks"),
    }
    if track.suffix.lower() == ".gpx":
        body["gpx"] = text
    else:
        try:
            body["geojson"] = json.loads(text)
        except ValueError as exc:
            raise fail(f"{track}: not JSON ({exc})") from None
    patrol = _run(lambda: PatrolIn.model_validate(body))
    view = _run(lambda: record_patrol(checked_engine(), patrol))
    if as_json:
        print(json.dumps(view.as_dict(), ensure_ascii=False))
        return
    out.print(
        f"patrol {view.id}: {view.length_m:.0f} m, {len(view.grids)} grids, "
        f"{view.coverage:.1%} of {view.community_code} covered, "
        f"{sum(1 for f in view.findings if f['case_id'])} findings filed as cases",
        highlight=False,
    )


@patrol_app.command("show")
def patrol_show(patrol_id: Annotated[int, typer.Argument(help="the patrol's id")]) -> None:
    """One patrol as JSON."""
    from cases.stations.patrols import get_patrol
    from gridcli.common import checked_engine

    view = _run(lambda: get_patrol(checked_engine(), patrol_id))
    print(json.dumps(view.as_dict(), ensure_ascii=False))


@frontage_app.command("add")
def frontage_add(
    code: Annotated[str, typer.Argument(help="the unit's code")],
    name: Annotated[str, typer.Option(help="shop or unit name")],
    lon: Annotated[float, typer.Option(help="x in --crs")],
    lat: Annotated[float, typer.Option(help="y in --crs")],
    crs: Annotated[str, typer.Option(help=_CRS_HELP)] = "wgs84",
    address: Annotated[str, typer.Option()] = "",
) -> None:
    """Register (or update) a frontage unit; its community is where it lies."""
    from cases.stations.frontage import FrontageUnitIn, register_frontage
    from gridcli.common import checked_engine, out

    unit = _run(
        lambda: FrontageUnitIn(code=code, name=name, address=address, lon=lon, lat=lat, crs=crs)
    )
    view = _run(lambda: register_frontage(checked_engine(), unit))
    out.print(f"frontage unit {view.code} in community {view.community_code}", highlight=False)


@frontage_app.command("list")
def frontage_list(
    community: Annotated[str | None, typer.Option(help="community code")] = None,
) -> None:
    """Frontage units as JSON lines, with the latest result of each item."""
    from cases.stations.frontage import list_frontage
    from gridcli.common import checked_engine

    _lines([u.as_dict() for u in list_frontage(checked_engine(), community)])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(duty_app, name="duty")
    app.add_typer(patrol_app, name="patrol", no_args_is_help=True)
    app.add_typer(frontage_app, name="frontage", no_args_is_help=True)
