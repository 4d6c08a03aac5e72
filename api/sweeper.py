"""The escalation sweeper inside the service: a background task of the lifespan.

Every `CG_ESCALATE_INTERVAL_S` seconds (0: off) one sweep runs in a worker
thread (cases.lifecycle.escalation.sweep_and_deliver): overdue cases move up
a tier and pending notifications are delivered through the log notifier.
Each uvicorn worker runs its own task; they never escalate a case twice,
because every sweep takes its cases with FOR UPDATE SKIP LOCKED and a case
just escalated is no longer overdue (see cases.lifecycle.escalation). A
failed sweep is logged (its type and first line, never case data) and the
next one runs at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine

from cases.lifecycle.escalation import sweep_and_deliver
from cases.lifecycle.notify import LogNotifier, Notifier
from gis.settings import Settings

log = logging.getLogger(__name__)


async def _loop(engine: Engine, settings: Settings, notifier: Notifier) -> None:
    interval = settings.escalate_interval_s
    while True:
        await asyncio.sleep(interval)
        try:
            result = await asyncio.to_thread(sweep_and_deliver, engine, notifier, settings)
        except Exception as exc:  # keep sweeping: the next tick may find the database back
            first = (str(exc).splitlines() or [""])[0][:200]
            log.warning("escalation sweep failed: %s: %s", type(exc).__name__, first)
            continue
        if result.moved:
            log.info("escalation sweep: %d cases moved up %s", result.moved, dict(result.by_step))


@contextlib.asynccontextmanager
async def escalation_task(
    engine: Engine, settings: Settings, notifier: Notifier | None = None
) -> AsyncIterator[asyncio.Task[None] | None]:
    """Run the sweeper while the app lives (nothing when the interval is 0)."""
    if settings.escalate_interval_s <= 0:
        yield None
        return
    task = asyncio.create_task(_loop(engine, settings, notifier or LogNotifier()))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
