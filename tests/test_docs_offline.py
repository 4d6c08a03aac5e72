"""The API's documentation (/docs) works without the internet.

FastAPI's default /docs loads Swagger UI from cdn.jsdelivr.net, a blank page on the
bureau's offline network; api.routes.docs serves it from the app's /static copy. Checked
here: the page names no URL outside the app, the files it names are served, the OpenAPI
document has not grown the docs routes, /redoc is gone, and in Debian's Chromium, with
every host but the test server aborted, Swagger UI draws the operations with its styles
and asks no other host for anything. A screenshot goes to var/test-output/docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser_harness import LOCAL, Offline, grid_serve, screenshot_folder
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from api.app import create_app
from api.routes.docs import ASSETS, DOCS_URL, OAUTH2_REDIRECT_URL
from gis.settings import Settings
from maps.offline import STATIC_URL, external_references, missing_assets
from maps.vendor import FILES

ANY_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)
# Swagger UI's green for POST (swagger-ui.css): only there once the stylesheet is applied.
POST_GREEN = "rgb(73, 204, 144)"


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    assert missing_assets(ASSETS.values()) == [], "run scripts/assets.sh first"
    with TestClient(create_app(settings)) as c:
        yield c


def test_swagger_ui_files_are_installed_by_assets_sh() -> None:
    assert set(ASSETS.values()) <= set(FILES)


def test_docs_page_names_nothing_outside_the_app(client: TestClient) -> None:
    resp = client.get(DOCS_URL)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert external_references(html) == []
    assert ANY_URL.findall(html) == []  # also inside the inline script
    assert "cdn.jsdelivr.net" not in html and "fastapi.tiangolo.com" not in html
    assert "url: '/openapi.json'" in html
    for path in ASSETS.values():
        assert f'"{STATIC_URL}/{path}"' in html


def test_the_files_the_page_names_are_served(client: TestClient) -> None:
    types = {"js": "javascript", "css": "text/css", "favicon": "image/png"}
    for kind, path in ASSETS.items():
        resp = client.get(f"{STATIC_URL}/{path}")
        assert resp.status_code == 200, path
        assert types[kind] in resp.headers["content-type"], path
    bundle = client.get(f"{STATIC_URL}/{ASSETS['js']}").text
    assert "SwaggerUIBundle" in bundle


def test_oauth2_redirect_page_is_there_and_local(client: TestClient) -> None:
    resp = client.get(OAUTH2_REDIRECT_URL)
    assert resp.status_code == 200
    assert "oauth2" in resp.text and ANY_URL.findall(resp.text) == []


def test_docs_behind_a_sub_path_prefix_every_url(settings: Settings) -> None:
    with TestClient(create_app(settings), root_path="/grid") as c:
        html = c.get(DOCS_URL).text
    assert "url: '/grid/openapi.json'" in html
    assert f'"/grid{STATIC_URL}/{ASSETS["css"]}"' in html
    assert "'/grid/docs/oauth2-redirect'" in html


def test_contract_has_no_docs_operations_and_redoc_is_off(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert not [p for p in doc["paths"] if p.startswith(("/docs", "/redoc", "/static"))]
    assert client.get("/redoc").status_code == 404


# --- in a real browser, the network cut off but for the app ---------------------------


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`grid serve` on a free port (one worker), its base URL; stopped afterwards."""
    with grid_serve(tmp_path_factory.mktemp("serve"), "--workers", "1") as (base, _log):
        yield base


@pytest.mark.slow
def test_docs_draw_the_operations_offline(browser: Browser, server: str) -> None:
    with Offline(browser, 1280, 900) as tab:
        page = tab.page
        page.goto(f"{server}{DOCS_URL}", wait_until="load")

        post = page.locator(".opblock.opblock-post").filter(
            has=page.locator('[data-path="/api/v1/complaints"]')
        )
        post.first.wait_for(state="visible", timeout=30_000)
        assert post.count() == 1
        assert "community-grid" in page.locator(".info .title").inner_text()
        assert page.title() == "community-grid 城管进社区网格化管理 - Swagger UI"
        # the stylesheet is applied, not only fetched
        green = post.first.evaluate("e => getComputedStyle(e).borderColor")
        assert green == POST_GREEN
        # open it: the request body's schema is drawn from /openapi.json
        post.first.locator(".opblock-summary").click()
        post.first.locator(".opblock-body").wait_for(state="visible")
        assert "subclass" in post.first.locator(".opblock-body").inner_text()
        assert page.locator(".opblock").count() > 20  # every operation of the contract

        shot = screenshot_folder("docs") / "docs.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 5_000

    fetched = tab.requests
    assert tab.outside == []
    assert tab.errors == []
    assert all(urlsplit(u).hostname in LOCAL for u in fetched if u.startswith("http")), fetched
    local = {urlsplit(u).path for u in fetched}
    assert {f"{STATIC_URL}/{p}" for p in ASSETS.values()} <= local
    assert "/openapi.json" in local
