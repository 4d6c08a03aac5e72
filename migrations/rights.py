"""What the application's role may do: one line per table, and nothing else.

The owner role (`cg_owner`, or the user of CG_OWNER_DATABASE_URL) runs the
migrations and owns every table. The application's role (`cg_app`, or the user
of DATABASE_URL), used by `grid serve`, the CLI's everyday commands and the
tests, is not a superuser, owns nothing, and holds exactly the rights below.
`gis.db.migrate()` applies them as the owner after every upgrade, in one
transaction and idempotently: for each table it revokes everything, then grants
what its line says. tests/test_privileges.py checks that every table of the
schema has a line, that every line has a table, and that the role holds
exactly these rights.

Adding a table? Add ONE line to TABLES, in the migration's commit, naming the
privileges the code uses and, in the comment, who uses them:

    "my_table": "SELECT, INSERT",  # cases.foo: files X; the API reads them

Privileges: SELECT, INSERT, UPDATE, DELETE, TRUNCATE ("" for none). INSERT ...
RETURNING and ON CONFLICT need SELECT; ON CONFLICT DO UPDATE needs UPDATE. A
table with INSERT also gets USAGE on the sequences of its own columns (serial
ids). Partitions get nothing: rows reach them through their parent, whose
rights are checked. Run-time DDL (making and attaching partitions, ANALYZE of
a schema table) goes through functions of the owner (SECURITY DEFINER) listed
in FUNCTIONS, never through rights on the tables themselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

TABLES: dict[str, str] = {
    # Layouts: `grid load`, `grid layout activate`, the sample load (gis.layout).
    "layout_generation": "SELECT, INSERT, UPDATE",
    "district": "SELECT, INSERT",
    "district_part": "SELECT, INSERT",
    "subdistrict": "SELECT, INSERT",
    "community": "SELECT, INSERT",
    "grid_cell": "SELECT, INSERT",
    # Derived lattice of a layout, built on first use (gis.locate.ensure_lattice).
    "locate_lattice": "SELECT, INSERT, DELETE",
    # Organisation: `grid org load` upserts (gis.organisation); officers retire.
    "squad": "SELECT, INSERT, UPDATE",
    "squad_community": "SELECT, INSERT, UPDATE",
    "station": "SELECT, INSERT, UPDATE",
    "officer": "SELECT, INSERT, UPDATE",
    "department": "SELECT, INSERT, UPDATE",
    "grid_department": "SELECT, INSERT, DELETE",
    # The workflow (cases.intake, cases.bulk): cases change, events are only added.
    "case_file": "SELECT, INSERT, UPDATE",
    "case_event": "SELECT, INSERT",
    # Notifications of the case lifecycle (cases.lifecycle): queued, then marked sent.
    "notification": "SELECT, INSERT, UPDATE",
    # Manual ledgers (cases.ledgers): every change is a new version, never an UPDATE.
    "ledger_entry": "SELECT, INSERT",
    # Open311 keys (`grid apikey create|revoke`) and idempotent retries.
    "api_key": "SELECT, INSERT, UPDATE",
    "idempotency_record": "SELECT, INSERT, UPDATE",
    # Bulk assignment (cases.bulk): the staged points, taken whole by TRUNCATE.
    "bulk_point": "SELECT, INSERT, TRUNCATE",
    # Accounts and login (cases.accounts: `grid user`, the login throttle).
    "account": "SELECT, INSERT, UPDATE",
    "login_throttle": "SELECT, INSERT, UPDATE, DELETE",
    # Stations' work (cases.stations: `grid duty`, patrols, frontage checks).
    "frontage_unit": "SELECT, INSERT, UPDATE",
    "duty_shift": "SELECT, INSERT, UPDATE",
    "duty_check": "SELECT, INSERT",
    "patrol": "SELECT, INSERT",
    "patrol_grid": "SELECT, INSERT",
    "patrol_finding": "SELECT, INSERT, UPDATE",
    "frontage_check": "SELECT, INSERT",
    # Alembic's bookkeeping: the owner's alone.
    "alembic_version": "",
}

SCHEMAS: dict[str, str] = {
    "public": "USAGE",  # never CREATE: the application makes no table of its own
}

DATABASE = "CONNECT, TEMPORARY"
"""Connecting, and temporary tables (set-based locating writes its results there)."""

FUNCTIONS: dict[str, str] = {
    # ANALYZE of a schema table after a big write (gis.db.analyze); made below.
    "cg_analyze(regclass)": "EXECUTE",
    # A bulk load's own partitions: made, then indexed and attached (0005).
    "case_batch_open(bigint)": "EXECUTE",
    "case_batch_close(bigint)": "EXECUTE",
}

_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"}

_ANALYZE = """
CREATE OR REPLACE FUNCTION cg_analyze(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- Only ANALYZE (what autovacuum does anyway), only tables of the schema.
  IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.oid = tbl AND n.nspname = 'public' AND c.relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION 'cg_analyze: % is not a table of the schema public', tbl;
  END IF;
  EXECUTE format('ANALYZE %s', tbl);
END $$"""


def privileges(spec: str) -> set[str]:
    """The privileges of a line: "SELECT, INSERT" -> {"SELECT", "INSERT"}."""
    words = {w.strip().upper() for w in spec.split(",") if w.strip()}
    unknown = words - _PRIVILEGES - {"USAGE", "CREATE", "CONNECT", "TEMPORARY", "EXECUTE"}
    if unknown:
        raise ValueError(f"unknown privileges {sorted(unknown)} in {spec!r}")
    return words


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_tables(conn: Connection, partitions: bool = False) -> list[str]:
    """The project's tables in the schema public (not an extension's; partitions
    only when asked)."""
    return list(
        conn.execute(
            sa.text("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND c.relispartition = :partitions
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype = 'e')
            ORDER BY 1"""),
            {"partitions": partitions},
        ).scalars()
    )


