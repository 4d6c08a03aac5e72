"""The monthly report as a print-ready .xlsx (XlsxWriter), one sheet per part.

Every sheet: a heading row (the report's title), a row of notes (place,
month, when made), the Chinese column headers, then the rows; A4, landscape
when the columns are wider than a portrait page, fit to one page wide
(`fit_to_pages(1, 0)`), the three top rows repeated on every printed page,
"第 n 页 / 共 m 页" in the footer, headers frozen on screen. Column widths by
display width (a CJK character counts 2: `cases.ledgers.xlsx.display_width`,
the ledgers' rule, since XlsxWriter's autofit counts it as 1). Numbers are
numbers (rates in percent, two decimals); text is written as text, never as
a formula. The ledgers' writer (cases.ledgers.xlsx) makes one ledger per
book; this one shares its width rule and page set-up constants.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook

from cases.indicators import BY_KEY
from cases.ledgers.sheet import fmt_dt
from cases.ledgers.xlsx import HEADER_ROWS, LINE_HEIGHT, print_setup, printed_lines, text_width
from cases.reports.build import MonthlyReport

PADDING = 2
MIN_WIDTH = 6
NUMBER_FORMATS = ("#,##0", "0.00", "0.0", "0.0000", "+#,##0;-#,##0;0", "+0.00;-0.00;0.00")
"""The number formats a column may name (each is one cell format of the book)."""
EMPTY = "本月无记录"


@dataclass(frozen=True)
class Col:
    """A column: its Chinese header, the widest it may grow, its number format."""

    label: str
    cap: int = 24
    number: str | None = None  # e.g. "0.00", "#,##0"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_dt(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _widths(cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> list[float]:
    out = []
    for i, col in enumerate(cols):
        longest = max([text_width(col.label)] + [text_width(_shown(r[i])) for r in rows])
        out.append(
            float(max(MIN_WIDTH, min(longest, max(col.cap, text_width(col.label))))) + PADDING
        )
    return out


def _sheet(
    book: Workbook,
    name: str,
    heading: str,
    note: str,
    cols: Sequence[Col],
    rows: Sequence[Sequence[Any]],
    styles: dict[str, Any],
) -> None:
    """One part of the report as a sheet (module docs)."""
    sheet = book.add_worksheet(name)
    widths = _widths(cols, rows)
    last = len(cols) - 1
    for i, width in enumerate(widths):
        sheet.set_column(i, i, width)
    sheet.merge_range(0, 0, 0, last, heading, styles["heading"])
    sheet.set_row(0, 28)
    sheet.merge_range(1, 0, 1, last, note, styles["note"])
    sheet.set_row(1, LINE_HEIGHT * printed_lines(note, sum(widths)))
    for i, col in enumerate(cols):
        sheet.write_string(2, i, col.label, styles["header"])
    sheet.set_row(
        2, LINE_HEIGHT * max(printed_lines(c.label, w) for c, w in zip(cols, widths, strict=True))
    )
    for r, record in enumerate(rows, start=HEADER_ROWS):
        lines = 1
        for i, (col, value) in enumerate(zip(cols, record, strict=True)):
            if value is None or value == "":
                sheet.write_blank(r, i, None, styles["text"])
            elif isinstance(value, bool):
                sheet.write_string(r, i, "是" if value else "否", styles["text"])
            elif isinstance(value, int | float):
                fmt = styles[
                    "num:" + (col.number or ("#,##0" if isinstance(value, int) else "0.00"))
                ]
                sheet.write_number(r, i, value, fmt)
            else:
                text = _shown(value)
                sheet.write_string(r, i, text, styles["text"])
                lines = max(lines, printed_lines(text, widths[i]))
        sheet.set_row(r, LINE_HEIGHT * lines)
    if not rows:
        sheet.merge_range(HEADER_ROWS, 0, HEADER_ROWS, last, EMPTY, styles["text"])
    print_setup(sheet, widths)


def _styles(book: Workbook) -> dict[str, Any]:
    base = {"valign": "top", "border": 1}
    styles: dict[str, Any] = {
        "heading": book.add_format(
            {"bold": True, "font_size": 15, "align": "center", "valign": "vcenter"}
        ),
        "note": book.add_format({"font_size": 10, "valign": "vcenter", "text_wrap": True}),
        "header": book.add_format(
            {
                "bold": True,
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
                "border": 1,
                "bg_color": "#D9D9D9",
            }
        ),
        "text": book.add_format({**base, "text_wrap": True}),
    }
    for fmt in NUMBER_FORMATS:
        styles["num:" + fmt] = book.add_format({**base, "align": "right", "num_format": fmt})
    return styles


def _diff(a: Any, b: Any) -> Any:
    return None if a is None or b is None else round(a - b, 2)


def write_xlsx(report: MonthlyReport) -> bytes:
    """The report as .xlsx bytes (nothing touches the disk)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    book.set_properties({"title": report.title, "author": "community-grid"})
    styles = _styles(book)
    note = (
        f"统计范围：{report.name}（{report.code}）；统计月份：{report.month.title}；"
        f"生成时间：{fmt_dt(report.generated_at)}；比率为百分数，平均处置时长为工作小时"
    )
    prev, ago = report.previous.title, report.year_ago.title

    def sheet(
        name: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]], extra: str = ""
    ) -> None:
        text = f"{note}；{extra}" if extra else note
        _sheet(book, name, f"{report.title}·{name}", text, cols, rows, styles)

    def listed(total: int, shown: int, what: str) -> str:
        return f"共 {total} {what}，列出 {shown} {what}" if total > shown else ""

    sheet(
        "指标",
        [
            Col("指标", 16),
            Col("单位", 8),
            Col("本月"),
            Col(f"上月（{prev}）"),
            Col("环比", number="+0.00;-0.00;0.00"),
            Col(f"去年同月（{ago}）"),
            Col("同比", number="+0.00;-0.00;0.00"),
            Col("key", 24),
        ],
        [
            [name, unit, this, p, _diff(this, p), a, _diff(this, a), key]
            for key, name, unit, this, p, a in report.headline
        ],
    )
    unit_keys = [k for k in BY_KEY if k in _UNIT_KEYS]
    sheet(
        f"各{report.unit_label}",
        [Col(report.unit_label, 20), Col("编码", 16)] + [Col(_label(k)) for k in unit_keys],
        [[u.name, u.code] + [u.values[k] for k in unit_keys] for u in report.units],
    )
    sheet(
        "问题分类",
        [
            Col("层级", 6),
            Col("编码", 8),
            Col("名称", 20),
            Col("本月"),
            Col("上月"),
            Col("环比", number="+#,##0;-#,##0;0"),
            Col("环比（%）", number="+0.00;-0.00;0.00"),
            Col("去年同月"),
            Col("同比", number="+#,##0;-#,##0;0"),
            Col("同比（%）", number="+0.00;-0.00;0.00"),
        ],
        [
            [
                "大类" if c.level == "class" else "小类",
                c.code,
                c.name,
                c.this,
                c.previous,
                c.mom,
                c.pct(c.mom, c.previous),
                c.year_ago,
                c.yoy,
                c.pct(c.yoy, c.year_ago),
            ]
            for c in [*report.classes, *report.subclasses]
        ],
    )
    window = report.recurring[0].window if report.recurring else 6
    sheet(
        "倾向性问题",
        [
            Col("网格", 16),
            Col("社区", 16),
            Col("小类编码", 8),
            Col("问题", 20),
            Col(f"近{window}个月出现月数"),
            Col(f"近{window}个月件数"),
            Col("本月件数"),
        ],
        [
            [
                p.grid_code,
                p.community_name,
                p.subclass_code,
                p.subclass_name,
                p.months,
                p.total,
                p.this_month,
            ]
            for p in report.recurring
        ],
        listed(report.recurring_total, len(report.recurring), "处"),
    )
    sheet(
        "上升最快",
        [
            Col("小类编码", 8),
            Col("问题", 20),
            Col("本月"),
            Col("前三个月月均", number="0.0"),
            Col("增加", number="0.0"),
        ],
        [[s.code, s.name, s.this, s.before_mean, s.rise] for s in report.rising],
    )
    case_cols = [
        Col("案件号", 14),
        Col("情形", 22),
        Col("问题", 16),
        Col("网格", 16),
        Col("受理时间", 17),
        Col("处置时限", 17),
        Col("结案时间", 17),
        Col("当前状态", 10),
        Col("当前办理", 18),
        Col("本月升级"),
        Col("描述", 40),
    ]
    if report.personal_data:
        case_cols.append(Col("反映人", 20))
    sheet(
        "超期与升级",
        case_cols,
        [
            [
                str(c["id"]),
                c["kind"],
                c["subclass"],
                c["grid_code"],
                c["reported_at"],
                c["first_due"],
                c["closed_at"] or "未结案",
                c["status"],
                c["holder"],
                c["escalations"],
                c["description"],
            ]
            + ([c.get("reporter", "")] if report.personal_data else [])
            for c in report.overdue
        ],
        listed(report.overdue_total, len(report.overdue), "件"),
    )
    duty_rows: list[list[Any]] = []
    for w in report.compliance.weeks:
        for g in w.groups:
            duty_rows.append(
                [
                    w.week,
                    f"{w.first_day} 至 {w.last_day}",
                    g.station_name or g.squad_code or g.station_code or "",
                    g.officers,
                    g.met,
                    g.short,
                    round(g.hours, 1),
                    round(g.planned_hours, 1),
                ]
            )
    sheet(
        "值守合规",
        [
            Col("周", 9),
            Col("日期", 24),
            Col("中队" if report.kind == "district" else "服务站", 20),
            Col("驻站队员"),
            Col("达标"),
            Col("未达标"),
            Col("值守小时", number="0.0"),
            Col("排班小时", number="0.0"),
        ],
        duty_rows,
    )
    sheet(
        "热点网格",
        [
            Col("网格", 16),
            Col("本月件数"),
            Col("Gi* z 值"),
            Col("校正后 p 值", number="0.0000"),
            Col("类别", 20),
        ],
        [
            [h["grid_code"], h["count"], h["gi_z"], h["p_value"], h["label"]]
            for h in report.hotspots.rows
        ],
        listed(report.hotspots.total, len(report.hotspots.rows), "个"),
    )
    book.close()
    return buffer.getvalue()


_UNIT_KEYS = (
    "received",
    "due",
    "closed",
    "closed_on_time",
    "closure_rate",
    "on_time_closure_rate",
    "disposal_rate",
    "rework_rate",
    "avg_handling_hours",
    "escalated",
    "reply_on_time_rate",
    "satisfaction_rate",
)


def _label(key: str) -> str:
    ind = BY_KEY[key]
    return f"{ind.name}（{ind.unit}）"
