"""The five ledgers (台账) every station keeps: their codes, Chinese titles and
order, and which of them take manual entries.
"""

from __future__ import annotations

import re
from enum import StrEnum

from cases.errors import InvalidInput


class LedgerKind(StrEnum):
    """A ledger's code (used in URLs and on the command line)."""

    WORK_LOG = "work_log"
    PROBLEM_LIST = "problem_list"
    MEETING_MINUTES = "meeting_minutes"
    CASE_REGISTER = "case_register"
    PETITION_REGISTER = "petition_register"


TITLES: dict[LedgerKind, str] = {
    LedgerKind.WORK_LOG: "工作日志",
    LedgerKind.PROBLEM_LIST: "问题清单",
    LedgerKind.MEETING_MINUTES: "会议记录本",
    LedgerKind.CASE_REGISTER: "案件登记本",
    LedgerKind.PETITION_REGISTER: "信访诉求工作登记本",
}
"""Code → title, in the order the ledgers are kept (and exported)."""

MANUAL_KINDS = (
    LedgerKind.WORK_LOG,
    LedgerKind.PROBLEM_LIST,
    LedgerKind.MEETING_MINUTES,
    LedgerKind.PETITION_REGISTER,
)
"""Ledgers that take manual entries. The case register is the cases themselves:
a case enters it through intake, never by hand."""

_BY_TITLE = {title: kind for kind, title in TITLES.items()}


def parse_kind(value: str, field: str = "kind") -> LedgerKind:
    """A ledger from its code or its Chinese title; InvalidInput naming `field` otherwise."""
    text = value.strip() if isinstance(value, str) else ""
    if text in _BY_TITLE:
        return _BY_TITLE[text]
    try:
        return LedgerKind(text)
    except ValueError:
        known = ", ".join(f"{k.value} ({t})" for k, t in TITLES.items())
        raise InvalidInput(
            f"unknown ledger {text[:40]!r}; the ledgers are {known}", field=field
        ) from None


def file_name(station_code: str, month_label: str, kind: LedgerKind) -> str:
    """The export's file name: station, month, order and title, e.g.
    `ST440703001001_2018-03_1_工作日志.xlsx` (sorts in the ledgers' order)."""
    order = list(TITLES).index(kind) + 1
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", station_code)
    return f"{safe}_{month_label}_{order}_{TITLES[kind]}.xlsx"
