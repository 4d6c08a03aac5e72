"""案件登记本 (case register) and 信访诉求工作登记本 (petition and request register).

The case register is every case of the station received in the month, in
order: number, received time, source, class and subclass, place (grid and
address), description, tier, holder, due time, status and closing time.

The petition register is the residents' requests among them (every source
but the bureau's own findings, vocab.INTERNAL_SOURCES) and the requests
taken at the station by hand (manual entries: walk-in, phone, letter), each
with its reply deadline (答复时限: the subclass's reply limit from receipt on
the working calendar, cases.calendar; a manual entry may set its own) and
where the reply stands now:
- 已答复 / 已答复（超时）: answered (the first event of vocab.REPLY_EVENTS, or
  the closing time; for a manual entry its `replied_on`), in time or late;
- 逾期未答复: not answered and the deadline has passed;
- 待答复: not answered, still in time.
Names and phones are masked (138****5678), and left out for analysts.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np

from cases.calendar import TimeLimit, limit_arrays
from cases.catalogue import DEFAULT_REPLY_LIMIT
from cases.errors import InvalidInput
from cases.ledgers.kinds import LedgerKind
from cases.ledgers.manual import Entry, mask_personal
from cases.ledgers.sheet import Column, Context, Ledger, day_end, fmt_date, fmt_dt, local, scrub
from cases.ledgers.vocab import INTERNAL_SOURCES, source_label, status_label, tier_label
from cases.stations.weeks import LOCAL_TZ
from gis.privacy import decrypt

CASE_COLUMNS = (
    Column("no", "序号", 6),
    Column("case_id", "案件编号", 10),
    Column("received", "受理时间", 17),
    Column("source", "来源", 12),
    Column("class", "大类", 10),
    Column("subclass", "小类", 14),
    Column("grid", "网格", 16),
    Column("address", "地址", 24),
    Column("description", "问题描述", 36),
    Column("tier", "分级", 6),
    Column("holder", "责任人", 16),
    Column("due", "办理时限", 17),
    Column("status", "状态", 8),
    Column("closed", "结案时间", 17),
)

PETITION_COLUMNS = (
    Column("no", "序号", 6),
    Column("ref", "编号", 10),
    Column("received", "受理时间", 17),
    Column("channel", "渠道", 12),
    Column("name", "反映人", 8),
    Column("phone", "联系电话", 13),
    Column("content", "诉求内容", 40),
    Column("place", "地点", 24),
    Column("reply_due", "答复时限", 17),
    Column("reply_status", "答复情况", 14),
    Column("replied", "答复时间", 17),
    Column("result", "办理结果", 24),
)
MASK_NOTE = "个人信息已脱敏"


def _utc64(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "us")


def _from64(value: np.datetime64) -> datetime | None:
    if np.isnat(value):
        return None
    micros = int(value.astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _reply_limit(ctx: Context, code: str | None) -> TimeLimit:
    if not code:
        return DEFAULT_REPLY_LIMIT
    try:
        return ctx.catalogue.subclass(code).reply_limit
    except InvalidInput:
        return DEFAULT_REPLY_LIMIT


def _deadlines(
    ctx: Context, starts: list[datetime], codes: list[str | None]
) -> list[datetime | None]:
    """Reply deadlines of many requests at once (the working calendar, vectorised)."""
    if not starts:
        return []
    amounts, in_days = limit_arrays([_reply_limit(ctx, c) for c in codes])
    found = ctx.calendar.deadline_many(
        np.array([_utc64(s) for s in starts], dtype="datetime64[us]"), amounts, in_days
    )
    return [_from64(v) for v in found.at]


def _reply_status(replied: datetime | None, due: datetime | None, now: datetime) -> str:
    if replied is not None:
        return "已答复（超时）" if due is not None and replied > due else "已答复"
    if due is not None and due < now:
        return "逾期未答复"
    return "待答复"


def _place(grid: str | None, address: str | None) -> str:
    parts = [f"网格 {grid}" if grid else "", scrub(address)]
    return "；".join(p for p in parts if p)


def case_register(ctx: Context, cases: list[Any]) -> Ledger:
    """Every case of the station received in the month."""
    ctx.load_officers({c.officer_code for c in cases})
    rows = []
    for c in cases:
        class_name, subclass = ctx.subclass(c.subclass_code)
        rows.append(
            {
                "case_id": int(c.id),
                "received": fmt_dt(c.reported_at),
                "source": source_label(c.source),
                "class": class_name,
                "subclass": subclass,
                "grid": c.grid_code or "",
                "address": scrub(c.address),
                "description": scrub(c.description),
                "tier": tier_label(c.tier),
                "holder": ctx.officer(c.officer_code),
                "due": fmt_dt(c.due_at),
                "status": status_label(c.status),
                "closed": fmt_dt(c.closed_at),
            }
        )
    return ctx.ledger(LedgerKind.CASE_REGISTER, CASE_COLUMNS, rows, [MASK_NOTE])


def _received(e: Entry) -> datetime:
    at = e.fields.get("time")
    clock = time.fromisoformat(at) if at else time(0)
    return datetime.combine(e.date, clock, LOCAL_TZ)


def petition_register(ctx: Context, cases: list[Any], walk_ins: list[Entry]) -> Ledger:
    """Residents' requests of the month, with reply deadlines and where the replies stand."""
    requests = [c for c in cases if c.source not in INTERNAL_SOURCES]
    manual_due = [e for e in walk_ins if not e.fields.get("reply_due")]
    due = _deadlines(
        ctx,
        [c.reported_at for c in requests] + [_received(e) for e in manual_due],
        [c.subclass_code for c in requests] + [e.fields.get("subclass") for e in manual_due],
    )
    case_due = due[: len(requests)]
    computed = {e.entry_id: d for e, d in zip(manual_due, due[len(requests) :], strict=True)}
    rows: list[dict[str, Any]] = []
    for c, deadline in zip(requests, case_due, strict=True):
        times = [t for t in (c.replied_at, c.closed_at) if t is not None]
        replied = min(times) if times else None
        name, phone = ctx.person(
            decrypt(c.reporter_name_enc, ctx.settings), decrypt(c.reporter_phone_enc, ctx.settings)
        )
        rows.append(
            {
                "ref": str(c.id),
                "received": fmt_dt(c.reported_at),
                "channel": source_label(c.source),
                "name": name,
                "phone": phone,
                "content": scrub(c.description) or ctx.subclass(c.subclass_code)[1],
                "place": _place(c.grid_code, c.address),
                "reply_due": fmt_dt(deadline),
                "reply_status": _reply_status(replied, deadline, ctx.now),
                "replied": fmt_dt(replied),
                "result": status_label(c.status),
                "case_id": int(c.id),
                "_sort": c.reported_at,
            }
        )
    for e in walk_ins:
        f = e.fields
        shown = mask_personal(e.personal, ctx.personal)
        if f.get("reply_due"):
            day = datetime.fromisoformat(f["reply_due"]).date()
            deadline, due_text = day_end(day), fmt_date(day)
        else:
            deadline = computed[e.entry_id]
            due_text = fmt_dt(deadline)
        replied_on = datetime.fromisoformat(f["replied_on"]).date() if f.get("replied_on") else None
        status = _reply_status(
            None if replied_on is None else datetime.combine(replied_on, time(0), LOCAL_TZ),
            deadline,
            ctx.now,
        )
        rows.append(
            {
                "ref": f"登记{e.entry_id}",
                "received": fmt_dt(_received(e)) if f.get("time") else fmt_date(e.date),
                "channel": f["channel"],
                "name": shown.get("name") or "",
                "phone": shown.get("phone") or "",
                "content": scrub(f["content"]),
                "place": scrub(f.get("place")),
                "reply_due": due_text,
                "reply_status": status,
                "replied": fmt_date(replied_on),
                "result": scrub(f.get("reply")),
                "entry_id": e.entry_id,
                "_sort": _received(e),
            }
        )
    rows.sort(key=lambda r: (local(r["_sort"]), r.get("case_id") or 0, r.get("entry_id") or 0))
    for row in rows:
        del row["_sort"]
    return ctx.ledger(LedgerKind.PETITION_REGISTER, PETITION_COLUMNS, rows, [MASK_NOTE])
