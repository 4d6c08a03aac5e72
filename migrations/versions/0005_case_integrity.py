"""cases: foreign keys back, append-only events, partitions for bulk loads

Revision ID: 0005_case_integrity
Revises: 0004
Create Date: 2026-11-25 09:00:00

- `case_file` and `case_event` become partitioned by case id (RANGE). The rows
  so far, and every case filed one at a time, live in the partitions
  `case_file_part_live` and `case_event_part_live` (ids below 2^40). A bulk
  load of many rows gets partitions of its own (ids from `case_batch_seq`, a
  block of 2^24 per load): `case_batch_open` makes them, the load COPYs into
  them, `case_batch_close` indexes them after the load and attaches them,
  which checks every foreign key once, set-based, instead of once per row.
  Both functions run as the schema's owner (SECURITY DEFINER): the
  application's role owns no table and still never needs to.
- Foreign keys: case_event.case_id -> case_file.id, case_file.grid_cell_id ->
  grid_cell.id (and master_id, api_key_id as before, now on the parent).
- `case_event` is append-only in the database: a trigger refuses UPDATE,
  DELETE and TRUNCATE for every role (ENABLE ALWAYS: also under
  session_replication_role = replica).
- Tracking tokens are unique per partition (a unique index on each); a unique
  index over a partitioned table must contain its partition key. Tokens are
  random (96 or 120 bits) and the two kinds differ in length.
- `bulk_point`, an unlogged table where `grid assign` stages the points it
  locates (readable by parallel workers, unlike a temporary table).

The SQL of the two batch functions is kept here, as written at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_case_integrity"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_END = 2**40  # ids below this: the live partitions (case_file_id_seq)
BATCH_SPAN = 2**24  # ids per bulk load (a batch's partitions)

_BATCH_FUNCTIONS = f"""
CREATE FUNCTION case_batch_open(n bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    base bigint;
    part text;
BEGIN
    IF n IS NULL OR n < 1 OR n > {BATCH_SPAN} THEN
        RAISE EXCEPTION 'a batch holds 1 to {BATCH_SPAN} cases, not %', n;
    END IF;
    base := nextval('public.case_batch_seq');
    part := lpad(((base - {LIVE_END}) / {BATCH_SPAN} + 1)::text, 6, '0');
    EXECUTE format(
        'CREATE TABLE public.%I (LIKE public.case_file INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
        ' CONSTRAINT %I CHECK (id >= %s AND id < %s))',
        'case_file_part_b' || part, 'case_file_part_b' || part || '_range',
        base, base + {BATCH_SPAN});
    EXECUTE format(
        'CREATE TABLE public.%I (LIKE public.case_event INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
        ' CONSTRAINT %I CHECK (case_id >= %s AND case_id < %s))',
        'case_event_part_b' || part, 'case_event_part_b' || part || '_range',
        base, base + {BATCH_SPAN});
    IF session_user <> current_user THEN  -- the caller loads them; the owner has all rights
        EXECUTE format('GRANT INSERT ON public.%I, public.%I TO %I',
            'case_file_part_b' || part, 'case_event_part_b' || part, session_user);
    END IF;
    RETURN base;
END
$fn$;

CREATE FUNCTION case_batch_close(base bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    part text;
    cf text;
    ce text;
    t timestamptz := clock_timestamp();
BEGIN
    IF base IS NULL OR base < {LIVE_END} OR (base - {LIVE_END}) % {BATCH_SPAN} <> 0 THEN
        RAISE EXCEPTION 'not the base of a batch: %', base;
    END IF;
    part := lpad(((base - {LIVE_END}) / {BATCH_SPAN} + 1)::text, 6, '0');
    cf := 'case_file_part_b' || part;
    ce := 'case_event_part_b' || part;
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                   WHERE s.nspname = 'public' AND c.relname = cf AND NOT c.relispartition)
       OR NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                      WHERE s.nspname = 'public' AND c.relname = ce AND NOT c.relispartition)
    THEN
        RAISE EXCEPTION 'batch % is not open', base;
    END IF;
    -- The indexes the parents have (attached, not built again) and the token's own.
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (id)', cf, cf || '_pkey');
    EXECUTE format('CREATE UNIQUE INDEX %I ON public.%I (token)', cf || '_token_key', cf);
    EXECUTE format('CREATE INDEX %I ON public.%I (subclass_code, reported_at)',
        cf || '_subclass_reported_idx', cf);
    EXECUTE format('CREATE INDEX %I ON public.%I (reported_at)', cf || '_reported_idx', cf);
    EXECUTE format('CREATE INDEX %I ON public.%I (master_id) WHERE master_id IS NOT NULL',
        cf || '_master_idx', cf);
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (case_id, id)',
        ce, ce || '_pkey');
    -- Steps and their seconds, for a client that asks (SET client_min_messages = debug1).
    RAISE DEBUG 'case_batch_close index %', extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    EXECUTE format('ANALYZE public.%I', cf);
    EXECUTE format('ANALYZE public.%I', ce);
    RAISE DEBUG 'case_batch_close analyze %', extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    -- Attaching checks the foreign keys of the new rows, one query each.
    EXECUTE format('ALTER TABLE public.case_file ATTACH PARTITION public.%I'
        ' FOR VALUES FROM (%s) TO (%s)', cf, base, base + {BATCH_SPAN});
    RAISE DEBUG 'case_batch_close attach_cases %', extract(epoch FROM clock_timestamp() - t);
    t := clock_timestamp();
    EXECUTE format('ALTER TABLE public.case_event ATTACH PARTITION public.%I'
        ' FOR VALUES FROM (%s) TO (%s)', ce, base, base + {BATCH_SPAN});
    RAISE DEBUG 'case_batch_close attach_events %', extract(epoch FROM clock_timestamp() - t);
    EXECUTE format('ALTER TABLE public.%I ENABLE ALWAYS TRIGGER case_event_append_only', ce);
    EXECUTE format('CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON public.%I'
        ' FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()', ce);
    EXECUTE format('ALTER TABLE public.%I ENABLE ALWAYS TRIGGER case_event_no_truncate', ce);
    IF session_user <> current_user THEN  -- rows reach partitions through their parents
        EXECUTE format('REVOKE ALL ON public.%I, public.%I FROM %I', cf, ce, session_user);
    END IF;
