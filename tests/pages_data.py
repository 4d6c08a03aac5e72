"""Cases and accounts for the page tests (tests/test_pages*.py), one month each.

A cluster of street-vending cases on one grid and its six neighbours, a
resident's description carrying markup on a far grid (due in 2001, so it
heads the overdue list), one case reported now; optionally a planned shift
that puts one officer of the cluster's station on duty now. Each module
plants its own month, so their counts never mix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from current_layout import grid_point
from sqlalchemy.engine import Engine

from cases.accounts.store import create_account
from cases.intake import ComplaintIn, submit_complaint
from cases.stations.duty import ShiftIn, plan_shifts
from gis.hotspots import grid_weights
from gis.settings import Settings

CST = ZoneInfo("Asia/Shanghai")
PASSWORD = "pages-test-password-1"
PWN = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
_serial = itertools.count(1)


@dataclass(frozen=True)
class Planted:
    centre: str
    neighbours: list[str]
    far: str
    community: str
    station: str
    squad: str
    pwn_case: int
    today_case: int
    on_duty: str | None
    cluster_cases: int


def submit(
    engine: Engine,
    settings: Settings,
    code: str,
    subclass: str,
    when: datetime | None,
    description: str = "pages test",
) -> int:
    """File one complaint at a grid's inner point (with a reporter's name and phone)."""
    x, y = grid_point(engine, code)
    view = submit_complaint(
        engine,
        ComplaintIn(
            lon=x,
            lat=y,
            subclass=subclass,
            description=description,
            address="蓬江区测试路1号",
            reporter_name="张三",
            reporter_phone="13800138000",
            reported_at=when,
        ),
        settings=settings,
    )
    assert view.grid_code == code
    return view.id


def plant(engine: Engine, settings: Settings, year: int, month: int, *, shift: bool) -> Planted:
    """The cases of one month (see the module's docstring)."""
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    weights = grid_weights(engine)
    card = weights.cardinalities
    six = np.flatnonzero(card == 6)
    centre_i = int(six[(len(six) * month) // 13])
    ring = sorted(set(weights.adjacency[centre_i].indices.tolist()))
    near = set(ring) | {j for i in ring for j in weights.adjacency[i].indices.tolist()}
    far_i = next(i for i in range(weights.n - 1 - month, 0, -1) if card[i] >= 4 and i not in near)
    centre, far = str(weights.codes[centre_i]), str(weights.codes[far_i])
    neighbours = [str(weights.codes[j]) for j in ring]
    community = str(weights.grids["community_code"].iloc[centre_i])
    with engine.connect() as conn:
        station, squad = conn.execute(
            sa.text(
                "SELECT st.code, sc.squad_code FROM station st "
                "JOIN squad_community sc ON sc.community_code = st.community_code "
                "WHERE st.community_code = :c"
            ),
            {"c": community},
        ).one()
        officer = conn.execute(
            sa.text(
                "SELECT code FROM officer WHERE station_code = :s AND active AND role = 'officer' "
                "ORDER BY code LIMIT 1"
            ),
            {"s": station},
        ).scalar_one()
    start = datetime(year, month, 1, 10, 0, tzinfo=CST)
    k = 0
    for code, n in [(centre, 5)] + [(c, 3) for c in neighbours]:
        for _ in range(n):  # 12 hours apart: never duplicates of each other
            submit(engine, settings, code, "0401", start + timedelta(hours=12 * k))
            k += 1
    pwn = submit(
        engine, settings, far, "0304", datetime(year, month, 15, 9, tzinfo=CST), description=PWN
    )
    with engine.begin() as conn:  # its time limit ran out long ago
        conn.execute(
            sa.text("UPDATE case_file SET due_at = '2001-01-01 08:30+08' WHERE id = :id"),
            {"id": pwn},
        )
    today = submit(engine, settings, centre, "0502", None, description="今天的案件")
    if shift:
        now = datetime.now(UTC)
        plan_shifts(
            engine,
            [
                ShiftIn(
                    officer_code=officer,
                    station_code=station,
                    start=now - timedelta(hours=1),
                    end=now + timedelta(hours=2),
                )
            ],
        )
    return Planted(
        centre,
        neighbours,
        far,
        community,
        station,
        squad,
        pwn,
        today,
        officer if shift else None,
        k,
    )


def account(engine: Engine, role: str, **place: str) -> str:
    """A new account of `role` (password PASSWORD); returns its username."""
    name = f"pages-{role.replace('_', '-')}-{next(_serial)}"
    create_account(engine, name, role, PASSWORD, **place)
    return name
