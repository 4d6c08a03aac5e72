"""Escalation: a case past its due time moves up one tier, once per overdue period.

A case in a state where the clock runs (dispatched, in progress, rework)
whose due time has passed moves to the next holder (cases.lifecycle.holders:
officer → squad leader (moderate) → deputy leader in charge (major) → chief),
gets a new due time (its subclass's handling limit from now, on the
working-time calendar) and an `escalated` event, and its new holder a
notification. A case the chief holds has nobody above: it stays overdue.

Exactly once, with any number of sweepers (the service's background task in
each worker, `grid escalate` from cron): each batch is taken with
`SELECT ... FOR UPDATE SKIP LOCKED`, so two sweepers never take the same case
at the same time, and a case another sweeper has just escalated has a due
time in the future when the next one looks (PostgreSQL re-checks the WHERE
clause on the row's newest version), so it is not taken again until its new
period runs out. No in-process timer decides anything.

Set-based: per batch one SELECT, one UPDATE, one INSERT of events and one of
notifications (arrays through unnest), whatever the batch's size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.lifecycle.holders import HOLDER_LABELS, TIER_HOLDER, UP, load_leaders
from cases.lifecycle.notify import Notifier, deliver_pending
from cases.lifecycle.states import CLOCK_STATES, TIER_LABELS, TIERS
from gis.settings import Settings, get_settings

FALLBACK_LIMIT_HOURS = 8.0
"""The new period of a case whose subclass has left the catalogue (working hours)."""

_CLOCK_SQL = "(" + ", ".join(f"'{s}'" for s in CLOCK_STATES) + ")"

_TAKE = sa.text(f"""
SELECT id, status, tier, holder_role, squad_code, subclass_code, due_at
FROM case_file
WHERE status IN {_CLOCK_SQL} AND due_at < :now AND holder_role IS DISTINCT FROM 'chief'
ORDER BY due_at, id
LIMIT :n
FOR UPDATE SKIP LOCKED
""")

_MOVE = sa.text("""
WITH u AS (
    SELECT * FROM unnest(
        CAST(:ids AS bigint[]), CAST(:tiers AS text[]), CAST(:roles AS text[]),
        CAST(:codes AS text[]), CAST(:dues AS timestamptz[]), CAST(:prov AS boolean[])
    ) AS u(id, tier, role, code, due, prov)
), moved AS (
    UPDATE case_file c
    SET tier = u.tier, holder_role = u.role, holder_code = u.code, due_at = u.due,
        due_provisional = u.prov, version = c.version + 1
    FROM u WHERE c.id = u.id
    RETURNING c.id
), ev AS (
    INSERT INTO case_event (case_id, at, kind, actor, data)
    SELECT o.id, :now, 'escalated', 'system', jsonb_build_object(
        'from', o.status, 'to', o.status, 'note', '超时未办结，自动升级',
        'tier_from', o.tier_from, 'tier_to', u.tier,
        'holder_from', o.role_from, 'holder_role', u.role, 'holder_code', u.code,
        'overdue_since', o.due_from, 'due_at', u.due, 'due_provisional', u.prov)
    FROM u JOIN unnest(
        CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:tiers_from AS text[]),
        CAST(:roles_from AS text[]), CAST(:dues_from AS timestamptz[])
    ) AS o(id, status, tier_from, role_from, due_from) ON o.id = u.id
    RETURNING 1
)
INSERT INTO notification (case_id, kind, recipient_role, recipient_code, message)
SELECT u.id, 'escalated', u.role, u.code,
       format('案件 %s（%s）超时未办结，已升级为%s，交由%s处置，请于 %s 前办结',
              u.id, m.name, m.tier_label, m.holder_label,
              to_char(u.due AT TIME ZONE :tz, 'YYYY-MM-DD HH24:MI'))
