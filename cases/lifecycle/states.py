"""The lifecycle of a case as data: its states and the one table of legal moves.

The seven steps of digital urban management (数字城管): a complaint is
received (受理), filed (立案) or cancelled as invalid, dispatched (派遣, the
clock starts), handled (处置), reported back (处理反馈), verified and closed
(核查结案) or sent back for rework (返工), and evaluated (综合评价). Beside
them: referred out to another district (转办) and duplicate (重复).

`TRANSITIONS` is the only place that says who may move a case where. The
code reads it (`cases.lifecycle.transitions`, the escalation sweeper, the
API's list of actions), and so does the documentation: `markdown_table()`
writes docs/lifecycle.md, and a test checks the committed file against it.

Each row: from a state, an action, to a state; the account roles that may
take it (none: only the system, e.g. the escalation sweeper); whether the
caller must be handling the case (its holder, see cases.access.acts_on);
and the fields the request must carry (a reason, photos, a tier, ...).

How intake's outcomes map (cases.intake.rules): a complaint located in a grid
with a station is filed and dispatched at once (`dispatched`); located in a
grid without a station, `filed`, for a dispatcher; not placed (no coordinates,
or inside the district but far from any grid), `received`, for a dispatcher
to locate; outside the district, `referred_out`; a duplicate of an open case,
`duplicate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["open", "closed", "follows_master"]


@dataclass(frozen=True)
class State:
    """One state: its code, its name for people, and how Open311 reads it.

    `clock`: the handling clock runs (a case past its due time in such a state
    is overdue and escalates). `held`: someone holds the case (a holder is
    shown); finished cases are held by nobody.
    """

    code: str
    label: str
    phase: Phase
    clock: bool = False
    held: bool = True


STATES: tuple[State, ...] = (
    State("received", "已受理", "open"),
    State("filed", "已立案", "open"),
    State("dispatched", "已派遣", "open", clock=True),
    State("in_progress", "处置中", "open", clock=True),
    State("reported_back", "已反馈", "open"),
    State("rework", "返工", "open", clock=True),
    State("closed", "已结案", "closed", held=False),
    State("evaluated", "已评价", "closed", held=False),
    State("cancelled", "不予立案", "closed", held=False),
    State("referred_out", "已转办", "closed", held=False),
    State("duplicate", "重复诉求", "follows_master", held=False),
)
STATE_CODES: tuple[str, ...] = tuple(s.code for s in STATES)
BY_CODE: dict[str, State] = {s.code: s for s in STATES}
CLOCK_STATES: tuple[str, ...] = tuple(s.code for s in STATES if s.clock)
"""States in which the handling clock runs: overdue cases there escalate."""
OPEN_STATES: tuple[str, ...] = tuple(s.code for s in STATES if s.phase == "open")
"""Not finished: Open311 `open`; a new complaint near one of these may duplicate it."""
CLOSED_STATES: tuple[str, ...] = tuple(s.code for s in STATES if s.phase == "closed")
"""Finished: Open311 `closed` (a duplicate answers its master's status)."""
ACTIVE_STATES: tuple[str, ...] = ("filed", "dispatched", "in_progress", "reported_back", "rework")
"""A case in one of these is being worked on: the master a new duplicate joins."""

TIERS: tuple[str, ...] = ("minor", "moderate", "major")
TIER_LABELS = {"minor": "小事", "moderate": "中事", "major": "大事"}

HOLDER_ROLES: tuple[str, ...] = ("dispatcher", "officer", "squad_leader", "deputy_leader", "chief")
"""Who may hold a case: the command centre before dispatch, then by tier."""


@dataclass(frozen=True)
class Action:
    """What a move is called, the event kind it writes, and its name for people."""

    code: str
    event: str
    label: str


ACTIONS: tuple[Action, ...] = (
    Action("file", "filed", "立案"),
    Action("cancel", "cancelled", "作废（不予立案）"),
    Action("refer", "referred_out", "转办"),
    Action("mark_duplicate", "marked_duplicate", "认定重复"),
    Action("dispatch", "dispatched", "派遣"),
    Action("start", "started", "开始处置"),
    Action("report_back", "reported_back", "处理反馈"),
    Action("close", "closed", "核查结案"),
    Action("send_back", "sent_back", "返工"),
    Action("evaluate", "evaluated", "综合评价"),
    Action("raise_tier", "tier_raised", "提级"),
    Action("escalate", "escalated", "超时升级"),
    Action("reply", "replied", "答复群众"),
)
ACTION_BY_CODE: dict[str, Action] = {a.code: a for a in ACTIONS}

Need = Literal["reason", "photos", "tier", "rating", "note", "master_id"]

# Who acts.
DISPATCHER = frozenset({"dispatcher"})
HOLDERS = frozenset({"officer", "squad_leader", "deputy_leader", "chief"})
"""Roles that hold cases by tier (the command centre holds them only before dispatch)."""
REPORTERS = HOLDERS | {"department_staff"}
"""Who may report back: the holder, or a department the case is shared with (党建+N)."""
RAISERS = HOLDERS
"""An officer or a leader may raise a case's tier (giving a reason)."""
ANSWERERS = HOLDERS | DISPATCHER
"""Who replies to the resident (答复): the command centre or the holder."""
SYSTEM: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Transition:
    """One legal move: `source` --`action`--> `target`, by `roles`, needing `needs`."""

    source: str
    action: str
    target: str
    roles: frozenset[str]
    must_hold: bool = False
    needs: frozenset[Need] = frozenset()

    @property
    def system(self) -> bool:
        """Only the system takes this move (no account may)."""
        return not self.roles


def _t(
    source: str,
    action: str,
    target: str,
    roles: frozenset[str],
    must_hold: bool = False,
    *needs: Need,
) -> Transition:
    return Transition(source, action, target, roles, must_hold, frozenset(needs))


TRANSITIONS: tuple[Transition, ...] = (
    # 受理 → 立案, or not
    _t("received", "file", "filed", DISPATCHER),
    _t("received", "cancel", "cancelled", DISPATCHER, False, "reason"),
    _t("received", "refer", "referred_out", DISPATCHER, False, "reason"),
    _t("received", "mark_duplicate", "duplicate", DISPATCHER, False, "reason", "master_id"),
    _t("received", "raise_tier", "received", RAISERS, False, "reason", "tier"),
    _t("received", "reply", "received", ANSWERERS, True, "note"),
    # 立案 → 派遣
    _t("filed", "dispatch", "dispatched", DISPATCHER),
    _t("filed", "cancel", "cancelled", DISPATCHER, False, "reason"),
    _t("filed", "refer", "referred_out", DISPATCHER, False, "reason"),
    _t("filed", "mark_duplicate", "duplicate", DISPATCHER, False, "reason", "master_id"),
    _t("filed", "raise_tier", "filed", RAISERS, False, "reason", "tier"),
    _t("filed", "reply", "filed", ANSWERERS, True, "note"),
    # 派遣 → 处置 → 处理反馈
    _t("dispatched", "start", "in_progress", HOLDERS, True),
    _t("dispatched", "report_back", "reported_back", REPORTERS, True, "photos"),
    _t("dispatched", "refer", "referred_out", DISPATCHER, False, "reason"),
    _t("dispatched", "mark_duplicate", "duplicate", DISPATCHER, False, "reason", "master_id"),
    _t("dispatched", "raise_tier", "dispatched", RAISERS, False, "reason", "tier"),
    _t("dispatched", "escalate", "dispatched", SYSTEM),
    _t("dispatched", "reply", "dispatched", ANSWERERS, True, "note"),
    _t("in_progress", "report_back", "reported_back", REPORTERS, True, "photos"),
    _t("in_progress", "raise_tier", "in_progress", RAISERS, False, "reason", "tier"),
    _t("in_progress", "escalate", "in_progress", SYSTEM),
    _t("in_progress", "reply", "in_progress", ANSWERERS, True, "note"),
    # 核查结案, or 返工 → 处置 again
    _t("reported_back", "close", "closed", DISPATCHER),
    _t("reported_back", "send_back", "rework", DISPATCHER, False, "reason"),
    _t("reported_back", "reply", "reported_back", ANSWERERS, True, "note"),
    _t("rework", "start", "in_progress", HOLDERS, True),
    _t("rework", "raise_tier", "rework", RAISERS, False, "reason", "tier"),
    _t("rework", "escalate", "rework", SYSTEM),
    _t("rework", "reply", "rework", ANSWERERS, True, "note"),
    # 综合评价
    _t("closed", "evaluate", "evaluated", DISPATCHER, False, "rating"),
    _t("closed", "reply", "closed", DISPATCHER, True, "note"),
)

_BY_MOVE: dict[tuple[str, str], Transition] = {(t.source, t.action): t for t in TRANSITIONS}
API_ACTIONS: tuple[str, ...] = tuple(
    a.code for a in ACTIONS if any(t.action == a.code and not t.system for t in TRANSITIONS)
)
"""Actions an account may take (`POST /api/v1/cases/{id}/{action}`)."""


def transition(source: str, action: str) -> Transition | None:
    """The legal move `action` from `source`, or None when there is none."""
    return _BY_MOVE.get((source, action))


def actions_from(source: str) -> tuple[Transition, ...]:
    """Every legal move out of `source`, in table order."""
    return tuple(t for t in TRANSITIONS if t.source == source)


def roles_for(action: str) -> frozenset[str]:
    """Every role that may take `action` from some state."""
    out: frozenset[str] = frozenset()
    for t in TRANSITIONS:
        if t.action == action:
            out |= t.roles
    return out


def tier_rank(tier: str) -> int:
    """0 for minor, 1 moderate, 2 major (ValueError for anything else)."""
    return TIERS.index(tier)


def _check_table() -> None:
    """The table names only known states and actions, once per (state, action)."""
    if len(_BY_MOVE) != len(TRANSITIONS):
        raise RuntimeError("a (state, action) pair appears twice in TRANSITIONS")
    for t in TRANSITIONS:
        if t.source not in BY_CODE or t.target not in BY_CODE:
            raise RuntimeError(f"unknown state in {t}")
        if t.action not in ACTION_BY_CODE:
            raise RuntimeError(f"unknown action in {t}")


_check_table()

_NEED_WORDS = {
    "reason": "reason",
    "photos": "photos",
    "tier": "tier (higher)",
    "rating": "rating 1-5",
    "note": "note",
    "master_id": "master_id",
}


def markdown_table() -> str:
    """The states and the transition table as Markdown (docs/lifecycle.md is this)."""
    lines = [
        "# The case lifecycle",
        "",
        "Generated from `cases/lifecycle/states.py` (`python -m cases.lifecycle.docs`);",
        "a test checks that this file matches the table the code reads.",
        "",
        "## States",
        "",
        "| state | 名称 | Open311 | clock runs | held |",
        "|---|---|---|---|---|",
    ]
    for s in STATES:
        open311 = "master's" if s.phase == "follows_master" else s.phase
        clock = "yes" if s.clock else ""
        held = "yes" if s.held else ""
        lines.append(f"| `{s.code}` | {s.label} | {open311} | {clock} | {held} |")
    lines += [
        "",
        "## Transitions",
        "",
        "Only these moves are legal. *Holder*: the caller must be handling the case",
        "(its holder by tier, the command centre, or for `report_back` a department",
        "the case is shared with).",
        "",
        "| from | action | 动作 | to | roles | holder | needs |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        roles = ", ".join(sorted(t.roles)) if t.roles else "*system*"
        needs = ", ".join(_NEED_WORDS[n] for n in sorted(t.needs))
        label = ACTION_BY_CODE[t.action].label
        hold = "yes" if t.must_hold else ""
        lines.append(
            f"| `{t.source}` | `{t.action}` | {label} | `{t.target}` | {roles} | {hold} | {needs} |"
        )
    lines += [
        "",
        "## Holders by tier",
        "",
        "| tier | 名称 | holds it | when overdue |",
        "|---|---|---|---|",
        "| minor | 小事 | the station's officers (the one on duty at dispatch is named)"
        " | the squad leader (moderate) |",
        "| moderate | 中事 | the squad leader of the case's squad | the deputy leader in charge"
        " (major) |",
        "| major | 大事 | the deputy leader in charge | the chief |",
        "",
    ]
    return "\n".join(lines)


PUBLIC_EVENTS: tuple[str, ...] = (
    "created",
    "needs_location",
    "filed",
    "dispatched",
    "merged",
    "report_added",
    "referred_out",
    "cancelled",
    "marked_duplicate",
    "started",
    "reported_back",
    "sent_back",
    "closed",
    "evaluated",
    "replied",
    "escalated",
    "tier_raised",
)
"""Event kinds a resident sees (by kind and time only) when following a case by token."""
