"""Engines, the database itself, and migrations.

One engine per URL per process (SQLAlchemy pools connections). `get_engine`
connects as the application's role. `ensure_database` creates the database and
the PostGIS extension when missing, and `migrate` runs Alembic to every head
and applies the application role's rights: both as the owner role, both
idempotent, so `make setup` can run them every time.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import ModuleType

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from gis.settings import ROOT, Settings, get_settings

MIGRATIONS = ROOT / "migrations"


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message says what to do."""


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def get_engine(settings: Settings | None = None) -> Engine:
    """The pooled engine for the project's database."""
    return _engine_for((settings or get_settings()).url_for())


def ensure_database(settings: Settings | None = None) -> bool:
    """Create the database and the postgis extension if missing; True if created.

    Runs as the owner role, which creates the database and so owns it. On the
    project's server, what only a superuser may do (the postgis extension,
    taking over a database made before the roles existed) goes through the
    Unix socket; on another server the message says what to ask its admin.
    """
    settings = settings or get_settings()
    url = make_url(settings.owner_url_for())
    name = url.database or settings.database
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    created = False
    try:
        with admin.connect() as conn:
            owner = conn.execute(
                sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
                {"n": name},
            ).scalar()
            if owner is None:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                created = True
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {url.render_as_string(hide_password=True)} as the "
            f"owner: {str(exc.orig).strip()}. Run `make setup` or `grid db start` (they make "
            "the roles and var/secrets.env), or set CG_OWNER_DATABASE_URL."
        ) from exc
    finally:
        admin.dispose()
    if settings.managed_cluster and owner not in (None, settings.owner_role_name):
        _adopt(settings, name)
    _ensure_postgis(settings, url)
    return created


def _adopt(settings: Settings, name: str) -> None:
    """Hand a database made before the roles existed to the owner role."""
    from gis.pgserver import superuser_sql

    role = settings.owner_role_name
    superuser_sql(settings, f'ALTER DATABASE "{name}" OWNER TO "{role}"')
    superuser_sql(
        settings,
        f"""
        DO $$ DECLARE r record; BEGIN
          FOR r IN
            SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND c.relowner <> '"{role}"'::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
            ORDER BY c.relkind = 'S'
          LOOP
            EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, '{role}');
          END LOOP;
        END $$""",
        database=name,
    )


def _ensure_postgis(settings: Settings, url: sa.URL) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            have = sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            if conn.execute(have).first():
                return
            try:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
                return
            except sa.exc.ProgrammingError as exc:
                if getattr(exc.orig, "pgcode", None) != "42501":  # insufficient_privilege
                    raise
    finally:
        engine.dispose()
    if not settings.managed_cluster:
        raise DatabaseUnavailable(
            f"the postgis extension is missing in {url.database} and {url.username} may not "
            f"create it: ask the server's admin to run `CREATE EXTENSION postgis` there"
        )
    from gis.pgserver import superuser_sql

    superuser_sql(settings, "CREATE EXTENSION IF NOT EXISTS postgis", database=str(url.database))


def drop_database(settings: Settings, name: str) -> None:
    """Drop a database as the owner (tests and benchmarks drop what they made).

    On the project's server, a database made before the roles existed (owned
    by the superuser) is dropped through the Unix socket.
    """
    admin = sa.create_engine(
        make_url(settings.owner_url_for()).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            owner = conn.execute(
                sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
                {"n": name},
            ).scalar()
            if owner is None:
                return
            if owner != settings.owner_role_name and settings.managed_cluster:
                from gis.pgserver import superuser_sql

                superuser_sql(settings, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            _drop(conn, name)
    finally:
        admin.dispose()


def _drop(conn: sa.Connection, name: str) -> None:
    """End the sessions this role may end on database `name`, then DROP it.

    Not `WITH (FORCE)`: that refuses when an autovacuum worker happens to be on the
    database (the owner may not signal it), whereas a plain DROP stops autovacuum
    itself and waits a few seconds for sessions that are closing.
    """
    conn.execute(
        sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :n AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND pg_has_role(current_user, usesysid, 'USAGE')"
        ),
        {"n": name},
    )
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


def alembic_config(url: str) -> Config:
    """An Alembic configuration bound to `url`, independent of the working folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings | None = None, revision: str = "heads") -> None:
    """Upgrade the schema to `revision` as the owner, then apply the app role's rights.

    The rights are declared in migrations/rights.py (loaded by path, as Alembic
    loads the migrations) and applied after every upgrade, idempotently.
    """
    settings = settings or get_settings()
    url = settings.owner_url_for()
    command.upgrade(alembic_config(url), revision)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            rights().apply(conn, settings.app_role_name, settings.owner_role_name)
    finally:
        engine.dispose()


def rights() -> ModuleType:
    """migrations/rights.py: the application role's rights, table by table."""
    spec = importlib.util.spec_from_file_location("cg_rights", MIGRATIONS / "rights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def analyze(conn: Connection, *tables: str) -> None:
    """Refresh the planner's statistics of `tables` after a big write.

    ANALYZE is for a table's owner: tables of the schema (owned by the owner
    role) go through `cg_analyze` (migrations/rights.py), the session's own
    temporary tables are analysed directly.
    """
    for table in tables:
        name, mine = conn.execute(
            sa.text(
                "SELECT CAST(CAST(:t AS regclass) AS text), "
                "pg_has_role(c.relowner, 'USAGE') FROM pg_class c "
                "WHERE c.oid = CAST(:t AS regclass)"
            ),
            {"t": table},
        ).one()
        if mine:
            conn.exec_driver_sql(f"ANALYZE {name}")
        else:
            conn.execute(sa.text("SELECT cg_analyze(CAST(:t AS regclass))"), {"t": table})


def ping(engine: Engine) -> bool:
    """True when the database answers `SELECT 1`."""
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1
    except sa.exc.SQLAlchemyError:
        return False
