"""The print-ready .xlsx of a ledger (XlsxWriter): one writer for all five.

The sheet, named after the ledger, has a heading row (station, ledger,
month), a row of notes, then the Chinese column headers and the rows. For
printing: A4 (`set_paper(9)`), landscape when the columns are wider than a
portrait page, fit to one page wide and as many long as needed
(`fit_to_pages(1, 0)`), the three top rows repeated on every page, and
"第 n 页 / 共 m 页" in the footer; the header row is frozen on screen.

Column widths: XlsxWriter's `autofit` counts a CJK character as one narrow
character, so widths are measured here by display width
(`unicodedata.east_asian_width`: W and F count 2, the rest 1), the longest
line of the header and of every cell, capped per column (`Column.cap`); text
longer than its column wraps, and each row is made tall enough for its
wrapped lines. Text is always written as text, never as a formula.
"""

from __future__ import annotations

import io
import math
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import xlsxwriter

from cases.ledgers.sheet import Ledger, fmt_dt

A4 = 9
PORTRAIT_WIDTH = 95
"""Column width units that fit across an A4 portrait page at 100% (the rest: landscape)."""
PADDING = 2
MIN_WIDTH = 4
LINE_HEIGHT = 15.0
HEADER_ROWS = 3
"""Heading, notes, column headers: repeated on every printed page."""
FOOTER = "&C第 &P 页 / 共 &N 页"
EMPTY = "本月无记录"


def display_width(text: str) -> int:
    """How many narrow columns a line takes: W/F (CJK, full-width) count 2."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if unicodedata.east_asian_width(ch) in ("W", "F"))


@lru_cache(maxsize=16384)
def _line_widths(text: str) -> tuple[int, ...]:
    """The display width of each line of `text` (cells repeat: cached)."""
    return tuple(display_width(line) for line in text.split("\n"))


def text_width(text: str) -> int:
    """The display width of the widest line of `text`."""
    return max(_line_widths(text))


def printed_lines(text: str, width: float) -> int:
    """How many printed lines `text` takes in a column of `width` (after wrapping)."""
    usable = max(width - PADDING, 1)
    return sum(max(1, math.ceil(w / usable)) for w in _line_widths(text))


def print_setup(sheet: Any, widths: list[float]) -> None:
    """A4, portrait unless the columns need landscape, fit to the page's width, the
    header rows repeated on every page, page numbers, the header frozen on screen:
    the print form of every sheet the bureau files (ledgers and the monthly report)."""
    sheet.set_paper(A4)
    if sum(widths) > PORTRAIT_WIDTH:
        sheet.set_landscape()
    else:
        sheet.set_portrait()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0, HEADER_ROWS - 1)
    sheet.set_footer(FOOTER)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.7)
    sheet.center_horizontally()
    sheet.freeze_panes(HEADER_ROWS, 0)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def column_widths(ledger: Ledger) -> list[float]:
    """Each column's width: its longest line (header or cell), capped, plus padding."""
    widths = []
    for col in ledger.columns:
        longest = max(
            [text_width(col.label)] + [text_width(_cell(r.get(col.key))) for r in ledger.rows]
        )
        widths.append(
            float(max(MIN_WIDTH, min(longest, max(col.cap, text_width(col.label)))) + PADDING)
        )
    return widths


def write_xlsx(ledger: Ledger, exported_at: datetime | None = None) -> bytes:
    """The ledger as a print-ready .xlsx workbook (bytes; nothing touches the disk)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    book.set_properties(
        {"title": ledger.heading, "subject": ledger.title, "author": "community-grid"}
    )
    sheet = book.add_worksheet(ledger.title)
    heading = book.add_format(
        {"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"}
    )
    notes = book.add_format(
        {"font_size": 10, "align": "left", "valign": "vcenter", "text_wrap": True}
    )
    header = book.add_format(
        {
            "bold": True,
            "align": "center",
            "valign": "vcenter",
            "text_wrap": True,
            "border": 1,
            "bg_color": "#D9D9D9",
        }
    )
    body = book.add_format({"valign": "top", "text_wrap": True, "border": 1})
    number = book.add_format({"valign": "top", "align": "center", "border": 1})

    widths = column_widths(ledger)
    last = len(ledger.columns) - 1
    for i, width in enumerate(widths):
        sheet.set_column(i, i, width)
    sheet.merge_range(0, 0, 0, last, ledger.heading, heading)
    sheet.set_row(0, 28)
    when = fmt_dt(exported_at or datetime.now(UTC))
    note = "；".join(
        [
            f"服务站：{ledger.station_name}（{ledger.station_code}）",
            f"月份：{ledger.month_title}",
            *ledger.notes,
            f"导出时间：{when}",
        ]
    )
    sheet.merge_range(1, 0, 1, last, note, notes)
    sheet.set_row(1, LINE_HEIGHT * printed_lines(note, sum(widths)))
    for i, col in enumerate(ledger.columns):
        sheet.write_string(2, i, col.label, header)
    label_lines = (printed_lines(c.label, w) for c, w in zip(ledger.columns, widths, strict=True))
    sheet.set_row(2, LINE_HEIGHT * max(label_lines))

    row = HEADER_ROWS
    for record in ledger.rows:
        lines = 1
        for i, col in enumerate(ledger.columns):
            value = record.get(col.key)
            if isinstance(value, int) and not isinstance(value, bool):
                sheet.write_number(row, i, value, number)
            elif value is None or value == "":
                sheet.write_blank(row, i, None, body)
            else:
                text = _cell(value)
                sheet.write_string(row, i, text, body)
                lines = max(lines, printed_lines(text, widths[i]))
        sheet.set_row(row, LINE_HEIGHT * lines)
        row += 1
    if not ledger.rows:
        sheet.merge_range(row, 0, row, last, EMPTY, body)

    print_setup(sheet, widths)
    book.close()
    return buffer.getvalue()
