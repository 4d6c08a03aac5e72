"""The test settings pointed at another database of the same server.

Whether the tests reach the server by DATABASE_URL or by the managed roles (see
conftest.py), only the database's name changes: for a scratch database that a
test creates and drops, and for one that does not exist (the server answers
but the database cannot be reached). Imported as `other_database` (pytest puts
tests/ on sys.path).
"""

from __future__ import annotations

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