def apply(conn: Connection, app_role: str, owner_role: str) -> None:
    """Make the application role's rights exactly those declared here.

    Runs as the owner, inside the caller's transaction. With a single role
    (only DATABASE_URL given) there is nothing to grant or revoke.
    """
    conn.execute(sa.text(_ANALYZE))
    if app_role == owner_role:
        return
    exists = sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r")
    if conn.execute(exists, {"r": app_role}).first() is None:
        raise RuntimeError(
            f"the application's role {app_role!r} does not exist: create it "
            "(README, Database roles), or run `grid db start` on the project's server"
        )
    app = _q(app_role)
    database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    statements = [
        f"REVOKE ALL ON DATABASE {_q(database)} FROM PUBLIC, {app}",
        f"GRANT {', '.join(sorted(privileges(DATABASE)))} ON DATABASE {_q(database)} TO {app}",
    ]
    for schema, spec in SCHEMAS.items():
        statements += [
            f"REVOKE ALL ON SCHEMA {_q(schema)} FROM PUBLIC, {app}",
            f"GRANT {', '.join(sorted(privileges(spec)))} ON SCHEMA {_q(schema)} TO {app}",
        ]
    statements.append(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, {app}")
    for partition in schema_tables(conn, partitions=True):
        statements.append(f"REVOKE ALL ON TABLE {_q(partition)} FROM PUBLIC, {app}")
    for table in schema_tables(conn):
        statements.append(f"REVOKE ALL ON TABLE {_q(table)} FROM PUBLIC, {app}")
        granted = privileges(TABLES.get(table, ""))
        if granted:
            statements.append(f"GRANT {', '.join(sorted(granted))} ON TABLE {_q(table)} TO {app}")
        if "INSERT" in granted:
            for seq in conn.execute(
                sa.text("""
                SELECT DISTINCT s.oid::regclass::text FROM pg_depend d
                JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                WHERE d.refobjid = CAST(:t AS regclass) AND d.deptype IN ('a', 'i')"""),
                {"t": _q(table)},
            ).scalars():
                statements.append(f"GRANT USAGE ON SEQUENCE {seq} TO {app}")
    for function, spec in FUNCTIONS.items():
        if conn.execute(sa.text("SELECT to_regprocedure(:f)"), {"f": function}).scalar() is None:
            continue  # made by a migration not applied yet
        statements += [
            f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC, {app}",
            f"GRANT {', '.join(sorted(privileges(spec)))} ON FUNCTION {function} TO {app}",
        ]
    for statement in statements:
        conn.execute(sa.text(statement))
