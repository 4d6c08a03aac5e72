"""Routes: the HTML pages (zh-CN). Not part of the API's OpenAPI document.

- `/`: the start page: links to the maps, the command centre and the API
  docs; a login form when nobody is logged in (posting to `/login`), who is
  logged in and a logout button otherwise.
- `POST /login`: checks a username and password (cases.accounts, with its
  throttle), sets the `cg_session` cookie (HttpOnly, SameSite=Lax) and
  redirects (303) to `next` (a path of this site) or `/`.
- `POST /logout`: drops the cookie, redirects to `/`.
- `/dashboard`: the command centre's screen (城管110), refreshing itself from
  `GET /api/v1/dashboard`.
- `/maps/heatmap`, `/maps/timeline` (by week or day), `/maps/choropleth`,
  `/maps/hotspots`, `/maps/emerging`, `/maps/operations`: whole map pages,
  with the filters of the data endpoints as query parameters.

Pages accept the bearer token as the data endpoints do, or the cookie.
Without either a page redirects to the login form (`/?next=...`); a role
that may not see a page gets a 403 page; a bad filter a 422 page naming the
field (the error pages are HTML, see `install`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from api import compress, errors
from api.auth import (
    clear_session_cookie,
    optional_principal,
    set_session_cookie,
)
from api.deps import EngineDep, SettingsDep
from api.pages import render
from api.pages.views import MAPS, PageQuery, page_html
from api.routes.maps import COMMAND_ROLES, NO_LAYOUT, CommandCentre, Filters, MapViewer, Months
from cases import mapdata
from cases.access import Principal
from cases.accounts.errors import TooManyAttempts, Unauthenticated
from cases.accounts.store import login
from cases.errors import InvalidInput
from cases.trends import DEFAULT_MONTHS
from gis.settings import Settings

router = APIRouter(include_in_schema=False)

DASHBOARD_REFRESH_S = 30
"""How often the command centre's screen fetches its figures."""
DASHBOARD_MAP_REFRESH_S = 300
"""How often its live map is redrawn (a whole page: less often)."""

PAGE_PREFIXES = ("/maps/", "/dashboard", "/login", "/logout")
"""Paths whose errors are HTML pages (401 a redirect to the login form)."""


def _csp(settings: Settings) -> str:
    """What a page may load: this site only (plus the configured base layer's tiles)."""
    tiles = {
        "tianditu": " https://*.tianditu.gov.cn",
        "amap": " https://*.is.autonavi.com",
    }.get(settings.map_base_layer, "")
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
        f"img-src 'self' data: blob:{tiles}; connect-src 'self'; "
        "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
    )


def _html(
    request: Request, body: str, settings: Settings, status: int = 200, **headers: str
) -> Response:
    return compress.response(
        request,
        body.encode("utf-8"),
        "text/html; charset=utf-8",
        status,
        {
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": _csp(settings),
            **headers,
        },
    )


def _safe_next(target: str | None) -> str:
    """A path of this site to go to after logging in ("/" for anything else)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 for ch in target):
        return "/"
    return target


def page_principal(request: Request, engine: EngineDep, settings: SettingsDep) -> Principal | None:
    """The logged-in caller, or None (also for a cookie that no longer holds: the
    start page then shows the login form rather than an error)."""
    try:
        return optional_principal(request, engine, settings, _bearer_of(request))
    except Unauthenticated:
        return None


def _bearer_of(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


Visitor = Annotated[Principal | None, Depends(page_principal)]


def _start_page(
    request: Request,
    settings: Settings,
    principal: Principal | None,
    *,
    next_path: str = "/",
    error: str = "",
    username: str = "",
    status: int = 200,
    **headers: str,
) -> Response:
    body = render(
        "index.html",
        title="首页",
        principal=principal,
        maps=list(MAPS.values()),
        next=_safe_next(next_path),
        error=error,
        username=username,
    )
    return _html(request, body, settings, status, **headers)


@router.get("/", response_class=HTMLResponse)
def start(
    request: Request,
    visitor: Visitor,
    settings: SettingsDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
) -> Response:
    """The start page: links, and the login form when nobody is logged in."""
    return _start_page(request, settings, visitor, next_path=next_path or "/")


@router.post("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """Log in from the form: set the session cookie and go on (303), or say why not."""
    try:
        result = login(engine, username, password, settings)
    except Unauthenticated:
        return _start_page(
            request,
            settings,
            None,
            next_path=next_path,
            error="用户名或密码不正确。",
            username=username,
            status=401,
        )
    except TooManyAttempts as exc:
        return _start_page(
            request,
            settings,
            None,
            next_path=next_path,
            error=f"登录失败次数过多，请 {exc.retry_after} 秒后再试。",
            username=username,
            status=429,
            **{"Retry-After": str(exc.retry_after)},
        )
    except InvalidInput as exc:
        return _start_page(
            request,
            settings,
            None,
            next_path=next_path,
            error=exc.message,
            username=username,
            status=422,
        )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    set_session_cookie(response, request, result)
    return response


@router.post("/logout")
def logout() -> Response:
    """Drop the session cookie and go back to the start page."""
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, principal: CommandCentre, engine: EngineDep, settings: SettingsDep
) -> Response:
    """The command centre's screen (城管110)."""
    data = mapdata.dashboard(engine, principal, settings=settings)
    body = render(
        "dashboard.html",
        title="指挥大屏",
        principal=principal,
        data=data,
        refresh_s=DASHBOARD_REFRESH_S,
        map_refresh_s=DASHBOARD_MAP_REFRESH_S,
    )
    return _html(request, body, settings)


