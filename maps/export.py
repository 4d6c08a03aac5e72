"""Standalone HTML files of maps that open with no network and no app.

``inline`` (the default) puts every script, style, font and image inside the one file,
so it can be mailed or copied to a USB stick; ``copy`` writes the page with the
assets it uses copied into a ``vendor/`` folder beside it (smaller pages when many
maps share one folder; opened through a web server such as ``python -m maps.preview``,
since browsers refuse fonts from ``file://`` pages in another folder).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Literal

import folium

from maps.offline import _CSS_URL, STATIC_DIR, MissingAssetsError, render

__all__ = ["save_standalone"]

_LOCAL_REF = re.compile(r"""(?:src|href)="\./(vendor/[^"]+)\"""")


def _css_dependencies(css_path: str) -> list[str]:
    """The files (relative to STATIC_DIR) a local stylesheet refers to."""
    css = (STATIC_DIR / css_path).read_text(encoding="utf-8")
    base = Path(css_path).parent
    out = []
    for m in _CSS_URL.finditer(css):
        ref = next(g for g in m.groups() if g is not None).strip()
        if not ref or ref.startswith(("data:", "#")):
            continue
        clean = ref.split("?")[0].split("#")[0]
        out.append(os.path.normpath(base / clean).replace(os.sep, "/"))
    return out


def _copy_assets(html: str, folder: Path) -> None:
    todo = _LOCAL_REF.findall(html)
    seen: set[str] = set()
    missing: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        source = STATIC_DIR / path
        if not source.is_file():
            missing.append(path)
            continue
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if path.endswith(".css"):
            todo.extend(_css_dependencies(path))
    if missing:
        raise MissingAssetsError(missing)


def save_standalone(
    m: folium.Map, path: str | os.PathLike[str], assets: Literal["inline", "copy"] = "inline"
) -> Path:
    """Write ``m`` as an HTML file that works offline; return its path.

    Raises :class:`maps.offline.ExternalReferenceError` if anything would still be
    fetched from outside (the configured online base layer's tiles excepted) and
    :class:`maps.offline.MissingAssetsError` if ``scripts/assets.sh`` has not run.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if assets == "inline":
        html = render(m, mode="inline")
    elif assets == "copy":
        html = render(m, mode="relative", prefix=".")
        _copy_assets(html, target.parent)
    else:
        raise ValueError("assets must be 'inline' or 'copy'")
    target.write_text(html, encoding="utf-8")
    return target
