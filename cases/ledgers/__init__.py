"""The five ledgers (台账) of a station, per month: built from the data wherever
the data knows it, with manual entries where it does not, and exported as
print-ready .xlsx files.

- 工作日志 (work_log): shifts and check-ins, patrols, work on cases, notes;
- 问题清单 (problem_list): the community's open problems at the month's end;
- 会议记录本 (meeting_minutes): meetings, the monthly one with the month's figures;
- 案件登记本 (case_register): every case of the station received in the month;
- 信访诉求工作登记本 (petition_register): residents' requests and replies.

Modules by concern: `kinds` (the five, their titles), `month` (YYYY-MM in
Asia/Shanghai), `vocab` (statuses, sources, events as printed: the one
mapping that follows the case workflow's vocabulary), `models` (the manual
entries' table), `fields` (what each ledger's entries hold), `manual`
(entries: kept versioned, read back masked), `rows`
(the queries), `sheet` (a ledger as columns and rows, shared formatting),
`worklog`, `lists` (problem list, minutes), `registers` (case and petition
registers), `build` (one station's month, one snapshot), `xlsx` (the
writer) and `export` (the five files).
"""

from cases.ledgers.build import build_ledger, build_ledgers
from cases.ledgers.export import export_ledgers, ledger_xlsx
from cases.ledgers.fields import EntryIn, RevisionIn
from cases.ledgers.kinds import MANUAL_KINDS, TITLES, LedgerKind, parse_kind
from cases.ledgers.manual import EntryView, add_entry, list_entries, revise_entry
from cases.ledgers.month import MalformedMonth, Month, parse_month
from cases.ledgers.sheet import Column, Ledger
from cases.ledgers.xlsx import write_xlsx

__all__ = [
    "MANUAL_KINDS",
    "TITLES",
    "Column",
    "EntryIn",
    "EntryView",
    "Ledger",
    "LedgerKind",
    "MalformedMonth",
    "Month",
    "RevisionIn",
    "add_entry",
    "build_ledger",
    "build_ledgers",
    "export_ledgers",
    "ledger_xlsx",
    "list_entries",
    "parse_kind",
    "parse_month",
    "revise_entry",
    "write_xlsx",
]
