"""Escalation on PostGIS: a case past its due time moves up one step, exactly once per
overdue period, with any number of sweepers (threads, `grid escalate` processes, the
service's own background task) racing for it.

The sweeps here run in a database of their own (the sample district and these cases
only), so a sweep's count is exactly this module's cases.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from lifecycle_world import HERE_SQUAD, events, file_case, fresh_place, here_place, row
from other_database import sample_database
from sqlalchemy.engine import Engine, make_url

from api.app import create_app
from cases.calendar import handling_deadline, load_calendar
from cases.catalogue import load_catalogue
from cases.lifecycle.escalation import sweep
from cases.lifecycle.notify import LogNotifier, Notice, deliver_pending
from gis.db import get_engine
from gis.settings import ROOT, Settings

GRID = str(ROOT / ".venv" / "bin" / "grid")


@pytest.fixture(scope="module")
def scratch(settings: Settings) -> Iterator[Settings]:
    """A database with the sample district and no other test's cases."""
    # No tier raised by repeats: the tiers are the catalogue's.
    with sample_database(settings, "esc", repeat_report_count=1000) as made:
        yield made


@pytest.fixture(scope="module")
def db(scratch: Settings) -> Engine:
    return get_engine(scratch)


def _overdue(db: Engine, scratch: Settings, n: int) -> list[int]:
    """`n` minor cases here, made overdue an hour ago (as if their time ran out)."""
    ids = [file_case(db, scratch, here_place(db), apart=True) for _ in range(n)]
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE case_file SET due_at = now() - interval '1 hour' WHERE id = ANY(:i)"),
            {"i": ids},
        )
    return ids


def _escalations(db: Engine, ids: list[int]) -> dict[int, int]:
    with db.connect() as conn:
        found = dict(
            conn.execute(
                sa.text(
                    "SELECT case_id, count(*) FROM case_event "
                    "WHERE kind = 'escalated' AND case_id = ANY(:i) GROUP BY case_id"
                ),
                {"i": ids},
            ).all()
        )
    return {i: int(found.get(i, 0)) for i in ids}


def _flush(db: Engine, scratch: Settings) -> None:
    """Nothing overdue left now (a sweep moves every case its time ran out on)."""
    sweep(db, settings=scratch)


def test_one_step_per_overdue_period_up_to_the_chief(db: Engine, scratch: Settings) -> None:
    catalogue = load_catalogue(scratch.data_dir / "catalogue.toml")
    calendar = load_calendar(scratch.data_dir)
    sub = catalogue.subclass("0101")
    place = fresh_place(db, squad=HERE_SQUAD)
    case = file_case(db, scratch, place)
    first = row(db, case)
    due = first["due_at"]
    assert sweep(db, now=due - timedelta(minutes=1), settings=scratch).moved == 0
    with db.connect() as conn:
        leader = conn.execute(
            sa.text(
                "SELECT min(code) FROM officer WHERE role = 'squad_leader' AND squad_code = :s"
            ),
            {"s": place.squad},
        ).scalar_one()
        deputy, chief = conn.execute(
            sa.text(
                "SELECT min(code) FILTER (WHERE role = 'deputy_leader'), "
                "min(code) FILTER (WHERE role = 'chief') FROM officer"
            )
        ).one()
    steps = [
        ("moderate", "squad_leader", leader),
        ("major", "deputy_leader", deputy),
        ("major", "chief", chief),
    ]
    for n, (tier, role, code) in enumerate(steps, start=1):
        now = row(db, case)["due_at"] + timedelta(minutes=1)
        result = sweep(db, now=now, settings=scratch)
        assert result.moved == 1
        after = row(db, case)
        assert (after["tier"], after["holder_role"], after["holder_code"]) == (tier, role, code)
        assert after["due_at"] == handling_deadline(now, sub, calendar).at > now
        assert after["status"] == "dispatched" and after["version"] == first["version"] + n
        # the same period again: nothing moves
        assert sweep(db, now=now, settings=scratch).moved == 0
        last = events(db, case)[-1]
        assert last["kind"] == "escalated" and last["actor"] == "system"
        assert (last["data"]["holder_role"], last["data"]["tier_to"]) == (role, tier)
        assert last["at"] == now
    # the chief is last: overdue with them, the case stays where it is
    later = row(db, case)["due_at"] + timedelta(days=3)
    assert sweep(db, now=later, settings=scratch).moved == 0
    assert row(db, case)["holder_role"] == "chief"
    with db.connect() as conn:
        notices = conn.execute(
            sa.text(
                "SELECT recipient_role, recipient_code, message FROM notification "
                "WHERE case_id = :i AND kind = 'escalated' ORDER BY id"
            ),
            {"i": case},
        ).all()
    assert [(r.recipient_role, r.recipient_code) for r in notices] == [
        (role, code) for _, role, code in steps
    ]
    assert "超时未办结" in notices[0].message and "中事" in notices[0].message
    assert all("陈小明" not in r.message and "138" not in r.message for r in notices)


