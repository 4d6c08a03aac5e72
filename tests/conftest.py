"""Test set-up: a fresh PostGIS database per test session, migrated from empty.

Every test talks to the real server that `make setup` started (or the one
DATABASE_URL names). The database is created here by the owner role, upgraded
with Alembic from nothing (the application role's rights applied, as on every
migrate), and dropped at the end. Everything else, the `engine` fixture and the
CLI in subprocesses, connects as the application's role, as `grid serve` does.
A database that cannot be reached is an error, never a skip; in CI any skipped
test fails the run.

A known state for each test: `conn` rolls back what the test left uncommitted;
`reset_tables` empties tables (as the owner) for a test that counts rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from gis.settings import Settings, get_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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
    from gis.db import drop_database, ensure_database, get_engine, migrate
    from gis.privacy import require_key

    s = get_settings()
    assert s.database == TEST_DB
    ensure_database(s)
    migrate(s)
    require_key(get_engine(s), s)  # a key exists before any test encrypts
    yield s
    get_engine(s).dispose()
    drop_database(s, TEST_DB)


@pytest.fixture(scope="session")
def owner_engine(settings: Settings) -> Iterator[Engine]:
    """An engine of the test database as the owner role (rights, resetting state)."""
    engine = sa.create_engine(settings.owner_url_for())
    yield engine
    engine.dispose()


@pytest.fixture
def reset_tables(owner_engine: Engine) -> Callable[..., None]:
    """Empty tables before a test that needs them empty: `reset_tables("case_file", ...)`.

    TRUNCATE ... RESTART IDENTITY CASCADE as the owner (the application role
    may not), so a test starts from a known state whatever ran before it.
    """

    def reset(*tables: str) -> None:
        quote = owner_engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(t) for t in tables)
        with owner_engine.begin() as c:
            c.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))

    return reset


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
def sample_current_again(engine: Engine, sample_layout: int) -> Iterator[None]:
    """The sample layout current when the test starts and again when it ends.

    For modules whose tests load other layouts (`pytestmark = usefixtures(...)`):
    making the sample's generation current again is cheaper than reloading it.
    """
    from gis.layout import activate_generation

    yield
    with engine.begin() as c:
        activate_generation(c, sample_layout)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium for a module's browser tests (tests/browser_harness.py)."""
    from browser_harness import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def conn(engine: Engine, sample_layout: int) -> Iterator[Connection]:
    """A connection to the test database with the sample layout loaded.

    What the test leaves uncommitted is rolled back when it ends.
    """
    with engine.connect() as c:
        yield c
