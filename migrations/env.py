"""Alembic environment: online migrations only, with GeoAlchemy2's helpers so
spatial columns and their indexes are rendered and compared correctly."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

# Imported for their side effect: each registers its tables on Base.metadata.
import cases.accounts.models
import cases.ledgers.models
import cases.models
import cases.stations.models  # noqa: F401 - binds `cases`, as the three above do
from gis.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Leave PostGIS's own tables, the benchmarks' scratch tables and the
    partitions of case_file/case_event (`*_part_*`: made by migrations and bulk
    loads; the models describe their parents) alone."""
    if type_ == "table" and (
        name in {"spatial_ref_sys"} or str(name).startswith("bench_") or "_part_" in str(name)
    ):
        return False
    if type_ == "foreign_key_constraint" and "_part_" in str(obj.referred_table.name):
        return False  # PostgreSQL's own copy of a foreign key, per referenced partition
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
