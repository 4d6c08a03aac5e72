"""Offline pages: every script, style, font and image a map loads comes from the app itself.

Folium and branca name their assets as CDN URLs (``default_js``/``default_css`` of each
class, ``JavascriptLink`` for branca's d3). This module is the one place where those
URLs become local copies: :data:`RULES` maps each CDN URL to a file under
:data:`STATIC_DIR` (filled by ``scripts/assets.sh`` from the npm registry, pinned in
``package.json``/``package-lock.json``), and :func:`localise` rewrites a rendered page
to it. Three ways to refer to the local copy:

``served``
    ``/static/vendor/...``: the app mounts :data:`STATIC_DIR` at ``/static``
    (:func:`static_files`).
``relative``
    ``<prefix>/vendor/...``: files copied beside a standalone page (``maps.export``).
``inline``
    the file's text inside the page, CSS with its fonts and images as ``data:`` URIs.

Whatever the mode, :func:`check_offline` then looks at every reference the page makes
(``src``/``href``/``action``/... attributes, CSS ``url()`` and ``@import``, Leaflet tile
URLs) and raises :class:`ExternalReferenceError`, listing them, for any that would leave
the machine, except tiles of the configured base layer (``maps.base``). The class-level
lists of folium are never touched (``add_js_link`` would change every later map).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from gis.settings import ROOT

if TYPE_CHECKING:
    import folium
    from starlette.staticfiles import StaticFiles

__all__ = [
    "RULES",
    "STATIC_DIR",
    "STATIC_URL",
    "AssetRule",
    "ExternalReferenceError",
    "MissingAssetsError",
    "check_offline",
    "external_references",
    "localise",
    "missing_assets",
    "render",
    "required_files",
    "static_files",
]

STATIC_URL: Final = "/static"
"""Where the app serves :data:`STATIC_DIR` (mount :func:`static_files` there)."""

STATIC_DIR: Final = ROOT / "var" / "assets" / "static"
"""The local copies (gitignored): ``vendor/<npm package>/<path in the package>``."""

NODE_MODULES: Final = ROOT / "var" / "assets" / "npm" / "node_modules"
"""Where ``scripts/assets.sh`` runs ``npm ci`` (the copies in STATIC_DIR come from here)."""

Mode = Literal["served", "relative", "inline"]


@dataclass(frozen=True)
class AssetRule:
    """One CDN URL pattern (full match) and the local file it stands for.

    ``local`` is relative to :data:`STATIC_DIR` and may use the pattern's groups
    (``\\1``); ``maps.vendor.FILES`` says where each local file comes from.
    """

    pattern: re.Pattern[str]
    local: str

    def match(self, url: str) -> str | None:
        """The local path for ``url``, or None when this rule does not apply."""
        m = self.pattern.fullmatch(url)
        return m.expand(self.local) if m else None


def _rule(pattern: str, local: str) -> AssetRule:
    return AssetRule(re.compile(pattern), local)


_JSD = r"https://cdn\.jsdelivr\.net"
_CDNJS = r"https://cdnjs\.cloudflare\.com/ajax/libs"
_FOLIUM_GH = (
    r"https://cdn\.jsdelivr\.net/gh/python-visualization/folium(?:@[\w.]+)?/folium/templates"
)

RULES: Final[tuple[AssetRule, ...]] = (
    # Map: Leaflet 1.9.x (folium names 1.9.3; the pinned 1.9.4 is a bug-fix release).
    _rule(_JSD + r"/npm/leaflet@1\.9\.\d+/dist/(leaflet\.(?:js|css))", r"vendor/leaflet/dist/\1"),
    _rule(
        r"https://code\.jquery\.com/jquery-3\.\d+\.\d+\.min\.js|"
        + _CDNJS
        + r"/jquery/3\.\d+\.\d+/jquery\.min\.js",
        "vendor/jquery/dist/jquery.min.js",
    ),
    _rule(_JSD + r"/npm/bootstrap@5(?:\.\d+)*/dist/(.+)", r"vendor/bootstrap/dist/\1"),
    # Bootstrap 3's glyphicons (awesome-markers' default prefix, timedimension's buttons):
    # cut out of bootstrap 3.4.1's CSS by maps.vendor, with its fonts.
    _rule(
        r"https://netdna\.bootstrapcdn\.com/bootstrap/3\.0\.0/css/bootstrap-glyphicons\.css",
        "vendor/bootstrap3-glyphicons/glyphicons.css",
    ),
    _rule(
        r"(?:https?:)?//netdna\.bootstrapcdn\.com/bootstrap/3\.0\.0/fonts/"
        r"(glyphicons-halflings-regular\.(?:eot|svg|ttf|woff|woff2))(?:[?#].*)?",
        r"vendor/bootstrap3/dist/fonts/\1",
    ),
    _rule(
        _JSD + r"/npm/@fortawesome/fontawesome-free@6(?:\.\d+)*/css/(all(?:\.min)?\.css)",
        r"vendor/@fortawesome/fontawesome-free/css/\1",
    ),
    _rule(
        _CDNJS + r"/Leaflet\.awesome-markers/2\.0\.\d+/(leaflet\.awesome-markers\.(?:js|css))",
        r"vendor/leaflet.awesome-markers/dist/\1",
    ),
    _rule(
        _FOLIUM_GH + r"/leaflet\.awesome\.rotate(?:\.min)?\.css",
        "vendor/folium/leaflet.awesome.rotate.css",
    ),
    # Plugins.
    _rule(
        _CDNJS + r"/leaflet\.markercluster/[\d.]+/"
        r"(leaflet\.markercluster\.js|MarkerCluster\.css|MarkerCluster\.Default\.css)",
        r"vendor/leaflet.markercluster/dist/\1",
    ),
    # HeatMap: folium's copy of leaflet.heat (it carries the weights fix, Leaflet.heat#78).
    _rule(_FOLIUM_GH + r"/(leaflet_heat\.min\.js)", r"vendor/folium/\1"),
    # HeatMapWithTime: leaflet-timedimension + iso8601, and folium's heatmap.js build.
    _rule(
        _JSD + r"/npm/leaflet-timedimension@1\.1\.1/dist/"
        r"(leaflet\.timedimension\.min\.js|leaflet\.timedimension\.control(?:\.min)?\.css)",
        r"vendor/leaflet-timedimension/dist/\1",
    ),
    _rule(
        _JSD + r"/npm/iso8601-js-period@0\.2\.1/iso8601(?:\.min)?\.js",
        "vendor/iso8601-js-period/iso8601.js",  # the npm package ships no .min.js
    ),
    _rule(_FOLIUM_GH + r"/(pa7_hm\.min\.js|pa7_leaflet_hm\.min\.js)", r"vendor/folium/\1"),
    # branca's colour maps.
    _rule(_CDNJS + r"/d3/3\.5\.5/(d3\.min\.js)", r"vendor/d3/\1"),
)
"""Every CDN URL that the rendered pages of maps/ refer to, and its local copy."""


class ExternalReferenceError(RuntimeError):
    """A page still refers to something outside the machine; lists every such URL."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.urls = sorted(set(urls))
        listed = "\n  ".join(self.urls)
        super().__init__(
            f"the page refers to {len(self.urls)} external URL(s) with no local copy; "
            f"add a rule to maps.offline.RULES (and the package to package.json):\n  {listed}"
        )


