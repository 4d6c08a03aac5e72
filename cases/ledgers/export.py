"""Exporting a station's five ledgers of a month as .xlsx files.

Everything is built before anything is written: the five ledgers from one
snapshot (cases.ledgers.build), then the five workbooks in memory. Only then
are the files written, all five to hidden temporary names in the target
directory, and then renamed into place, so a reader never sees half a file
and an earlier export stays whole until the new one is complete; if a write
fails, the temporary files are removed and the error is raised.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.errors import InvalidInput
from cases.ledgers.build import build_ledger, build_ledgers
from cases.ledgers.kinds import LedgerKind, file_name
from cases.ledgers.month import Month
from cases.ledgers.xlsx import write_xlsx
from gis.settings import Settings


def _target_dir(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"{out_dir} is a file, not a directory", field="out")
    return out_dir


def export_ledgers(
    engine: Engine,
    station_code: str,
    month: Month,
    out_dir: Path,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """Write the station's five ledgers of `month` into `out_dir` (made when
    missing) as .xlsx files; returns their paths, in the ledgers' order.

    NotFound for an unknown station, Forbidden outside the principal's scope,
    InvalidInput when `out_dir` is a file; OSError when the disk refuses.
    """
    out_dir = _target_dir(Path(out_dir))
    now = now or datetime.now(UTC)
    ledgers = build_ledgers(
        engine, station_code, month, principal=principal, settings=settings, now=now
    )
    books = [(file_name(lg.station_code, lg.month, lg.kind), write_xlsx(lg, now)) for lg in ledgers]
    out_dir.mkdir(parents=True, exist_ok=True)
    temps: list[tuple[Path, Path]] = []
    try:
        for name, data in books:
            temp = out_dir / f".{name}.{os.getpid()}.tmp"
            temps.append((temp, out_dir / name))
            temp.write_bytes(data)
    except OSError:
        for temp, _ in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    for temp, final in temps:
        os.replace(temp, final)
    return [final for _, final in temps]


def ledger_xlsx(
    engine: Engine,
    station_code: str,
    kind: str | LedgerKind,
    month: Month,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> tuple[str, bytes]:
    """One ledger as a print-ready .xlsx: (file name, workbook bytes), for a download."""
    now = now or datetime.now(UTC)
    ledger = build_ledger(
        engine, station_code, kind, month, principal=principal, settings=settings, now=now
    )
    return file_name(ledger.station_code, ledger.month, ledger.kind), write_xlsx(ledger, now)
