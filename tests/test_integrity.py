"""Integrity in the database itself: foreign keys, and events that cannot be changed.

Events are append-only for every role: a trigger (ENABLE ALWAYS, so even a
replication session fires it) refuses UPDATE, DELETE and TRUNCATE on
case_event and on each of its partitions, whoever asks; a role without the
UPDATE/DELETE grant is refused before the trigger is reached.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.intake import ComplaintIn, submit_complaint
from gis.settings import Settings


@pytest.fixture
def case_id(engine: Engine, settings: Settings, conn: Connection) -> int:
    """A case with its events, in a grid."""
    lon, lat = conn.execute(
        sa.text("""
        SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grid_cell g
        JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
        ORDER BY g.code OFFSET 123 LIMIT 1""")
    ).one()
    complaint = ComplaintIn(lon=lon, lat=lat, subclass="0203", description=uuid.uuid4().hex)
    return submit_complaint(engine, complaint, settings=settings).id


def _sqlstate(exc: sa.exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "pgcode", ""))


def test_an_event_needs_its_case(engine: Engine, sample_layout: int) -> None:
    with engine.connect() as c, pytest.raises(sa.exc.IntegrityError) as err:
        c.execute(
            sa.text("INSERT INTO case_event (case_id, kind, actor) VALUES (:c, 'note', 'test')"),
            {"c": 2**39},
        )
    assert "case_event_case_id_fkey" in str(err.value)


def test_a_case_needs_its_grid_row(engine: Engine, case_id: int) -> None:
    with engine.connect() as c, pytest.raises(sa.exc.IntegrityError) as err:
        c.execute(
            sa.text("""
            INSERT INTO case_file (token, status, subclass_code, tier, description, address,
                                   source, locate_method, reported_at, grid_cell_id)
            SELECT 'fk' || :t, status, subclass_code, tier, '', '', 'test', 'contained',
                   reported_at, 2000000000 FROM case_file WHERE id = :i"""),
            {"t": uuid.uuid4().hex[:12], "i": case_id},
        )
    assert "case_file_grid_cell_id_fkey" in str(err.value)


@pytest.mark.parametrize("role", ["app", "owner"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE case_event SET kind = 'changed' WHERE case_id = :i",
        "UPDATE case_event SET data = '{}' WHERE case_id = :i",
        "DELETE FROM case_event WHERE case_id = :i",
        "TRUNCATE case_event",
        "TRUNCATE case_event_part_live",
    ],
)
def test_events_cannot_be_changed_or_removed(
    engine: Engine, owner_engine: Engine, case_id: int, statement: str, role: str
) -> None:
    """The application's role holds no such right; the owner, who holds every right on
    its tables, is stopped by the trigger itself."""
    who = engine if role == "app" else owner_engine
    with engine.connect() as c:
        before = c.execute(
            sa.text("SELECT kind, data FROM case_event WHERE case_id = :i ORDER BY id"),
            {"i": case_id},
        ).all()
    with who.connect() as c, pytest.raises(sa.exc.DBAPIError) as err:
        c.execute(sa.text(statement), {"i": case_id})
    with engine.connect() as c:
        after = c.execute(
            sa.text("SELECT kind, data FROM case_event WHERE case_id = :i ORDER BY id"),
            {"i": case_id},
        ).all()
    if role == "app":  # no UPDATE, DELETE or TRUNCATE grant (migrations/rights.py)
        assert _sqlstate(err.value) == "42501", err.value
    else:
        assert _sqlstate(err.value) == "23001" and "append-only" in str(err.value), err.value
    assert before == after and len(before) >= 3


def test_the_trigger_is_on_every_partition_and_fires_always(
    engine: Engine, owner_engine: Engine, settings: Settings, case_id: int, tmp_path: Path
) -> None:
    """Bulk loads attach partitions of their own: the trigger is there too, ENABLE ALWAYS
    (it fires even in a replication session), and the owner cannot delete their events."""
    from cases.bulk import assign_file

    path = tmp_path / f"batch-{uuid.uuid4().hex[:8]}.csv"
    path.write_text(
        "lon,lat,subclass,reported_at,address\n,,0101,2025-06-01T08:00:00+08:00,北街\n",
        encoding="utf-8",
    )
    one_row = settings.model_copy(update={"bulk_partition_rows": 1})
    result = assign_file(engine, path, "wgs84", settings=one_row)
    assert result.partition is not None
    with owner_engine.connect() as c:
        triggers = c.execute(
            sa.text("""
            SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname IN ('case_event_append_only', 'case_event_no_truncate')""")
        ).all()
        partitions = set(
            c.execute(
                sa.text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'case_event'::regclass"
                )
            ).scalars()
        )
        batch_events = result.partition.replace("case_file_", "case_event_")
        assert batch_events in partitions and "case_event_part_live" in partitions
        for table in partitions | {"case_event"}:
            kinds = {r.tgname for r in triggers if r.relname == table}
            assert kinds == {"case_event_append_only", "case_event_no_truncate"}, table
        assert {r.tgenabled for r in triggers} == {"A"}  # ENABLE ALWAYS
        with pytest.raises(sa.exc.DBAPIError) as err:
            c.execute(sa.text(f"DELETE FROM {batch_events}"))
        assert _sqlstate(err.value) == "23001"


def test_new_sessions_plan_repeated_statements_once(engine: Engine, sample_layout: int) -> None:
    """The foreign-key checks against partitioned case_file are not planned per row."""
    with engine.connect() as c:
        assert c.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "force_generic_plan"
