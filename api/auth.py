"""Authentication and role rules for routes: who is calling, and may they.

A caller proves who they are with a bearer token (`Authorization: Bearer …`,
from `POST /api/v1/auth/token`) or with the same token in the `cg_session`
cookie (HttpOnly, SameSite=Lax), which the login page sets. The header wins
when both are sent. Missing or bad credentials answer 401 with
`WWW-Authenticate: Bearer`; a role the route does not allow answers 403.
Scope by place and personal data are decided in `cases.access`, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordBearer

from api.deps import EngineDep, SettingsDep
from api.errors import error_response
from cases.access import Principal, load_principal
from cases.accounts.errors import TooManyAttempts, Unauthenticated
from cases.accounts.models import ROLES
from cases.accounts.store import Login
from cases.accounts.tokens import read_token
from cases.errors import Forbidden

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
SESSION_COOKIE = "cg_session"

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def _credentials(request: Request, bearer: str | None) -> str | None:
    return bearer or request.cookies.get(SESSION_COOKIE) or None


def current_principal(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    """The logged-in caller; 401 without credentials or with bad ones."""
    token = _credentials(request, bearer)
    if token is None:
        raise Unauthenticated(f"log in first: send a bearer token from POST {TOKEN_URL}")
    claims = read_token(token, settings)
    return load_principal(engine, claims.account_id, claims.role)


def optional_principal(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(_bearer)],
) -> Principal | None:
    """The caller if credentials were sent, None for an anonymous caller (a
    resident). Credentials that were sent but do not hold are still 401."""
    if _credentials(request, bearer) is None:
        return None
    return current_principal(request, engine, settings, bearer)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only `roles` through (403 for others, 401 for
    nobody). Unknown role names fail when the route is defined, not when called."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_roles needs roles among {ROLES}, got {roles}")
    allowed = frozenset(roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"a {principal.role} may not do this; it is for: {', '.join(sorted(allowed))}"
            )
        return principal

    return check


def set_session_cookie(response: Response, request: Request, login: Login) -> None:
    """Put a login's token in the session cookie (for the login page): HttpOnly
    (no script reads it), SameSite=Lax (no cross-site POST carries it), Secure
    over HTTPS, and gone when the token expires."""
    response.set_cookie(
        SESSION_COOKIE,
        login.access_token,
        max_age=login.expires_in,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    """Log the browser out (the token itself lives on until it expires)."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def install(app: FastAPI) -> None:
    """Answer login errors with their status and headers: 401 with
    WWW-Authenticate (RFC 6750), 429 with Retry-After."""

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        response = error_response(
            request, 401, [{"code": exc.code, "message": exc.message, "field": exc.field}]
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(TooManyAttempts)
    async def too_many(request: Request, exc: TooManyAttempts) -> Response:
        response = error_response(
            request, 429, [{"code": exc.code, "message": exc.message, "field": exc.field}]
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
