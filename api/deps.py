"""Request-scoped dependencies: the engine and the settings of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from gis.settings import Settings


def engine(request: Request) -> Engine:
    """The application's pooled engine (made in the lifespan)."""
    return request.app.state.engine  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(engine)]
SettingsDep = Annotated[Settings, Depends(settings)]
