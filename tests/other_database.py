"""The test settings pointed at another database of the same server.

Whether the tests reach the server by DATABASE_URL or by the managed roles (see
conftest.py), only the database's name changes: for a scratch database that a
test creates and drops, and for one that does not exist (the server answers
but the database cannot be reached). Imported as `other_database` (pytest puts
tests/ on sys.path).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gis.settings import Settings

MISSING = "cg_no_such_database"


def on_database(settings: Settings, name: str) -> Settings:
    """`settings` with database `name` in place of the test database."""
    return settings.model_copy(
        update={
            "database_name": name,
            "database_url": settings.url_for(name) if settings.database_url else None,
        }
    )


@contextmanager
def sample_database(settings: Settings, stem: str, **overrides: Any) -> Iterator[Settings]:
    """A new database migrated from empty with the sample district and nothing else
    (no other module's cases), for the block; dropped afterwards. `overrides` are
    settings of its own (e.g. repeat_report_count)."""
    from gis.db import _engine_for, drop_database, ensure_database, get_engine, migrate
    from sample.seed import load_sample

    name = f"{settings.database}_{stem}_{uuid.uuid4().hex[:6]}"
    made = on_database(settings, name).model_copy(update=overrides)
    try:
        ensure_database(made)
        migrate(made)
        load_sample(get_engine(made), settings=made)
        yield made
    finally:
        get_engine(made).dispose()
        _engine_for.cache_clear()
        drop_database(made, name)
