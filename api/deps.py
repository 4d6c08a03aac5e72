"""Request-scoped dependencies: the engine and the settings of the running app.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in the
thread pool, a thread hop per dependency per request for a mere attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from gis.settings import Settings


async def engine(request: Request) -> Engine:
    """The application's pooled engine (made in the lifespan)."""
    return request.app.state.engine


async def settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(engine)]
SettingsDep = Annotated[Settings, Depends(settings)]