def _map_route(name: str) -> Any:
    def page(
        request: Request,
        principal: MapViewer,
        engine: EngineDep,
        settings: SettingsDep,
        filters: Filters,
        by: Annotated[Literal["week", "day"], Query(description="heat map over time: step")] = (
            "week"
        ),
        level: Annotated[Literal["grid", "community"], Query(description="areas counted")] = (
            "grid"
        ),
        months: Months = DEFAULT_MONTHS,
        embed: Annotated[bool, Query(description="no bar of links (a map in a page)")] = False,
    ) -> Response:
        query = PageQuery(filters=filters, by=by, level=level, months=months)
        values: dict[str, object] = {k: request.query_params.get(k, "") for k in _FORM_FIELDS}
        values.update({"by": by, "level": level, "months": str(months)})
        try:
            html = page_html(
                name,
                engine,
                query,
                principal,
                settings,
                values=values,
                embed=embed,
                dashboard=principal.role in COMMAND_ROLES,
            )
        except LookupError:
            raise HTTPException(503, NO_LAYOUT) from None
        return _html(request, html, settings)

    page.__name__ = f"map_{name}"
    page.__doc__ = f"The map page {MAPS[name].title}."
    return page


_FORM_FIELDS = ("class", "subclass", "from", "to", "subdistrict", "status", "tier")

for _name in MAPS:
    router.add_api_route(
        f"/maps/{_name}", _map_route(_name), methods=["GET"], response_class=HTMLResponse
    )


# ------------------------------------------------------------ error pages

_ERROR_TITLES = {
    403: ("无权访问", "当前账号的角色不能查看此页面。"),
    404: ("页面不存在", "请从首页进入。"),
    405: ("不支持的请求方式", "请从首页进入。"),
    422: ("筛选条件有误", "请修改下列参数后重试："),
    429: ("请求过于频繁", "请稍后再试。"),
    503: ("服务暂不可用", "数据库暂时无法连接，或尚未载入网格布局，请稍后再试。"),
}


def _page_error(
    request: Request, status: int, items: list[dict[str, Any]], headers: dict[str, str] | None
) -> Response:
    """Errors of the pages as pages: 401 goes to the login form, the rest say why."""
    settings: Settings = request.app.state.settings
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/?next={quote(target, safe='')}", status_code=303)
    title, lead = _ERROR_TITLES.get(status, ("出错了", "请返回首页重试。"))
    body = render(
        "error.html",
        title=title,
        lead=lead,
        items=items if status == 422 else [],
        principal=None,
    )
    return _html(request, body, settings, status, **(headers or {}))


def install(app: FastAPI) -> None:
    """Add the pages to `app`: their routes, the static assets at /static
    (maps.offline) and their error pages."""
    from maps.offline import STATIC_DIR, STATIC_URL, missing_assets, static_files

    app.include_router(router)
    for prefix in PAGE_PREFIXES:
        errors.register_error_shaper(prefix, _page_error)
    if STATIC_DIR.is_dir():
        app.mount(STATIC_URL, static_files(check=False), name="static")
    missing = missing_assets()
    if missing:
        import logging

        logging.getLogger(__name__).warning(
            "%d map asset(s) missing under %s: map pages will not draw; run scripts/assets.sh",
            len(missing),
            STATIC_DIR,
        )
