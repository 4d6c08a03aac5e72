"""Prepared hot statements (gis.prepared): planned once per connection, read as text() reads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis.prepared import execute_prepared, prepared_form
from gis.settings import Settings, get_settings


def _count(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())


def test_plans_once_and_binds_by_name(engine: Engine) -> None:
    stmt = sa.text("SELECT CAST(:a AS int) + CAST(:b AS int) AS s, CAST(:a AS text) || 'x' AS t")
    with engine.connect() as conn:
        before = _count(conn)
        first = execute_prepared(conn, stmt, {"a": 2, "b": 3}).mappings().one()
        conn.rollback()  # a prepared statement outlives the transaction it was made in
        second = execute_prepared(conn, stmt, {"b": 1, "a": 5}).mappings().one()
        after = _count(conn)
    assert (first["s"], first["t"]) == (5, "2x")
    assert (second["s"], second["t"]) == (6, "5x")
    assert after == before + 1


def test_colons_in_literals_comments_and_casts_are_not_binds(engine: Engine) -> None:
    """Only a `:name` outside literals, quoted names, dollar quotes and comments binds."""
    stmt = sa.text(
        "SELECT ' :no' AS plain, 'it''s :no' AS doubled, E'\\' :no' AS escaped, "
        "$$ :no $$ AS dollar, $t$ :no $t$ AS tagged, '12:30' AS clock, "
        "'1'::int + CAST(:n AS int) AS n, CAST(:n AS int) * 2 AS twice "
        "-- :no\n /* :no /* :no */ :no */"
    )
    with engine.connect() as conn:
        got = execute_prepared(conn, stmt, {"n": 41}).mappings().one()
    assert dict(got) == {
        "plain": " :no",
        "doubled": "it's :no",
        "escaped": "' :no",
        "dollar": " :no ",
        "tagged": " :no ",
        "clock": "12:30",
        "n": 42,
        "twice": 82,
    }
    _, body, names = prepared_form(stmt)
    assert names == ("n",) and body.count("$1") == 2


def test_a_missing_value_is_an_error_not_a_null(engine: Engine) -> None:
    stmt = sa.text("SELECT CAST(:x AS int) + CAST(:y AS int)")
    with engine.connect() as conn, pytest.raises(sa.exc.ArgumentError, match="y"):
        execute_prepared(conn, stmt, {"x": 1})


def test_off_behind_a_transaction_pooler(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CG_PREPARED_STATEMENTS=false (PgBouncer in transaction mode): run plainly."""
    monkeypatch.setenv("CG_PREPARED_STATEMENTS", "false")
    get_settings.cache_clear()
    try:
        stmt = sa.text("SELECT CAST(:v AS int) * 2 AS doubled, 'off' AS mode")
        with engine.connect() as conn:
            before = _count(conn)
            got = execute_prepared(conn, stmt, {"v": 21}).scalar_one()
            after = _count(conn)
        assert got == 42 and after == before
    finally:
        monkeypatch.delenv("CG_PREPARED_STATEMENTS")
        get_settings.cache_clear()
