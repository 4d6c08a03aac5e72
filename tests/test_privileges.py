"""Least privilege: the application's role holds exactly what migrations/rights.py declares.

The tests connect as that role (the `engine` fixture), as `grid serve` does;
the owner's engine looks at the catalogue from the other side.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis.db import rights
from gis.settings import Settings

RIGHTS = rights()


def test_app_role_is_not_the_owner_nor_a_superuser(engine: Engine, settings: Settings) -> None:
    with engine.connect() as conn:
        me, superuser, createdb, createrole = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user"
            )
        ).one()
        owns = conn.execute(
            sa.text("""
            SELECT c.relname FROM pg_class c
            WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
              AND c.relnamespace NOT IN (SELECT oid FROM pg_namespace
                                         WHERE nspname LIKE 'pg\\_%' ESCAPE '\\')""")
        ).all()
        member_of = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_auth_members "
                "WHERE member = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
            )
        ).scalar_one()
        owns_db = conn.execute(
            sa.text(
                "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).scalar_one()
    assert me == settings.app_role_name != settings.owner_role_name
    assert (superuser, createdb, createrole) == (False, False, False)
    assert owns == [] and owns_db is False and member_of == 0


def test_app_role_cannot_create_drop_or_alter(engine: Engine, sample_layout: int) -> None:
    refused = [
        "CREATE TABLE public.intruder (id int)",
        "DROP TABLE case_event",
        "ALTER TABLE case_file ADD COLUMN x int",
        "TRUNCATE case_file",
        "CREATE INDEX ON case_file (id)",
        "DELETE FROM case_event",
        "UPDATE case_event SET kind = kind",
        "DELETE FROM layout_generation",
        "DELETE FROM alembic_version",
        "CREATE SCHEMA intruder",
    ]
    for statement in refused:
        with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as caught:
            conn.execute(sa.text(statement))
        assert getattr(caught.value.orig, "pgcode", None) == "42501", statement  # insufficient


def test_app_role_holds_exactly_the_declared_rights(
    owner_engine: Engine, settings: Settings
) -> None:
    with owner_engine.connect() as conn:
        tables = RIGHTS.schema_tables(conn)
        partitions = RIGHTS.schema_tables(conn, partitions=True)
        held = {
            t: set(p)
            for t, p in conn.execute(
                sa.text("""
                SELECT table_name::text, array_agg(privilege_type::text)
                FROM information_schema.table_privileges
                WHERE grantee = :r AND table_schema = 'public' GROUP BY table_name"""),
                {"r": settings.app_role_name},
            )
        }
        functions = {
            f: conn.execute(
                sa.text(
                    "SELECT to_regprocedure(:f) IS NOT NULL "
                    "AND has_function_privilege(:r, to_regprocedure(:f), 'EXECUTE')"
                ),
                {"f": f, "r": settings.app_role_name},
            ).scalar_one()
            for f in RIGHTS.FUNCTIONS
        }
        database = conn.execute(
            sa.text("""
            SELECT array_agg(p ORDER BY p) FROM unnest(ARRAY['CONNECT', 'TEMPORARY', 'CREATE']) p
            WHERE has_database_privilege(:r, current_database(), p)"""),
            {"r": settings.app_role_name},
        ).scalar_one()
        schemas = {
            s: {
                p
                for p in ("USAGE", "CREATE")
                if conn.execute(
                    sa.text("SELECT has_schema_privilege(:r, :s, :p)"),
                    {"r": settings.app_role_name, "s": s, "p": p},
                ).scalar_one()
            }
            for s in RIGHTS.SCHEMAS
        }
    assert set(tables) == set(RIGHTS.TABLES), (
        "every table of the schema has exactly one line in migrations/rights.py"
    )
    declared = {t: RIGHTS.privileges(spec) for t, spec in RIGHTS.TABLES.items()}
    assert {t: held.get(t, set()) for t in tables} == declared
    assert all(held.get(p, set()) == set() for p in partitions), "partitions: via the parent"
    assert functions == dict.fromkeys(RIGHTS.FUNCTIONS, True), "each declared function exists"
    assert set(database) == RIGHTS.privileges(RIGHTS.DATABASE)
    assert schemas == {s: RIGHTS.privileges(p) for s, p in RIGHTS.SCHEMAS.items()}


def test_sequences_only_where_the_app_inserts(owner_engine: Engine, settings: Settings) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT t.relname, has_sequence_privilege(:r, s.oid, 'USAGE'),
                   has_sequence_privilege(:r, s.oid, 'UPDATE')
            FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
            JOIN pg_class t ON t.oid = d.refobjid
            WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace"""),
            {"r": settings.app_role_name},
        ).all()
    assert rows, "the schema has serial ids"
    for table, usage, update in rows:
        assert usage == ("INSERT" in RIGHTS.privileges(RIGHTS.TABLES[table])), table
        assert update is False, table


def test_reapplying_the_rights_changes_nothing(owner_engine: Engine, settings: Settings) -> None:
    query = sa.text(
        "SELECT relname, relacl::text FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace ORDER BY 1"
    )
    with owner_engine.connect() as conn:
        before = conn.execute(query).all()
    with owner_engine.begin() as conn:
        RIGHTS.apply(conn, settings.app_role_name, settings.owner_role_name)
    with owner_engine.connect() as conn:
        assert conn.execute(query).all() == before


def test_analyze_goes_through_the_owner_function(
    engine: Engine, sample_layout: int, caplog: pytest.LogCaptureFixture
) -> None:
    """ANALYZE is for owners: plainly the server skips it with a warning; gis.db.analyze
    refreshes the statistics of schema tables and of the session's own tables."""
    from gis.db import analyze

    def warnings() -> list[str]:  # the server's notices, as SQLAlchemy logs them
        return [r.getMessage() for r in caplog.records if "WARNING" in r.getMessage()]

    caplog.set_level(logging.INFO, logger="sqlalchemy.dialects.postgresql")
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE grid_cell"))
        assert any("skipping" in w for w in warnings())
        caplog.clear()
        conn.execute(sa.text("CREATE TEMP TABLE scratch_points (id int)"))
        analyze(conn, "grid_cell", "scratch_points")
        assert warnings() == []
        not_ours = "not a table of the schema public"
        with pytest.raises(sa.exc.SQLAlchemyError, match=not_ours), conn.begin_nested():
            conn.execute(sa.text("SELECT cg_analyze('pg_catalog.pg_class'::regclass)"))


@pytest.mark.skipif(
    bool(Settings().database_url), reason="the project's own server only (DATABASE_URL is set)"
)
def test_tcp_without_a_password_is_refused(settings: Settings) -> None:
    for role in (settings.app_role, settings.owner_role, settings.pg_user):
        bare = sa.create_engine(
            f"postgresql+psycopg2://{role}@127.0.0.1:{settings.pg_port}/{settings.database}"
        )
        with pytest.raises(sa.exc.OperationalError, match="password"):
            bare.connect().close()
        bare.dispose()
    wrong = sa.create_engine(
        f"postgresql+psycopg2://{settings.app_role}:wrong@127.0.0.1:{settings.pg_port}/"
        f"{settings.database}"
    )
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        wrong.connect().close()
    wrong.dispose()
