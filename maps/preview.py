"""A small local web server for map pages: a folder of pages plus the assets at /static.

For previewing exported maps without the app (``python -m maps.preview DIR``), and for
the browser tests and benchmarks, which must not need the API. It listens on
127.0.0.1 only, serves ``DIR`` at ``/`` and :data:`maps.offline.STATIC_DIR` at
``/static``, and sends gzip when asked (as a production server would), so payload
measurements see what a browser really receives.
"""

from __future__ import annotations

import contextlib
import gzip
import mimetypes
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from maps.offline import STATIC_DIR, STATIC_URL

__all__ = ["PreviewServer"]


def _resolve(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it is a file inside root (no ``..`` escapes), else None."""
    target = (root / rel.lstrip("/")).resolve()
    try:
        target.relative_to(root.resolve())
    except ValueError:
        return None
    return target if target.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    pages: Path
    static: Path

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == STATIC_URL or path.startswith(STATIC_URL + "/"):
            target = _resolve(self.static, path[len(STATIC_URL) :])
        else:
            target = _resolve(self.pages, path if path != "/" else "index.html")
        if target is None:
            self.send_error(404)
            return
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".html":
            kind += "; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        if "gzip" in self.headers.get("Accept-Encoding", "") and target.suffix in (
            ".html",
            ".js",
            ".css",
            ".svg",
            ".json",
        ):
            body = gzip.compress(body, 6)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and benchmarks read their own output."""


class PreviewServer:
    """``with PreviewServer(folder) as server: server.url("page.html")``; port chosen freely."""

    def __init__(self, pages: Path, static: Path = STATIC_DIR, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"pages": Path(pages), "static": Path(static)})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on (127.0.0.1)."""
        return int(self._httpd.server_address[1])

    def url(self, path: str = "") -> str:
        """The URL of a page (relative to the pages folder)."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def __enter__(self) -> PreviewServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def main(argv: list[str]) -> int:
    """``python -m maps.preview DIR [PORT]``: serve until Ctrl-C."""
    if not argv:
        print("usage: python -m maps.preview DIR [PORT]", file=sys.stderr)
        return 2
    server = PreviewServer(Path(argv[0]), port=int(argv[1]) if len(argv) > 1 else 8765)
    print(f"serving {argv[0]} at {server.url()} (assets at {STATIC_URL}); Ctrl-C stops")
    with server, contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
