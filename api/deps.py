"""Request-scoped dependencies: the engine and the settings of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from gis.settings import Settings


def engine(request: Request) -> Engine:
    """The application's pooled engine (made in the lifespan)."""
    return request.app.state.engine


def settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(engine)]
SettingsDep = Annotated[Settings, Depends(settings)]