def test_two_sweepers_racing_escalate_each_case_once(db: Engine, scratch: Settings) -> None:
    _flush(db, scratch)
    ids = _overdue(db, scratch, 60)
    now = datetime.now(UTC)
    start = threading.Barrier(2)
    moved: list[int] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            moved.append(sweep(db, now=now, settings=scratch, batch=4).moved)
        except BaseException as exc:  # surfaced below
            failed.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed
    assert sum(moved) == len(ids)
    assert set(_escalations(db, ids).values()) == {1}
    assert all(row(db, i)["holder_role"] == "squad_leader" for i in ids)


def test_a_case_another_sweeper_holds_is_skipped_not_waited_for(
    db: Engine, scratch: Settings
) -> None:
    _flush(db, scratch)
    ids = _overdue(db, scratch, 6)
    held = ids[:2]
    with db.connect() as other:
        tx = other.begin()
        other.execute(
            sa.text("SELECT id FROM case_file WHERE id = ANY(:i) FOR UPDATE"), {"i": held}
        ).all()
        first = sweep(db, settings=scratch)  # does not wait for the held rows
        assert first.moved == 4
        tx.rollback()
    assert _escalations(db, ids) == {i: (0 if i in held else 1) for i in ids}
    assert sweep(db, settings=scratch).moved == 2
    assert set(_escalations(db, ids).values()) == {1}


def _grid_env(scratch: Settings) -> dict[str, str]:
    env = {**os.environ, "CG_DATABASE_NAME": scratch.database}
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = (
            make_url(env["DATABASE_URL"])
            .set(database=scratch.database)
            .render_as_string(hide_password=False)
        )
    return env


def test_two_grid_escalate_processes_move_each_case_once(db: Engine, scratch: Settings) -> None:
    _flush(db, scratch)
    ids = _overdue(db, scratch, 40)
    env = _grid_env(scratch)
    procs = [
        subprocess.Popen(
            [GRID, "escalate", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    answers = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        answers.append(json.loads(out))
    assert sum(a["moved"] for a in answers) == len(ids)
    assert set(_escalations(db, ids).values()) == {1}
    assert sum(a["by_step"].get("officer->squad_leader", 0) for a in answers) == len(ids)
    # and the plain form says how many moved, first
    again = _overdue(db, scratch, 3)
    done = subprocess.run([GRID, "escalate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "3 cases moved"
    assert "officer->squad_leader: 3" in done.stdout
    assert set(_escalations(db, again).values()) == {1}


def test_the_service_sweeps_in_the_background(
    db: Engine, scratch: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _flush(db, scratch)
    deliver_pending(db, LogNotifier())
    ids = _overdue(db, scratch, 3)
    quick = scratch.model_copy(update={"escalate_interval_s": 0.2})
    caplog.set_level(logging.INFO, logger="cases.lifecycle.notify")
    with TestClient(create_app(quick)):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 0 in _escalations(db, ids).values():
            time.sleep(0.2)
        while time.monotonic() < deadline and _pending(db, ids):
            time.sleep(0.2)
    assert set(_escalations(db, ids).values()) == {1}
    assert not _pending(db, ids)  # delivered through the log notifier
    lines = [r.getMessage() for r in caplog.records if r.name == "cases.lifecycle.notify"]
    assert any(f"case {ids[0]} escalated -> squad_leader" in line for line in lines)
    assert not any("陈小明" in line or "13812345678" in line for line in lines)


def _pending(db: Engine, ids: list[int]) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM notification "
                    "WHERE case_id = ANY(:i) AND delivered_at IS NULL"
                ),
                {"i": ids},
            ).scalar_one()
        )


class _Broken:
    channel = "sms"

    def send(self, notice: Notice) -> None:
        raise ConnectionError("gateway down")


def test_a_failed_delivery_stays_pending(db: Engine, scratch: Settings) -> None:
    _flush(db, scratch)
    deliver_pending(db, LogNotifier())
    ids = _overdue(db, scratch, 2)
    sweep(db, settings=scratch)
    assert deliver_pending(db, _Broken()) == 0
    with db.connect() as conn:
        rows: list[Any] = conn.execute(
            sa.text(
                "SELECT attempts, last_error, delivered_at FROM notification "
                "WHERE case_id = ANY(:i)"
            ),
            {"i": ids},
        ).all()
    assert [(r.attempts, r.last_error, r.delivered_at) for r in rows] == [
        (1, "ConnectionError", None)
    ] * 2
    assert deliver_pending(db, LogNotifier()) == 2
    assert _pending(db, ids) == 0
