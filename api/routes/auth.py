"""Routes: logging in (OAuth2 password flow) and who am I (/api/v1/auth)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import CurrentPrincipal
from api.deps import EngineDep, SettingsDep
from cases.accounts.store import login

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_ERROR = {"description": "detail[] says why"}


@router.post(
    "/token",
    responses={
        200: {"description": "access_token, token_type (bearer), expires_in (s), role"},
        401: {"description": "wrong username or password (never says which)"},
        422: {"description": "username or password missing"},
        429: {"description": "too many failed logins for this username; see Retry-After"},
    },
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Log in with a username and password (form fields) and get a bearer token."""
    result = login(engine, form.username, form.password, settings)
    return JSONResponse(
        result.as_dict(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


@router.get("/me", responses={401: _ERROR})
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the token or session cookie belongs to: role, place and scope."""
    return principal.as_dict()
