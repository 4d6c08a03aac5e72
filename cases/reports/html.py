"""The monthly report as one HTML page (zh-CN, A4, print-friendly, offline).

Rendered with Jinja2, autoescape on for every value: a resident's description
or a place name carrying markup stays text. The hot-spot map is a complete
offline page (every asset inline) embedded with `<iframe srcdoc>`, its text
escaped like any other value, so the report is one file with no network
needed; a table of the hot grids stands beside it for paper.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from cases.ledgers.sheet import fmt_dt
from cases.reports.build import MonthlyReport

TEMPLATES = Path(__file__).resolve().parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt_value(value: Any, unit: str = "") -> str:
    """A figure for people: — for none, 93.72% for rates, 1,234 for counts."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.2f}%"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_change(this: Any, base: Any, unit: str = "") -> str:
    """The change from `base` to `this`: +3（+12.5%）, or +1.25 个百分点 for rates."""
    if this is None or base is None:
        return "—"
    diff = this - base
    if unit == "%":
        return f"{diff:+.2f} 个百分点"
    shown = f"{diff:+,.2f}" if isinstance(diff, float) else f"{diff:+,}"
    if unit in ("件", "次") and base:
        return f"{shown}（{100.0 * diff / base:+.1f}%）"
    return shown


def fmt_time(value: datetime | None) -> str:
    """A local time to the minute, or empty."""
    return fmt_dt(value)


_env.filters["value"] = fmt_value
_env.filters["change"] = fmt_change
_env.filters["time"] = fmt_time


def render_html(report: MonthlyReport) -> str:
    """The report's page."""
    unit_keys = (
        "received",
        "due",
        "closed",
        "closure_rate",
        "on_time_closure_rate",
        "disposal_rate",
        "rework_rate",
        "avg_handling_hours",
        "escalated",
        "reply_on_time_rate",
        "satisfaction_rate",
    )
    from cases.indicators import BY_KEY

    return _env.get_template("monthly.html.j2").render(
        r=report,
        unit_columns=[BY_KEY[k] for k in unit_keys],
        generated=fmt_dt(report.generated_at),
        last_day=report.month.next_first_day - timedelta(days=1),
    )
