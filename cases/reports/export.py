"""Writing the monthly report: `<out>/<slug>.html` and `<out>/<slug>.xlsx`.

Both are made in memory first; nothing is written unless both are made, and
each file is written to a temporary name beside it and renamed into place,
so a reader never sees half a report.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.ledgers.month import Month
from cases.reports.build import MonthlyReport, build_monthly_report
from cases.reports.html import render_html
from cases.reports.xlsx import write_xlsx
from gis.settings import Settings


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_report(report: MonthlyReport, out_dir: Path) -> tuple[Path, Path]:
    """Write a built report as .html and .xlsx into `out_dir` (made when missing)."""
    html = render_html(report).encode("utf-8")
    xlsx = write_xlsx(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{report.slug}.html"
    xlsx_path = out_dir / f"{report.slug}.xlsx"
    _write(html_path, html)
    _write(xlsx_path, xlsx)
    return html_path, xlsx_path


def export_monthly_report(
    engine: Engine,
    month: str | Month,
    out_dir: Path,
    *,
    station: str | None = None,
    squad: str | None = None,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> tuple[Path, Path]:
    """Build the report (see cases.reports.build) and write it; returns (html, xlsx)."""
    report = build_monthly_report(
        engine, month, station=station, squad=squad, principal=principal, settings=settings
    )
    return save_report(report, out_dir)
