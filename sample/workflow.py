"""Sample workflow: GENERATED handling of part of the sample year's cases.

Every move goes through the lifecycle's public function
(`cases.lifecycle.transitions.apply_move`), with its rules, events and
notifications, dated in the past with its `now`. It picks, with a seed, a
share of the cases dispatched to a station officer in one month (by default
the last full month) and drives each one, by its (seeded) fate:

- on time (about 55 %): started an hour after dispatch, reported back with a
  photo well before its due time, closed, evaluated 4 or 5;
- late (about 20 %): reported back a day after its due time, closed,
  evaluated 2 or 3;
- reworked (about 15 %): reported back, sent back, started again, reported
  back, closed, evaluated 3;
- escalated (about 10 %): started and left in progress past its due time:
  the escalation sweeper (`grid serve` runs it) moves it up a tier.

The rest of the month's cases stay as intake left them. A rerun drives only
cases still `dispatched` and never moved (their version unchanged), so it adds
nothing to the cases done already; cases are driven in batches of one
transaction per move, as the API would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal, Scope
from cases.lifecycle.transitions import Move, apply_move
from cases.stations.weeks import LOCAL_TZ
from gis.settings import Settings, get_settings
from sample.complaints import SEED

__all__ = ["SHARE", "WorkflowLoad", "last_full_month", "run_sample_workflow"]

SHARE: Final = 0.12
"""Share of the month's dispatched officer cases that the sample drives."""
FATES: Final = (("on_time", 0.55), ("late", 0.20), ("reworked", 0.15), ("escalated", 0.10))
PHOTO: Final = "https://example.invalid/sample/photo.jpg"

_CASES = sa.text("""
SELECT c.id, c.version, c.station_code, c.dispatched_at, c.due_at, st.community_code
FROM case_file c JOIN station st ON st.code = c.station_code
WHERE c.source = 'sample' AND c.status = 'dispatched' AND c.holder_role = 'officer'
  AND c.dispatched_at >= :lo AND c.dispatched_at < :hi AND c.due_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM case_event e
                  WHERE e.case_id = c.id AND e.kind IN ('started', 'reported_back'))
ORDER BY c.id
""")


@dataclass
class WorkflowLoad:
    """What run_sample_workflow did: cases driven per fate, moves taken."""

    month: str
    cases: dict[str, int] = field(default_factory=dict)
    moves: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"month": self.month, "cases": self.cases, "moves": self.moves}


def last_full_month(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the last full calendar month before `now`, Asia/Shanghai."""
    local = (now or datetime.now(UTC)).astimezone(LOCAL_TZ)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end


def _uniform(ids: npt.NDArray[np.uint64], seed: int, stream: int) -> npt.NDArray[np.float64]:
    """A uniform draw in [0, 1) per case id (splitmix64 of id, seed and stream):
    a case's fate depends on nothing but its id and the seed, so a rerun over
    the cases left picks none of the ones driven already."""
    with np.errstate(over="ignore"):
        x = ids * np.uint64(0x9E3779B97F4A7C15) + np.uint64((seed * 7919 + stream) & (2**64 - 1))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def _officer(station: str, community: str) -> Principal:
    return Principal(
        0, f"sample-{station}", "officer", station, None, None, Scope(False, frozenset({community}))
    )


def _steps(
    fate: str, dispatched: datetime, due: datetime, u: float
) -> list[tuple[str, datetime, Move]]:
    """The moves of one case: (action, when, what is sent)."""
    h = timedelta(hours=1)
    started = dispatched + h
    soon = started + (due - started) * (0.2 + 0.5 * u)
    late = due + 24 * h
    rating_good, rating_bad = 4 + int(u < 0.5), 2 + int(u < 0.5)
    photo = Move(photos=(PHOTO,), note="已处置（示例）")
    if fate == "escalated":
        return [("start", started, Move())]
    if fate == "late":
        return [
            ("start", started, Move()),
            ("report_back", late, photo),
            ("close", late + h, Move()),
            ("evaluate", late + 24 * h, Move(rating=rating_bad)),
        ]
    steps = [("start", started, Move()), ("report_back", soon, photo)]
    if fate == "reworked":
        steps += [
            ("send_back", soon + h, Move(reason="处置不到位，返工（示例）")),
            ("start", soon + 2 * h, Move()),
            ("report_back", soon + 5 * h, photo),
        ]
        rating_good = 3
    end = steps[-1][1]
    return [
        *steps,
        ("close", end + h, Move()),
        ("evaluate", end + 24 * h, Move(rating=rating_good)),
    ]


def run_sample_workflow(
    engine: Engine,
    *,
    now: datetime | None = None,
    seed: int = SEED,
    share: float = SHARE,
    settings: Settings | None = None,
) -> WorkflowLoad:
    """Drive a seeded share of the last full month's dispatched officer cases
    through the lifecycle (see the module docs); returns what was done."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    lo, hi = last_full_month(now)
    result = WorkflowLoad(f"{lo:%Y-%m}", {fate: 0 for fate, _ in FATES})
    with engine.connect() as conn:
        rows = conn.execute(_CASES, {"lo": lo, "hi": hi}).all()
    if not rows:
        return result
    ids = np.array([r.id for r in rows], dtype=np.uint64)
    pick = _uniform(ids, seed, 1) < share
    draw = _uniform(ids, seed, 2)
    u = _uniform(ids, seed, 3)
    bounds = np.cumsum([p for _, p in FATES])
    dispatcher = Principal(0, "sample-dispatcher", "dispatcher", None, None, None, Scope(True))
    for k in np.flatnonzero(pick):
        row = rows[int(k)]
        fate = FATES[min(int(np.searchsorted(bounds, draw[k], side="right")), len(FATES) - 1)][0]
        officer = _officer(row.station_code, row.community_code)
        version = row.version
        for action, when, move in _steps(fate, row.dispatched_at, row.due_at, float(u[k])):
            if when >= now:
                break
            who = dispatcher if action in ("close", "send_back", "evaluate") else officer
            sent = Move(**{**move.__dict__, "version": version})
            after = apply_move(engine, who, int(row.id), action, sent, settings, now=when)
            version = after["version"]
            result.moves += 1
        result.cases[fate] += 1
    return result
