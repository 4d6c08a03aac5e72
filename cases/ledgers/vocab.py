"""The words of the ledgers: case statuses, sources, tiers and events as the
printed ledgers name them, and which statuses count as open.

This is the one place the ledgers read the case workflow's vocabulary: the
first statuses of intake (open, needs_location, merged, ...) and the states
and event kinds of the lifecycle (received, filed, dispatched, in_progress,
reported_back, rework, closed, evaluated, cancelled, duplicate, ...). When
the workflow's table changes, the change is made here: a status not listed
still prints (its code) and counts as open unless the case has a `closed_at`.
"""

from __future__ import annotations

STATUS_LABELS: dict[str, str] = {
    "received": "已受理",
    "filed": "已立案",
    "open": "处置中",
    "dispatched": "已派遣",
    "in_progress": "处置中",
    "reported_back": "已反馈",
    "rework": "返工",
    "closed": "已结案",
    "evaluated": "已评价",
    "cancelled": "不予立案",
    "needs_location": "待定位",
    "referred_out": "已转办",
    "merged": "已合并",
    "duplicate": "重复诉求",
}

DONE_STATUSES = frozenset({"closed", "evaluated", "cancelled"})
"""A case in one of these is finished (结案, or not filed), whatever its `closed_at` says."""

NOT_PROBLEMS = frozenset({"merged", "duplicate", "referred_out", "cancelled"})
"""Not a problem of the community: a repeat of another case, handled elsewhere
(转办), or not a case at all (不予立案)."""

HANDLED_EVENTS: dict[str, str] = {
    "dispatched": "派遣",
    "accepted": "签收",
    "started": "开始处置",
    "in_progress": "处置",
    "reported_back": "处理反馈",
    "sent_back": "返工",
    "rework": "返工",
    "tier_raised": "提级",
    "escalated": "超时升级",
    "replied": "答复群众",
    "closed": "结案",
    "reopened": "重新办理",
    "evaluated": "综合评价",
}
"""Events that are work on a case (the work log's 案件 rows), code → what was done."""

REPLY_EVENTS = ("replied", "closed")
"""Events that answer the resident (答复): the first of them is the reply."""

SOURCE_LABELS: dict[str, str] = {
    "api": "网络/APP",
    "open311": "Open311平台",
    "hotline": "热线电话",
    "walk_in": "来访",
    "patrol": "巡查发现",
    "bulk": "批量导入",
    "sample": "样例数据",
}

INTERNAL_SOURCES = frozenset({"patrol"})
"""Sources that are the bureau's own findings, not a resident's request (诉求)."""

TIER_LABELS: dict[str, str] = {"minor": "小事", "moderate": "中事", "major": "大事"}


def status_label(status: str) -> str:
    """The Chinese word for a case status (the code itself when unknown)."""
    return STATUS_LABELS.get(status, status)


def source_label(source: str) -> str:
    """The Chinese word for where a case came from (the code itself when unknown)."""
    return SOURCE_LABELS.get(source, source)


def tier_label(tier: str) -> str:
    """小事 / 中事 / 大事."""
    return TIER_LABELS.get(tier, tier)
