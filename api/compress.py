"""Compressed answers for the large ones: map pages and GeoJSON (gzip when asked).

A map page of 1,700 grids is over a megabyte of HTML and a GeoJSON of them
nearly one; gzip makes them a quarter of that. Only answers above
`MIN_BYTES` are compressed, and only for clients that say they accept gzip.
"""

from __future__ import annotations

import gzip
import re

from fastapi import Request
from fastapi.responses import Response

MIN_BYTES = 1024
LEVEL = 5
"""zlib level: near the best ratio for text, at a fraction of level 9's time."""

_GZIP = re.compile(r"(?:^|,)\s*gzip\s*(?:;\s*q=(?!0(?:\.0*)?\s*(?:,|$))[0-9.]+\s*)?(?:,|$)", re.I)


def accepts_gzip(request: Request) -> bool:
    """Whether the client accepts gzip (and did not refuse it with q=0)."""
    return bool(_GZIP.search(request.headers.get("accept-encoding", "")))


def response(
    request: Request,
    body: bytes,
    media_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`body` as an answer, gzip-compressed when it is large and the client accepts it."""
    out = dict(headers or {})
    out["Vary"] = "Accept-Encoding"
    if len(body) >= MIN_BYTES and accepts_gzip(request):
        body = gzip.compress(body, compresslevel=LEVEL, mtime=0)
        out["Content-Encoding"] = "gzip"
    return Response(body, status_code=status, media_type=media_type, headers=out)