END
$fn$;

REVOKE ALL ON FUNCTION case_batch_open(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION case_batch_close(bigint) FROM PUBLIC;
"""


def upgrade() -> None:
    ex = op.execute
    # ---- case_file: the table so far becomes the live partition of a new parent.
    ex("ALTER TABLE case_file RENAME TO case_file_part_live")
    ex(
        "ALTER TABLE case_file_part_live "
        "RENAME CONSTRAINT case_file_pkey TO case_file_part_live_pkey"
    )
    ex(
        "ALTER TABLE case_file_part_live "
        "RENAME CONSTRAINT case_file_token_key TO case_file_part_live_token_key"
    )
    ex("ALTER TABLE case_file_part_live DROP CONSTRAINT case_file_master_id_fkey")
    ex("ALTER TABLE case_file_part_live DROP CONSTRAINT case_file_api_key_id_fkey")
    for name in ("case_subclass_reported_idx", "case_reported_idx", "case_master_idx"):
        ex(f"ALTER INDEX {name} RENAME TO case_file_part_live_{name.removeprefix('case_')}")
    ex(
        "CREATE TABLE case_file (LIKE case_file_part_live INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS) PARTITION BY RANGE (id)"
    )
    ex("ALTER SEQUENCE case_file_id_seq OWNED BY case_file.id")
    ex(
        "ALTER TABLE case_file_part_live ADD CONSTRAINT case_file_part_live_range "
        f"CHECK (id < {LIVE_END})"
    )
    ex(
        "ALTER TABLE case_file ATTACH PARTITION case_file_part_live "
        f"FOR VALUES FROM (MINVALUE) TO ({LIVE_END})"
    )
    ex("ALTER TABLE case_file ADD CONSTRAINT case_file_pkey PRIMARY KEY (id)")
    ex("CREATE INDEX case_subclass_reported_idx ON case_file (subclass_code, reported_at)")
    ex("CREATE INDEX case_reported_idx ON case_file (reported_at)")
    ex("CREATE INDEX case_master_idx ON case_file (master_id) WHERE master_id IS NOT NULL")
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_file_master_id_fkey "
        "FOREIGN KEY (master_id) REFERENCES case_file (id)"
    )
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_file_api_key_id_fkey "
        "FOREIGN KEY (api_key_id) REFERENCES api_key (id)"
    )
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_file_grid_cell_id_fkey "
        "FOREIGN KEY (grid_cell_id) REFERENCES grid_cell (id)"
    )

    # ---- case_event: the same, keyed (case_id, id), with its foreign key.
    ex("ALTER TABLE case_event RENAME TO case_event_part_live")
    ex("DROP INDEX case_event_case_idx")
    ex(
        "CREATE TABLE case_event (LIKE case_event_part_live INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS) PARTITION BY RANGE (case_id)"
    )
    ex("ALTER SEQUENCE case_event_id_seq OWNED BY case_event.id")
    ex(
        "ALTER TABLE case_event_part_live ADD CONSTRAINT case_event_part_live_range "
        f"CHECK (case_id < {LIVE_END})"
    )
    ex(
        "ALTER TABLE case_event ATTACH PARTITION case_event_part_live "
        f"FOR VALUES FROM (MINVALUE) TO ({LIVE_END})"
    )
    ex("ALTER TABLE case_event_part_live DROP CONSTRAINT case_event_pkey")
    ex("ALTER TABLE case_event ADD CONSTRAINT case_event_pkey PRIMARY KEY (case_id, id)")
    ex(
        "ALTER TABLE case_event ADD CONSTRAINT case_event_case_id_fkey "
        "FOREIGN KEY (case_id) REFERENCES case_file (id)"
    )

    # ---- append-only events, for every role.
    ex("""
    CREATE FUNCTION case_event_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        RAISE EXCEPTION 'case_event is append-only: % is refused', TG_OP
            USING ERRCODE = 'restrict_violation',
                  HINT = 'a correction is a new event; events are never changed or removed';
    END
    $fn$""")
    ex(
        "CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
        "FOR EACH ROW EXECUTE FUNCTION case_event_append_only()"
    )
    ex("ALTER TABLE case_event ENABLE ALWAYS TRIGGER case_event_append_only")
    ex("ALTER TABLE case_event_part_live ENABLE ALWAYS TRIGGER case_event_append_only")
    for table in ("case_event", "case_event_part_live"):
        ex(
            f"CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION case_event_append_only()"
        )
        ex(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER case_event_no_truncate")

    # ---- bulk loads: the batch sequence and functions, the staging table.
    ex(
        f"CREATE SEQUENCE case_batch_seq AS bigint MINVALUE {LIVE_END} START {LIVE_END} "
        f"INCREMENT {BATCH_SPAN} NO CYCLE"
    )
    ex(_BATCH_FUNCTIONS)
    ex(
        "CREATE UNLOGGED TABLE bulk_point (id bigint NOT NULL, geom geometry(Point, 4326)) "
        "WITH (autovacuum_enabled = off)"
    )


def downgrade() -> None:
    ex = op.execute
    ex("DROP TABLE bulk_point")
    ex("DROP FUNCTION case_batch_close(bigint)")
    ex("DROP FUNCTION case_batch_open(bigint)")
    ex("DROP SEQUENCE case_batch_seq")

    # case_event: one plain table again (bulk partitions folded in).
    ex("ALTER SEQUENCE case_event_id_seq OWNED BY NONE")
    ex("CREATE TABLE case_event_flat (LIKE case_event INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    ex("INSERT INTO case_event_flat SELECT * FROM case_event")
    ex("DROP TABLE case_event")
    ex("DROP FUNCTION case_event_append_only()")
    ex("ALTER TABLE case_event_flat RENAME TO case_event")
    ex("ALTER TABLE case_event ADD CONSTRAINT case_event_pkey PRIMARY KEY (id)")
    ex("CREATE INDEX case_event_case_idx ON case_event (case_id, at)")
    ex("ALTER SEQUENCE case_event_id_seq OWNED BY case_event.id")

    # case_file: likewise.
    ex("ALTER SEQUENCE case_file_id_seq OWNED BY NONE")
    ex("CREATE TABLE case_file_flat (LIKE case_file INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    ex("INSERT INTO case_file_flat SELECT * FROM case_file")
    ex("DROP TABLE case_file")
    ex("ALTER TABLE case_file_flat RENAME TO case_file")
    ex("ALTER TABLE case_file ADD CONSTRAINT case_file_pkey PRIMARY KEY (id)")
    ex("ALTER TABLE case_file ADD CONSTRAINT case_file_token_key UNIQUE (token)")
    ex("CREATE INDEX case_subclass_reported_idx ON case_file (subclass_code, reported_at)")
    ex("CREATE INDEX case_reported_idx ON case_file (reported_at)")
    ex("CREATE INDEX case_master_idx ON case_file (master_id) WHERE master_id IS NOT NULL")
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_file_master_id_fkey "
        "FOREIGN KEY (master_id) REFERENCES case_file (id)"
    )
    ex(
        "ALTER TABLE case_file ADD CONSTRAINT case_file_api_key_id_fkey "
        "FOREIGN KEY (api_key_id) REFERENCES api_key (id)"
    )
    ex("ALTER SEQUENCE case_file_id_seq OWNED BY case_file.id")
