"""Reading the bureau's TOML files, parsed once and again only when they change."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_cache: dict[tuple[Path, Callable[..., Any]], tuple[tuple[int, int], Any]] = {}
_lock = threading.Lock()


def load_cached(
    path: Path, parse: Callable[[dict[str, Any], Path], T], error: type[Exception], what: str
) -> T:
    """`parse(raw, path)` of the TOML in `path`, cached per file and parser until the
    file's size or mtime changes (pass a module-level function, not a lambda).

    Any trouble reading the file raises `error` with a message naming the file.
    """
    path = path.resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _cache.get((path, parse))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with _lock:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise error(f"{path}: not valid TOML: {exc}") from exc
        value = parse(raw, path)
        _cache[(path, parse)] = (stamp, value)
        return value
