"""Test set-up: a fresh PostGIS database per test session, migrated from empty.

Every test talks to the real server that `make setup` started (or the one
DATABASE_URL names). The database is created here, upgraded with Alembic from
nothing, and dropped at the end. A database that cannot be reached is an
error, never a skip; in CI any skipped test fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from gis.settings import Settings, get_settings

TEST_DB = f"cg_test_{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    """Point every code path (and CLI subprocesses) at the test database."""
    url = os.environ.get("DATABASE_URL")
    if url:
        os.environ["DATABASE_URL"] = (
            make_url(url).set(database=TEST_DB).render_as_string(hide_password=False)
        )
    os.environ["CG_DATABASE_NAME"] = TEST_DB
    # No escalation sweeper in the apps tests build (a test that wants it says so):
    # it would move other tests' overdue cases under their feet.
    os.environ.setdefault("CG_ESCALATE_INTERVAL_S", "0")
    get_settings.cache_clear()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: it means something did not run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        print(f"\nCI: {skipped} test(s) skipped; failing the run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """Settings bound to a new, migrated test database (dropped afterwards)."""
    from gis.db import ensure_database, migrate

    s = get_settings()
    assert s.database == TEST_DB
    ensure_database(s)
    migrate(s)
    yield s
    from gis.db import _engine_for

    _engine_for.cache_clear()
    admin = sa.create_engine(
        make_url(s.url_for()).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Engine:
    """The pooled engine of the test database."""
    from gis.db import get_engine

    return get_engine(settings)


@pytest.fixture
def sample_layout(engine: Engine, settings: Settings) -> int:
    """The sample district as the current generation; returns its id.

    A no-op when it is current already; reloaded when a test left another
    generation current (loading layouts is what some tests are about).
    """
    from sample.seed import load_sample

    return load_sample(engine, settings=settings).generation


@pytest.fixture
def conn(engine: Engine, sample_layout: int) -> Iterator[Connection]:
    """A connection to the test database with the sample layout loaded."""
    with engine.connect() as c:
        yield c
