"""Routes: the API's documentation pages, served without the internet (/docs).

FastAPI's own /docs loads Swagger UI's script and stylesheet from a CDN
(cdn.jsdelivr.net), so on the bureau's offline network it drew a blank page. These
routes give the same page with Swagger UI from the app's /static copy instead
(swagger-ui-dist, pinned in package.json, copied by scripts/assets.sh through
maps.vendor). /openapi.json stays FastAPI's (api.contract makes its content).

Public, like the document itself, and not in it (include_in_schema=False). ReDoc
(/redoc) is turned off in api.app rather than vendored: one documentation page is enough.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from maps.offline import STATIC_URL

__all__ = ["ASSETS", "DOCS_URL", "OAUTH2_REDIRECT_URL", "router"]

DOCS_URL: Final = "/docs"
OAUTH2_REDIRECT_URL: Final = "/docs/oauth2-redirect"

ASSETS: Final[dict[str, str]] = {
    "js": "vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "css": "vendor/swagger-ui-dist/swagger-ui.css",
    "favicon": "vendor/swagger-ui-dist/favicon-32x32.png",
}
"""Swagger UI's files under maps.offline.STATIC_DIR (each listed in maps.vendor.FILES)."""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL, response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for /openapi.json, its script, style and icon from /static.

    Every URL is prefixed with the ASGI root path, as FastAPI's own page does, so the
    page also works behind a proxy that mounts the app under a sub-path.
    """
    root = request.scope.get("root_path", "").rstrip("/")
    static = f"{root}{STATIC_URL}/"
    app = request.app
    return get_swagger_ui_html(
        openapi_url=root + (app.openapi_url or "/openapi.json"),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=static + ASSETS["js"],
        swagger_css_url=static + ASSETS["css"],
        swagger_favicon_url=static + ASSETS["favicon"],
        oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get(OAUTH2_REDIRECT_URL, response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    """The page an OAuth2 provider sends Swagger UI's login back to (FastAPI's, no assets)."""
    return get_swagger_ui_oauth2_redirect_html()
