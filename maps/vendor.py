"""Fill :data:`maps.offline.STATIC_DIR` from node_modules (run by ``scripts/assets.sh``).

``python -m maps.vendor [NODE_MODULES]`` copies each file of :data:`FILES` to
``STATIC_DIR/vendor/...``, and with each stylesheet every font and image its ``url()``
refers to. A stylesheet that names a CDN (leaflet-timedimension's glyphicon fonts) is
rewritten to the local copy through :data:`maps.offline.RULES`, so that rule stays in
one place. Two files are made here rather than copied: the glyphicons part of Bootstrap
3.4.1's CSS (folium's ``bootstrap-glyphicons.css``) and folium's
``leaflet.awesome.rotate.css`` (which folium's wheel does not ship). Running it again
rewrites the same files: it is idempotent.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Final

from maps.offline import _CSS_URL, _EXTERNAL, NODE_MODULES, STATIC_DIR, local_path

__all__ = ["FILES", "install"]

_NPM: Final = "npm"
_FOLIUM: Final = "folium"
_GENERATED: Final = "generated"

FILES: Final[dict[str, str]] = {
    "vendor/leaflet/dist/leaflet.js": _NPM,
    "vendor/leaflet/dist/leaflet.css": _NPM,
    # Leaflet's default marker finds these beside marker-icon.png (named by leaflet.css).
    "vendor/leaflet/dist/images/marker-icon-2x.png": _NPM,
    "vendor/leaflet/dist/images/marker-shadow.png": _NPM,
    "vendor/jquery/dist/jquery.min.js": _NPM,
    "vendor/bootstrap/dist/js/bootstrap.bundle.min.js": _NPM,
    "vendor/bootstrap/dist/css/bootstrap.min.css": _NPM,
    "vendor/bootstrap3-glyphicons/glyphicons.css": _GENERATED,
    "vendor/@fortawesome/fontawesome-free/css/all.min.css": _NPM,
    "vendor/leaflet.awesome-markers/dist/leaflet.awesome-markers.js": _NPM,
    "vendor/leaflet.awesome-markers/dist/leaflet.awesome-markers.css": _NPM,
    "vendor/folium/leaflet.awesome.rotate.css": _GENERATED,
    "vendor/leaflet.markercluster/dist/leaflet.markercluster.js": _NPM,
    "vendor/leaflet.markercluster/dist/MarkerCluster.css": _NPM,
    "vendor/leaflet.markercluster/dist/MarkerCluster.Default.css": _NPM,
    "vendor/folium/leaflet_heat.min.js": _FOLIUM,
    "vendor/leaflet-timedimension/dist/leaflet.timedimension.min.js": _NPM,
    "vendor/leaflet-timedimension/dist/leaflet.timedimension.control.css": _NPM,
    "vendor/leaflet-timedimension/dist/leaflet.timedimension.control.min.css": _NPM,
    "vendor/iso8601-js-period/iso8601.js": _NPM,
    "vendor/folium/pa7_hm.min.js": _FOLIUM,
    "vendor/folium/pa7_leaflet_hm.min.js": _FOLIUM,
    "vendor/d3/d3.min.js": _NPM,
    # Swagger UI for the API's /docs (api.routes.docs), instead of FastAPI's CDN copy.
    "vendor/swagger-ui-dist/swagger-ui-bundle.js": _NPM,
    "vendor/swagger-ui-dist/swagger-ui.css": _NPM,
    "vendor/swagger-ui-dist/favicon-32x32.png": _NPM,
}
"""Every local file a rule of maps.offline can point at (and Swagger UI's, which
api.routes.docs names), and where it comes from. ``npm`` files live at the same path
under node_modules (``vendor/`` stripped)."""

_GLYPHICONS_SOURCE: Final = "bootstrap3/dist/css/bootstrap.css"
_GLYPHICON_RULE = re.compile(
    r"(?m)^(?:@font-face|\.glyphicon[^{,]*(?:,\s*\.glyphicon[^{,]*)*)\s*\{[^}]*\}"
)


def _glyphicons_css(node_modules: Path) -> str:
    """The @font-face and ``.glyphicon*`` rules of Bootstrap 3.4.1, fonts pointing at its copy."""
    css = (node_modules / _GLYPHICONS_SOURCE).read_text(encoding="utf-8")
    rules = [
        m.group(0)
        for m in _GLYPHICON_RULE.finditer(css)
        if "Glyphicons Halflings" in m.group(0) or m.group(0).startswith(".glyphicon")
    ]
    body = "\n".join(rules).replace("../fonts/", "../bootstrap3/dist/fonts/")
    return "/* Bootstrap 3.4.1 glyphicons (MIT), cut out by maps.vendor */\n" + body + "\n"


def _rotate_css() -> str:
    """``.fa-rotate-N`` for N in 0..359: the classes folium's Icon(angle=N) uses."""
    rules = (f".fa-rotate-{n}{{transform:rotate({n}deg)}}" for n in range(360))
    return "/* maps.vendor: classes for folium.Icon(angle=...) */\n" + "\n".join(rules) + "\n"