FROM u JOIN unnest(
    CAST(:ids AS bigint[]), CAST(:names AS text[]), CAST(:tier_labels AS text[]),
    CAST(:holder_labels AS text[])
) AS m(id, name, tier_label, holder_label) ON m.id = u.id
""")


@dataclass
class SweepResult:
    """What one sweep did: how many cases moved, and from which holder to which."""

    moved: int = 0
    by_step: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"moved": self.moved, "by_step": dict(sorted(self.by_step.items()))}


def _utc64(values: list[datetime]) -> np.ndarray:
    return np.array(
        [np.datetime64(v.astimezone(UTC).replace(tzinfo=None), "us") for v in values],
        dtype="datetime64[us]",
    )


def sweep(
    engine: Engine,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
    batch: int | None = None,
) -> SweepResult:
    """Escalate every case overdue at `now` (default: now) by one step; see the module docs.

    Batches of `batch` (setting `escalate_batch`) cases, each its own
    transaction, until none is left that another sweeper does not hold.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    size = batch or settings.escalate_batch
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    calendar = load_calendar(settings.data_dir)
    tz = calendar.config.timezone
    codes = pa.array([s.code for s in catalogue.subclasses], pa.string())
    limits = [s.time_limit for s in catalogue.subclasses]
    amounts = np.array([lim.amount for lim in limits] + [FALLBACK_LIMIT_HOURS])
    in_days = np.array([lim.in_days for lim in limits] + [False])
    names = np.array([s.name for s in catalogue.subclasses] + [""], dtype=object)
    result = SweepResult()
    while True:
        with engine.begin() as conn:
            rows = conn.execute(_TAKE, {"now": now, "n": size}).all()
            if not rows:
                break
            leaders = load_leaders(conn, settings.deputy_in_charge)
            ids = [r.id for r in rows]
            tiers = np.array([r.tier for r in rows], dtype=object)
            roles = np.array([r.holder_role for r in rows], dtype=object)
            base = np.where(np.isin(roles, list(UP)), roles, _map(tiers, TIER_HOLDER))
            new_role = _map(base, {k: v[1] for k, v in UP.items()})
            step_tier = _map(base, {k: v[0] for k, v in UP.items()})
            rank = np.maximum(_map(tiers, RANKS), _map(step_tier, RANKS)).astype(np.int64)
            new_tier = np.array(TIERS, dtype=object)[rank]
            squads = np.array([r.squad_code for r in rows], dtype=object)
            new_code = leaders.codes_for(new_role, squads, np.full(len(rows), None, dtype=object))
            at = pc.index_in(pa.array([r.subclass_code for r in rows], pa.string()), codes)
            idx = np.asarray(pc.fill_null(at, len(limits)).to_numpy(zero_copy_only=False))
            due = calendar.deadline_many(
                np.full(len(rows), np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us")),
                amounts[idx],
                in_days[idx],
            )
            conn.execute(
                _MOVE,
                {
                    "now": now,
                    "ids": ids,
                    "tiers": list(new_tier),
                    "roles": list(new_role),
                    "codes": list(new_code),
                    "dues": _text(due.at),
                    "prov": due.provisional.tolist(),
                    "statuses": [r.status for r in rows],
                    "tiers_from": list(tiers),
                    "roles_from": list(roles),
                    "dues_from": [r.due_at for r in rows],
                    "names": list(names[idx]),
                    "tier_labels": list(_map(new_tier, TIER_LABELS)),
                    "holder_labels": list(_map(new_role, HOLDER_LABELS)),
                    "tz": tz,
                },
            )
        result.moved += len(rows)
        result.by_step.update(f"{b}->{n}" for b, n in zip(base, new_role, strict=True))
        if len(rows) < size:
            break
    return result


RANKS = {tier: i for i, tier in enumerate(TIERS)}


def _map(values: npt.NDArray[Any], mapping: dict[str, Any]) -> npt.NDArray[Any]:
    """`mapping[v]` for every value of a column (a mask per key, not a loop per row)."""
    out = np.full(len(values), None, dtype=object)
    for key, value in mapping.items():
        out[values == key] = value
    return out


def _text(values: npt.NDArray[np.datetime64]) -> list[str]:
    """UTC datetime64 as ISO text with +00:00, for timestamptz[] parameters."""
    text = np.datetime_as_string(values.astype("datetime64[us]"))
    return list(np.char.add(text.astype(str), "+00:00"))


def sweep_and_deliver(
    engine: Engine, notifier: Notifier, settings: Settings | None = None
) -> SweepResult:
    """One sweep, then deliver what is pending (the service's background task)."""
    result = sweep(engine, settings=settings)
    deliver_pending(engine, notifier)
    return result
