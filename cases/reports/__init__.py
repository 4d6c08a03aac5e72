"""Reports of the case workflow: the monthly meeting report (月度例会报告).

`build_monthly_report` gathers a finished month's figures for a station, a
squad or the district (indicators with month-on-month and year-on-year,
problems by class, recurring problems, overdue and escalated cases, duty
compliance, hot spots); `render_html` makes the print-friendly zh-CN page
(Jinja2, autoescaped; the map offline and inline), `write_xlsx` the
print-ready workbook; `export_monthly_report` writes both.

Modules: `month` (finished months only), `data` (the queries), `extras`
(duty compliance, hot spots and their map), `build`, `html` (and
templates/monthly.html.j2), `xlsx`, `export`.
"""

from cases.reports.build import MonthlyReport, build_monthly_report, check_report_scope
from cases.reports.export import export_monthly_report, save_report
from cases.reports.html import render_html
from cases.reports.month import MalformedMonth, parse_report_month
from cases.reports.xlsx import write_xlsx

__all__ = [
    "MalformedMonth",
    "MonthlyReport",
    "build_monthly_report",
    "check_report_scope",
    "export_monthly_report",
    "parse_report_month",
    "render_html",
    "save_report",
    "write_xlsx",
]