def _folium_templates() -> Path:
    import folium

    return Path(folium.__file__).parent / "templates"


def _write(dest: Path, data: bytes) -> None:
    """Write only when the content changed, so a second run touches nothing."""
    if dest.is_file() and dest.read_bytes() == data:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)


def _localise_css(css: str, css_path: str) -> tuple[str, list[str]]:
    """Point a stylesheet's CDN url()s at local copies; list the local files it needs.

    Returned paths are relative to STATIC_DIR. Raises when a CDN URL has no rule.
    """
    needed: list[str] = []
    base = Path(css_path).parent

    def sub(m: re.Match[str]) -> str:
        ref = next(g for g in m.groups() if g is not None).strip()
        if not ref or ref.startswith(("data:", "#")):
            return m.group(0)
        if _EXTERNAL.match(ref):
            local = local_path(ref if ref.startswith("http") else "https:" + ref)
            if local is None:
                raise RuntimeError(f"{css_path} refers to {ref}, which no rule maps")
            needed.append(local)
            return f'url("{os.path.relpath(local, base).replace(os.sep, "/")}")'
        clean = ref.split("?")[0].split("#")[0]
        needed.append(os.path.normpath(base / clean).replace(os.sep, "/"))
        return m.group(0)

    return _CSS_URL.sub(sub, css), needed


def install(node_modules: Path = NODE_MODULES, static_dir: Path = STATIC_DIR) -> list[Path]:
    """Copy (or make) every file of :data:`FILES` and their CSS dependencies; return them."""
    if not node_modules.is_dir():
        raise SystemExit(f"{node_modules} does not exist: run `npm ci` there first")
    templates = _folium_templates()
    todo = list(FILES)
    done: set[str] = set()
    written: list[Path] = []
    while todo:
        path = todo.pop()
        if path in done:
            continue
        done.add(path)
        kind = FILES.get(path, _NPM)
        if kind == _GENERATED:
            text = (
                _glyphicons_css(node_modules) if path.endswith("glyphicons.css") else _rotate_css()
            )
            data = text.encode()
        elif kind == _FOLIUM:
            data = (templates / Path(path).name).read_bytes()
        else:
            source = node_modules / path.removeprefix("vendor/")
            if not source.is_file():
                raise SystemExit(f"{source} is missing: is package-lock.json installed?")
            data = source.read_bytes()
        if path.endswith(".css"):
            css, needed = _localise_css(data.decode("utf-8"), path)
            data = css.encode()
            todo.extend(needed)
        _write(static_dir / path, data)
        written.append(static_dir / path)
    return written


def main(argv: list[str]) -> int:
    """``python -m maps.vendor [NODE_MODULES]``: install, print how many files."""
    node_modules = Path(argv[0]) if argv else NODE_MODULES
    written = install(node_modules)
    print(f"map assets: {len(written)} files in {STATIC_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
