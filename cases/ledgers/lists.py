"""问题清单 (problem list) and 会议记录本 (meeting minutes).

The problem list is the community's open problems at the month's end (or now,
for the month in progress):
- the cases of the station's community open then (rows.open_problems), with
  their holder, due time and whether it had passed (超期), and their status
  now (or the day they were closed, when that came later);
- the problems written in the ledger by hand, from any earlier month, not
  solved by then (`solved_on` empty or later), overdue once their due day is
  over.

The meeting minutes are the meetings written in the ledger; a monthly meeting
(月度例会) carries the month's figures from the data (rows.month_figures).
When the month has no monthly meeting yet, a row for it is printed with the
figures filled in and the rest left to write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.ledgers.kinds import LedgerKind
from cases.ledgers.manual import Entry, mask_personal
from cases.ledgers.rows import month_figures, open_problems
from cases.ledgers.sheet import Column, Context, Ledger, day_end, fmt_date, fmt_dt, local, scrub
from cases.ledgers.vocab import status_label

PROBLEM_COLUMNS = (
    Column("no", "序号", 6),
    Column("origin", "来源", 8),
    Column("ref", "编号", 10),
    Column("problem", "问题", 26),
    Column("place", "位置", 30),
    Column("detail", "情况及措施", 40),
    Column("holder", "责任人", 18),
    Column("found", "发现日期", 12),
    Column("due", "办理时限", 17),
    Column("overdue", "是否超期", 8),
    Column("status", "状态", 10),
)

MEETING_COLUMNS = (
    Column("no", "序号", 6),
    Column("date", "日期", 12),
    Column("time", "时间", 8),
    Column("meeting", "会议类型", 10),
    Column("place", "地点", 16),
    Column("host", "主持人", 10),
    Column("attendees", "参会人员", 24),
    Column("figures", "本月数据", 24),
    Column("topics", "议题", 36),
    Column("decisions", "决定事项", 36),
    Column("follow_ups", "后续跟进", 30),
)
MONTHLY = "月度例会"


def _place(grid: str | None, address: str | None) -> str:
    parts = [f"网格 {grid}" if grid else "", scrub(address)]
    return "；".join(p for p in parts if p)


def _case_problem(ctx: Context, c: Any) -> dict[str, Any]:
    _, subclass = ctx.subclass(c.subclass_code)
    overdue = c.due_at is not None and c.due_at < ctx.as_of
    return {
        "origin": "案件",
        "ref": str(c.id),
        "problem": subclass,
        "place": _place(c.grid_code, c.address),
        "detail": scrub(c.description),
        "holder": ctx.officer(c.officer_code),
        "found": fmt_date(c.reported_at),
        "due": fmt_dt(c.due_at),
        "overdue": "" if c.due_at is None else ("是" if overdue else "否"),
        "status": (f"已于 {fmt_date(c.closed_at)} 结案" if c.closed_at else status_label(c.status)),
        "case_id": int(c.id),
        "_sort": local(c.reported_at).replace(tzinfo=None),
    }


def _manual_problem(ctx: Context, e: Entry) -> dict[str, Any]:
    f = e.fields
    due = datetime.fromisoformat(f["due_date"]).date() if f.get("due_date") else None
    holder = "；".join(h for h in (ctx.officer(f.get("officer_code")), f.get("holder", "")) if h)
    return {
        "origin": "登记",
        "ref": f"登记{e.entry_id}",
        "problem": scrub(f["problem"]),
        "place": scrub(f.get("place")),
        "detail": scrub(f.get("measures")),
        "holder": holder,
        "found": fmt_date(e.date),
        "due": fmt_date(due),
        "overdue": "" if due is None else ("是" if day_end(due) <= ctx.as_of else "否"),
        "status": "未解决",
        "entry_id": e.entry_id,
        "_sort": datetime.combine(e.date, datetime.min.time()),
    }


def _still_open(ctx: Context, e: Entry) -> bool:
    solved = e.fields.get("solved_on")
    return solved is None or datetime.fromisoformat(solved).date() > ctx.last_day


def problem_list(ctx: Context, problems: list[Entry]) -> Ledger:
    """The community's open problems at the month's end (see the module's rules)."""
    cases = open_problems(ctx.conn, ctx.place.community_code, ctx.as_of)
    ctx.load_officers(
        {c.officer_code for c in cases} | {e.fields.get("officer_code") for e in problems}
    )
    rows = [_case_problem(ctx, c) for c in cases]
    rows.extend(_manual_problem(ctx, e) for e in problems if _still_open(ctx, e))
    rows.sort(key=lambda r: (r["_sort"], r["origin"], r.get("case_id") or r.get("entry_id")))
    for row in rows:
        del row["_sort"]
    notes = [f"截至 {fmt_dt(ctx.as_of)} 尚未办结的问题"]
    return ctx.ledger(LedgerKind.PROBLEM_LIST, PROBLEM_COLUMNS, rows, notes)


def _meeting(e: Entry, personal: bool, figures: str) -> dict[str, Any]:
    f = e.fields
    shown = mask_personal(e.personal, personal)
    return {
        "date": fmt_date(e.date),
        "time": f.get("time") or "",
        "meeting": f["meeting"],
        "place": scrub(f.get("place")),
        "host": shown.get("host") or "",
        "attendees": "、".join(shown.get("attendees") or []),
        "figures": figures if f["meeting"] == MONTHLY else "",
        "topics": scrub(f.get("topics")),
        "decisions": scrub(f.get("decisions")),
        "follow_ups": scrub(f.get("follow_ups")),
        "entry_id": e.entry_id,
    }


def meeting_minutes(ctx: Context, meetings: list[Entry]) -> Ledger:
    """The month's meetings; the monthly meeting with the month's figures."""
    figures = month_figures(ctx.conn, ctx.place.code, ctx.month, ctx.as_of)
    text = figures.as_text()
    rows = [_meeting(e, ctx.personal, text) for e in meetings]
    if not any(r["meeting"] == MONTHLY for r in rows):
        blank = {c.key: "" for c in MEETING_COLUMNS if c.key != "no"}
        rows.append({**blank, "meeting": MONTHLY, "figures": text, "entry_id": None})
    notes = [
        "本月数据由系统按案件统计：受理为本月受理的案件，结案为本月结案的案件，"
        "超期为本月到期而未按时结案的案件"
    ]
    return ctx.ledger(
        LedgerKind.MEETING_MINUTES,
        MEETING_COLUMNS,
        rows,
        notes,
        {"intake": figures.intake, "closed": figures.closed, "overdue": figures.overdue},
    )
