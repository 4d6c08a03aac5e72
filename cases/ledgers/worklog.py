"""工作日志 (work log): a station's month, day by day.

Rows, by day and time:
- 值守: each live shift that starts that day, with its check-in and check-out
  times; a check that does not count (far outside, or without a location) is
  noted with why;
- 巡查: each patrol, with the length of its track, the grids it passed
  through, its coverage of the community, and its findings with their cases;
- 门前三包: the frontage checks of that patrol, passed and failed;
- 案件: work on the station's cases that day: dispatch, closure, and the other
  steps the case events record (rows.case_work);
- 记事: the free notes written in the ledger (manual entries).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.ledgers.kinds import LedgerKind
from cases.ledgers.manual import Entry
from cases.ledgers.rows import case_work, patrols, shifts
from cases.ledgers.sheet import Column, Context, Ledger, fmt_date, fmt_on, fmt_span, local, scrub
from cases.ledgers.vocab import HANDLED_EVENTS
from cases.stations.models import FRONTAGE_ITEMS

COLUMNS = (
    Column("date", "日期", 12),
    Column("time", "时间", 14),
    Column("item", "类别", 8),
    Column("officer", "人员", 16),
    Column("content", "工作内容", 60),
    Column("remark", "备注", 30),
)
_ORDER = {"值守": 0, "巡查": 1, "门前三包": 2, "案件": 3, "记事": 4}
_CHECK = {"in": "签到", "out": "签退"}


def _check_remark(check: dict[str, Any]) -> str | None:
    word = _CHECK[check["kind"]]
    if check["flag"] == "no_location":
        return f"{word}无定位，不计入"
    if check["flag"] == "outside":
        effect = "不计入" if not check["counts"] else "仍计为离岗"
        return f"{word}距站点 {float(check['distance_m']):.0f} 米，超出范围，{effect}"
    return None


def _shift_row(ctx: Context, s: Any) -> dict[str, Any]:
    day = local(s.lo).date()
    checks = [{**c, "at": datetime.fromisoformat(c["at"])} for c in s.checks]
    done = [f"{_CHECK[c['kind']]} {fmt_on(day, c['at'])}" for c in checks]
    remarks = [r for r in (_check_remark(c) for c in checks) if r]
    if not any(c["kind"] == "in" for c in checks):
        remarks.insert(0, "未签到")
    if s.note:
        remarks.append(scrub(s.note))
    hours = (s.hi - s.lo).total_seconds() / 3600
    return {
        "date": fmt_date(day),
        "time": fmt_span(s.lo, s.hi),
        "item": "值守",
        "officer": ctx.officer(s.officer_code),
        "content": f"值守 {hours:g} 小时" + (f"；{'；'.join(done)}" if done else ""),
        "remark": "；".join(remarks),
        "shift_id": int(s.id),
        "_sort": local(s.lo),
    }


def _patrol_rows(ctx: Context, p: Any) -> list[dict[str, Any]]:
    day = local(p.started_at).date()
    grids = list(p.grids or [])
    parts = [f"巡查轨迹 {float(p.length_m) / 1000:.2f} 公里"]
    if grids:
        parts.append(f"经过网格 {len(grids)} 个（{'、'.join(grids)}）")
    parts.append(f"社区覆盖率 {float(p.coverage) * 100:.1f}%")
    findings = list(p.findings or [])
    if findings:
        filed = [str(f["case_id"]) for f in findings if f["case_id"] is not None]
        text = f"发现问题 {len(findings)} 处"
        if filed:
            text += f"，已立案：案件 {'、'.join(filed)}"
        failed = [f for f in findings if f["case_id"] is None]
        if failed:
            text += f"，未立案 {len(failed)} 处"
        parts.append(text)
    base = {
        "date": fmt_date(day),
        "time": fmt_span(p.started_at, p.ended_at),
        "officer": ctx.officer(p.officer_code),
        "patrol_id": int(p.id),
        "_sort": local(p.started_at),
    }
    rows = [{**base, "item": "巡查", "content": "，".join(parts), "remark": scrub(p.note)}]
    checks = list(p.checks or [])
    if checks:
        units = {c["code"] for c in checks}
        bad = [c for c in checks if not c["passed"]]
        text = (
            f"检查 {len(units)} 户 {len(checks)} 项，合格 {len(checks) - len(bad)} 项，"
            f"不合格 {len(bad)} 项"
        )
        if bad:
            items = [
                f"{c['name']}（{c['code']}）{FRONTAGE_ITEMS.get(c['item'], c['item'])}"
                + (f"：{scrub(c['note'])}" if c["note"] else "")
                for c in bad
            ]
            text += "：" + "；".join(items)
        rows.append({**base, "item": "门前三包", "content": text, "remark": ""})
    return rows


def _work_row(ctx: Context, w: Any) -> dict[str, Any]:
    _, subclass = ctx.subclass(w.subclass_code)
    place = f"（网格 {w.grid_code}）" if w.grid_code else ""
    return {
        "date": fmt_date(w.at),
        "time": f"{local(w.at):%H:%M}",
        "item": "案件",
        "officer": ctx.officer(w.officer_code),
        "content": f"{HANDLED_EVENTS.get(w.kind, w.kind)}：案件 {w.case_id} {subclass}{place}",
        "remark": "",
        "case_id": int(w.case_id),
        "_sort": local(w.at),
    }


def _note_row(ctx: Context, e: Entry) -> dict[str, Any]:
    time = e.fields.get("time") or ""
    return {
        "date": fmt_date(e.date),
        "time": time,
        "item": "记事",
        "officer": ctx.officer(e.fields.get("officer_code")),
        "content": scrub(e.fields.get("text")),
        "remark": "",
        "entry_id": e.entry_id,
        "_sort": None,
    }


def _key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    at = row["_sort"]
    clock = f"{at:%H:%M:%S}" if at is not None else (row["time"] or "99:99")
    ref = row.get("shift_id") or row.get("patrol_id") or row.get("case_id") or row["entry_id"]
    return row["date"], clock, _ORDER[row["item"]], int(ref)


def work_log(ctx: Context, notes: list[Entry]) -> Ledger:
    """The station's work log of the month (see the module's rows)."""
    month = ctx.month
    shift_rows = shifts(ctx.conn, ctx.place.code, month)
    patrol_rows = patrols(ctx.conn, ctx.place.code, month)
    work_rows = case_work(ctx.conn, ctx.place.code, month)
    ctx.load_officers(
        {s.officer_code for s in shift_rows}
        | {p.officer_code for p in patrol_rows}
        | {w.officer_code for w in work_rows}
        | {e.fields.get("officer_code") for e in notes}
    )
    rows = [_shift_row(ctx, s) for s in shift_rows]
    for p in patrol_rows:
        rows.extend(_patrol_rows(ctx, p))
    rows.extend(_work_row(ctx, w) for w in work_rows)
    rows.extend(_note_row(ctx, e) for e in notes)
    rows.sort(key=_key)
    for row in rows:
        del row["_sort"]
    return ctx.ledger(LedgerKind.WORK_LOG, COLUMNS, rows)
