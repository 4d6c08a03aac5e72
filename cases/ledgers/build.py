"""Building a station's ledgers for a month, from the data and the manual entries.

`build_ledgers` builds all five in one read-only REPEATABLE READ transaction,
so they agree with each other (one snapshot); `build_ledger` builds one. Both
check the station (NotFound) and the caller's scope (Forbidden: an officer
its station, a squad leader its squad's stations, the bureau everywhere).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.ledgers.kinds import TITLES, LedgerKind, parse_kind
from cases.ledgers.lists import meeting_minutes, problem_list
from cases.ledgers.manual import Entry, month_entries, personal_shown
from cases.ledgers.month import Month
from cases.ledgers.registers import case_register, petition_register
from cases.ledgers.rows import month_cases
from cases.ledgers.sheet import Context, Ledger
from cases.ledgers.worklog import work_log
from cases.stations.places import check_place, station_place
from gis.settings import Settings, get_settings

EARLIEST_DAY = date(2000, 1, 1)


@contextmanager
def _context(
    engine: Engine,
    station_code: str,
    month: Month,
    principal: Principal | None,
    settings: Settings | None,
    now: datetime | None,
) -> Iterator[Context]:
    settings = settings or get_settings()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            place = station_place(conn, station_code, "station")
            check_place(principal, place, "read the ledgers")
            yield Context(
                conn=conn,
                place=place,
                month=month,
                now=now or datetime.now(UTC),
                settings=settings,
                catalogue=load_catalogue(settings.data_dir / CATALOGUE_FILE),
                calendar=load_calendar(settings.data_dir),
                personal=personal_shown(principal),
            )


def _build(ctx: Context, kinds: list[LedgerKind]) -> list[Ledger]:
    month = ctx.month
    entries = month_entries(
        ctx.conn,
        ctx.place.code,
        [k for k in kinds if k is not LedgerKind.CASE_REGISTER],
        EARLIEST_DAY,
        month.next_first_day,
        ctx.settings,
    )

    def of(kind: LedgerKind, since: date = month.first_day) -> list[Entry]:
        return [e for e in entries if e.kind == kind.value and e.date >= since]

    cases = (
        month_cases(ctx.conn, ctx.place.code, month)
        if LedgerKind.CASE_REGISTER in kinds or LedgerKind.PETITION_REGISTER in kinds
        else []
    )
    out = []
    for kind in kinds:
        if kind is LedgerKind.WORK_LOG:
            out.append(work_log(ctx, of(kind)))
        elif kind is LedgerKind.PROBLEM_LIST:
            out.append(problem_list(ctx, of(kind, EARLIEST_DAY)))
        elif kind is LedgerKind.MEETING_MINUTES:
            out.append(meeting_minutes(ctx, of(kind)))
        elif kind is LedgerKind.CASE_REGISTER:
            out.append(case_register(ctx, cases))
        else:
            out.append(petition_register(ctx, cases, of(kind)))
    return out


def build_ledgers(
    engine: Engine,
    station_code: str,
    month: Month,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[Ledger]:
    """The five ledgers of a station and month, in their order, from one snapshot."""
    with _context(engine, station_code, month, principal, settings, now) as ctx:
        return _build(ctx, list(TITLES))


def build_ledger(
    engine: Engine,
    station_code: str,
    kind: str | LedgerKind,
    month: Month,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Ledger:
    """One ledger of a station and month (InvalidInput for an unknown ledger)."""
    ledger = parse_kind(str(kind))
    with _context(engine, station_code, month, principal, settings, now) as ctx:
        return _build(ctx, [ledger])[0]