class MissingAssetsError(RuntimeError):
    """Local copies are missing: ``scripts/assets.sh`` has not run (or is out of date)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = sorted(set(paths))
        listed = "\n  ".join(self.paths)
        super().__init__(
            f"{len(self.paths)} map asset(s) missing under {STATIC_DIR}; "
            f"run scripts/assets.sh:\n  {listed}"
        )


def local_path(url: str) -> str | None:
    """The local file (relative to :data:`STATIC_DIR`) for a CDN URL, or None."""
    for rule in RULES:
        path = rule.match(url)
        if path is not None:
            return path
    return None


# ------------------------------------------------------------ finding references

# A reference that leaves the machine: absolute http(s) or protocol-relative, or data
# fetched from an unusual scheme. Relative paths and data:/blob: URIs stay local.
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_ATTR = re.compile(
    r"""\b(?:src|href|action|formaction|poster|data|background|srcset|xlink:href)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_TILE_URL = re.compile(r"""L\.tileLayer(?:\.wms)?\(\s*"((?:[^"\\]|\\.)*)\"""")
_SCRIPT_TAG = re.compile(r'<script src="([^"]+)"></script>')
_LINK_TAG = re.compile(r'<link rel="stylesheet" href="([^"]+)"\s*/?>')


def _first_group(m: re.Match[str]) -> str:
    return next(g for g in m.groups() if g is not None)


