"""Commands: `grid ledger`: the five ledgers (台账) of a station.

`grid ledger export --station CODE --month YYYY-MM --out DIR` is a stable
interface that other tools call: it writes the station's five ledgers of the
month as .xlsx files into DIR (made when missing) and prints their paths, one
per line, in the ledgers' order. Nothing is written unless all five are made.

Exit codes: 0 done; 1 the input failed its checks (an unknown station or
ledger, a month in the future or before 2000, fields a ledger does not take,
a stale version); 2 usage (a malformed month or date, bad JSON, an --out that
is a file); 3 database unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

ledger_app = typer.Typer(
    help="The five ledgers (台账) of a station: show, add entries, export .xlsx.",
    no_args_is_help=True,
)
T = TypeVar("T")

_KIND_HELP = (
    "work_log (工作日志) | problem_list (问题清单) | meeting_minutes (会议记录本) | "
    "case_register (案件登记本) | petition_register (信访诉求工作登记本)"
)
_MONTH_HELP = "YYYY-MM, e.g. 2018-03 (Asia/Shanghai)"


def _run(call: Callable[[], T]) -> T:
    """Call a domain function; a malformed month is a usage error (2), other
    domain errors exit 1 with the message."""
    from cases.errors import DomainError
    from cases.ledgers import MalformedMonth
    from gridcli.common import fail

    try:
        return call()
    except DomainError as exc:
        where = f"{exc.field}: " if exc.field else ""
        raise fail(f"{where}{exc.message}", 2 if isinstance(exc, MalformedMonth) else 1) from None


def _month(text: str) -> Any:
    from cases.ledgers import parse_month

    return _run(lambda: parse_month(text))


def _day(text: str | None, option: str) -> date | None:
    from gridcli.common import fail

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date; write YYYY-MM-DD", 2) from None


def _fields(raw: str | None, pairs: list[str] | None) -> dict[str, Any] | None:
    """The entry's fields from --fields (a JSON object) and --set key=value
    (a value starting with [ or { is read as JSON)."""
    from gridcli.common import fail

    if raw is None and not pairs:
        return None
    fields: dict[str, Any] = {}
    if raw is not None:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise fail(f"--fields: not JSON ({exc.msg} at column {exc.colno})", 2) from None
        if not isinstance(parsed, dict):
            raise fail('--fields: give a JSON object, e.g. \'{"text": "..."}\'', 2)
        fields.update(parsed)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--set: {pair!r} is not key=value", 2)
        if value.lstrip().startswith(("[", "{")):
            try:
                fields[key.strip()] = json.loads(value)
                continue
            except json.JSONDecodeError:
                raise fail(f"--set {key}: the value is not JSON", 2) from None
        fields[key.strip()] = value
    return fields


def _print(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False))


Station = Annotated[str, typer.Option("--station", help="station code, e.g. ST440703001001")]
Kind = Annotated[str, typer.Option("--kind", help=_KIND_HELP)]
MonthOpt = Annotated[str, typer.Option("--month", help=_MONTH_HELP)]
FieldsOpt = Annotated[
    str | None, typer.Option("--fields", help="the entry's fields as a JSON object")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="one field as key=value (repeatable)")
]


@ledger_app.command("export")
def export(
    station: Station,
    month: MonthOpt,
    out: Annotated[Path, typer.Option("--out", help="directory for the .xlsx files")],
) -> None:
    """Write the station's five ledgers of the month as .xlsx; print their paths."""
    from cases.ledgers import export_ledgers
    from gridcli.common import checked_engine, fail

    if out.exists() and not out.is_dir():
        raise fail(f"--out: {out} is a file, not a directory", 2)
    which = _month(month)
    engine = checked_engine()
    try:
        paths = _run(lambda: export_ledgers(engine, station, which, out))
    except OSError as exc:
        raise fail(f"--out: cannot write in {out}: {exc.strerror}", 1) from None
    for path in paths:
        print(path)


@ledger_app.command("show")
def show(station: Station, kind: Kind, month: MonthOpt) -> None:
    """Print one ledger of the station's month as JSON (columns and rows)."""
    from cases.ledgers import build_ledger
    from gridcli.common import checked_engine

    which = _month(month)
    ledger = _run(lambda: build_ledger(checked_engine(), station, kind, which))
    _print(ledger.as_dict())


@ledger_app.command("add")
def add(
    station: Station,
    kind: Kind,
    day: Annotated[str, typer.Option("--date", help="the entry's date, YYYY-MM-DD")],
    fields: FieldsOpt = None,
    pairs: SetOpt = None,
) -> None:
    """Write a manual entry in a ledger (not the case register); print it as JSON.

    Fields per ledger: work_log text, time, officer_code; problem_list
    problem, place, holder, officer_code, measures, due_date, solved_on;
    meeting_minutes meeting, time, place, host, attendees (JSON list), topics,
    decisions, follow_ups; petition_register time, channel, name, phone,
    subclass, content, place, reply_due, replied_on, reply.
    """
    from cases.ledgers import EntryIn, add_entry
    from gridcli.common import checked_engine, fail

    data = _fields(fields, pairs)
    if data is None:
        raise fail("give the entry's fields: --fields JSON or --set key=value", 2)
    when = _day(day, "--date")
    entry = _run_model(lambda: EntryIn.model_validate({"date": when, "fields": data}))
    view = _run(lambda: add_entry(checked_engine(), station, kind, entry))
    _print(view.as_dict())


@ledger_app.command("revise")
def revise(
    entry_id: Annotated[int, typer.Argument(help="the entry's id")],
    station: Station,
    kind: Kind,
    version: Annotated[int, typer.Option("--version", help="the version being corrected")],
    reason: Annotated[str, typer.Option("--reason", help="why it is corrected")],
    day: Annotated[str | None, typer.Option("--date", help="a new date, YYYY-MM-DD")] = None,
    fields: FieldsOpt = None,
    pairs: SetOpt = None,
    withdraw: Annotated[bool, typer.Option("--withdraw", help="take it out of the ledger")] = False,
) -> None:
    """Correct (all fields again) or withdraw an entry: a new version; print it as JSON."""
    from cases.ledgers import RevisionIn, revise_entry
    from gridcli.common import checked_engine

    data = _fields(fields, pairs)
    when = _day(day, "--date")
    revision = _run_model(
        lambda: RevisionIn(
            version=version, date=when, fields=data, withdrawn=withdraw, reason=reason
        )
    )
    view = _run(lambda: revise_entry(checked_engine(), station, kind, entry_id, revision))
    _print(view.as_dict())


@ledger_app.command("entries")
def entries(
    station: Station,
    kind: Kind,
    month: MonthOpt,
    history: Annotated[bool, typer.Option("--history", help="every version")] = False,
) -> None:
    """The manual entries of a ledger in a month, one JSON object per line."""
    from cases.ledgers import list_entries
    from gridcli.common import checked_engine

    which = _month(month)
    found = _run(lambda: list_entries(checked_engine(), station, kind, which, history=history))
    for view in found:
        _print(view.as_dict())


def _run_model(call: Callable[[], T]) -> T:
    """Build an input model; its first error exits 1, `field: message`."""
    from pydantic import ValidationError

    from gridcli.common import fail

    try:
        return call()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise fail(f"{where}: {message}" if where else message) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `grid` app."""
    app.add_typer(ledger_app, name="ledger")