def _tile_url(raw: str) -> str:
    """A tile URL template as Jinja's tojson wrote it (\\u0026 for &, \\/ for /)."""
    return raw.encode().decode("unicode_escape")


def external_references(html: str) -> list[str]:
    """Every URL the page would fetch from outside the machine, in order of appearance.

    Looked at: HTML attributes that load or link (src, href, ...), CSS ``url()`` and
    ``@import`` (in ``<style>`` and inline styles) and Leaflet tile layers. Text shown to
    users is HTML-escaped by the builders, so a URL in a resident's description is not
    a reference (``src=&quot;...`` does not match).
    """
    found: list[str] = []
    for regex in (_ATTR, _CSS_URL, _CSS_IMPORT):
        for m in regex.finditer(html):
            url = _first_group(m)
            if _EXTERNAL.match(url):
                found.append(url.strip())
    for m in _TILE_URL.finditer(html):
        url = _tile_url(m.group(1))
        if _EXTERNAL.match(url):
            found.append(url)
    return found


def check_offline(html: str, allowed: Callable[[str], bool] | None = None) -> str:
    """Return ``html`` unchanged if it refers to nothing outside the machine.

    ``allowed`` may accept some URLs (the tiles of a configured online base layer).
    Raises :class:`ExternalReferenceError` listing every other external reference.
    """
    bad = [u for u in external_references(html) if allowed is None or not allowed(u)]
    if bad:
        raise ExternalReferenceError(bad)
    return html


# ------------------------------------------------------------ rewriting


def _replace_urls(html: str, to: Callable[[str], str]) -> str:
    """Rewrite every CDN URL that a rule knows, wherever it stands in an attribute."""

    def sub(m: re.Match[str]) -> str:
        url = _first_group(m)
        path = local_path(url.strip())
        if path is None:
            return m.group(0)
        return m.group(0).replace(url, to(path))

    return _ATTR.sub(sub, html)


def missing_assets(paths: Iterable[str] | None = None) -> list[str]:
    """The local files (relative to STATIC_DIR) that are not there; all known ones by default."""
    wanted = required_files() if paths is None else list(paths)
    return [p for p in wanted if not (STATIC_DIR / p).is_file()]


def required_files() -> list[str]:
    """Every local file the rules can point at (fixed names only), for checks and copies."""
    from maps.vendor import FILES  # the install list lives with the installer

    return sorted(FILES)


def _read_static(path: str) -> bytes:
    full = STATIC_DIR / path
    if not full.is_file():
        raise MissingAssetsError([path])
    return full.read_bytes()


_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.IGNORECASE)
_WOFF2_SRC = re.compile(r"""url\(\s*["']?([^"')]+\.woff2)(?:[?#][^"')]*)?["']?\s*\)""")


def _woff2_only(css: str) -> str:
    """Keep only the WOFF2 source of each @font-face that has one (halves inlined pages)."""

    def keep(m: re.Match[str]) -> str:
        block = m.group(0)
        woff2 = _WOFF2_SRC.search(block)
        if woff2 is None:
            return block
        body = re.sub(r"\bsrc\s*:[^;}]*;?", "", block)
        return body.replace("{", f'{{src:url("{woff2.group(1)}") format("woff2");', 1)

    return _FONT_FACE.sub(keep, css)


def _inline_css(path: str) -> str:
    """A stylesheet's text with each url() it uses embedded as a data: URI."""
    css = _woff2_only(_read_static(path).decode("utf-8"))
    base = Path(path).parent

    def embed(m: re.Match[str]) -> str:
        ref = _first_group(m).strip()
        if not ref or ref.startswith(("data:", "#")) or _EXTERNAL.match(ref):
            return m.group(0)  # external ones are caught by check_offline
        target = (base / ref.split("?")[0].split("#")[0]).as_posix()
        target = str(Path(target)).replace("\\", "/")
        normal = _normalise(target)
        mime = mimetypes.guess_type(normal)[0] or "application/octet-stream"
        if normal.endswith(".woff2"):
            mime = "font/woff2"
        data = base64.b64encode(_read_static(normal)).decode("ascii")
        return f'url("data:{mime};base64,{data}")'

    return _CSS_URL.sub(embed, css)


def _normalise(path: str) -> str:
    """Resolve ``..`` in a relative POSIX path without touching the file system."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


_LEAFLET_JS: Final = "vendor/leaflet/dist/leaflet.js"
_LEAFLET_IMAGES: Final = "vendor/leaflet/dist/images/"


def _default_icon_script() -> str:
    """Leaflet finds its default marker images beside leaflet.css; inline, there is no
    such folder, so give L.Icon.Default the images themselves as data: URIs."""
    urls = {
        name: "data:image/png;base64,"
        + base64.b64encode(_read_static(_LEAFLET_IMAGES + file)).decode("ascii")
        for name, file in (
            ("iconUrl", "marker-icon.png"),
            ("iconRetinaUrl", "marker-icon-2x.png"),
            ("shadowUrl", "marker-shadow.png"),
        )
    }
    assign = "".join(f"o.{k}={json.dumps(v)};" for k, v in urls.items())
    target = "L.Icon.Default.prototype.options"
    return f"L.Icon.Default.imagePath='';(function(o){{{assign}}})({target});"


def _inline(html: str) -> str:
    """Replace each known <script src>/<link rel=stylesheet> by the file's own text."""

    def script(m: re.Match[str]) -> str:
        path = local_path(m.group(1))
        if path is None:
            return m.group(0)
        js = _read_static(path).decode("utf-8").replace("</script", "<\\/script")
        if path == _LEAFLET_JS:
            js += "\n" + _default_icon_script()
        return f"<script>{js}</script>"

    def style(m: re.Match[str]) -> str:
        path = local_path(m.group(1))
        if path is None:
            return m.group(0)
        css = _inline_css(path).replace("</style", "<\\/style")
        return f"<style>{css}</style>"

    return _LINK_TAG.sub(style, _SCRIPT_TAG.sub(script, html))


def localise(html: str, mode: Mode = "served", prefix: str = STATIC_URL) -> str:
    """Rewrite a rendered page's CDN URLs to the local copies (see the module doc).

    ``prefix`` is the URL of STATIC_DIR for ``served`` (default ``/static``) and the
    relative folder for ``relative``. Unknown external URLs are left for
    :func:`check_offline` to report.
    """
    if mode == "inline":
        return _inline(html)
    base = prefix.rstrip("/")
    return _replace_urls(html, lambda path: f"{base}/{path}")


def render(m: folium.Map, mode: Mode = "served", prefix: str = STATIC_URL) -> str:
    """The whole HTML page of a map, localised and checked (raises if anything is external).

    The map's online base layer, if any (``maps.base``), is the one exception allowed.
    """
    from maps.base import tile_url_allowed

    html = m.get_root().render()
    if mode != "inline":
        return check_offline(localise(html, mode, prefix), tile_url_allowed)
    # The page's own references are checked as served; the inlined files are the
    # vendored copies, whose CSS maps.vendor already pointed at local files (their
    # scripts hold plain links such as Leaflet's attribution, which load nothing).
    check_offline(localise(html, "served"), tile_url_allowed)
    return localise(html, "inline")


def static_files(check: bool = True) -> StaticFiles:
    """A Starlette/FastAPI app serving :data:`STATIC_DIR`; mount it at :data:`STATIC_URL`.

    ``app.mount(STATIC_URL, maps.offline.static_files(), name="static")``. With ``check``
    it raises :class:`MissingAssetsError` at start-up when ``scripts/assets.sh`` has not
    run, rather than serving pages whose scripts 404.
    """
    from starlette.staticfiles import StaticFiles

    if check:
        missing = missing_assets()
        if missing:
            raise MissingAssetsError(missing)
    return StaticFiles(directory=STATIC_DIR)
