"""GPS tracks: reading them (GeoJSON or GPX), and what they cover on the layout.

A track arrives as GeoJSON (a LineString, a MultiLineString, a MultiPoint, a
Feature of one of those, or a FeatureCollection of line features or of Point
features in walking order) or as GPX 1.0/1.1 (`trk/trkseg/trkpt`, else
`rte/rtept`). Every coordinate is checked where it stands, and a bad one is
named by its index: `point 17` counts every point of the track from 0, in file
order, and the field says where it sits (`coordinates[1][3]`, `trkpt[17]`).
The points are then converted to WGS84 once, here.

GPX is untrusted XML: it is parsed with defusedxml (no entities, no external
references, no billion laughs).

Coverage (documented rule): the track, buffered by `buffer_m` metres on each
side (on the spheroid: PostGIS's geography buffer), intersected with the
community's polygon of the current layout generation; the covered share is
that area over the community's area, both measured on the spheroid. The grids
a track passed through are the current generation's grids that the line itself
(not the buffer) or one of its points intersects (a track standing still has
no length but is somewhere), with the length walked inside each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import LineString, MultiLineString
from sqlalchemy.engine import Connection

from gis import crs as crsmod

GPX_FORMAT = "gpx"
GEOJSON_FORMAT = "geojson"


class TrackError(ValueError):
    """A track that cannot be read; `index` is the bad point's (from 0), if any."""

    def __init__(self, message: str, *, field: str, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.index = index


@dataclass(frozen=True)
class Track:
    """A track in WGS84: its segments (each an (n, 2) array of lon, lat), the
    time of each point when the file gave one, and where it came from."""

    segments: tuple[np.ndarray, ...]
    times: tuple[datetime | None, ...]
    source_format: str
    crs: str

    @property
    def points(self) -> int:
        """How many points the file held (also those of one-point segments)."""
        return len(self.times)

    @property
    def started_at(self) -> datetime | None:
        """The earliest time given in the file, if any."""
        known = [t for t in self.times if t is not None]
        return min(known) if known else None

    @property
    def ended_at(self) -> datetime | None:
        """The latest time given in the file, if any."""
        known = [t for t in self.times if t is not None]
        return max(known) if known else None

    def wkb(self) -> bytes:
        """The track as a WKB MULTILINESTRING (segments of one point left out)."""
        lines = [LineString(s) for s in self.segments if len(s) >= 2]
        return bytes(shapely.to_wkb(MultiLineString(lines), include_srid=False))


# ------------------------------------------------------------------ reading


@dataclass
class _Raw:
    """Points as read: segments of (lon, lat) in the input CRS, and where each came from."""

    segments: list[list[tuple[float, float]]]
    fields: list[list[str]]
    times: list[list[datetime | None]]


def _number(value: Any, what: str, index: int, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TrackError(
            f"point {index} ({field}): {what} must be a number, got {value!r}",
            field=field,
            index=index,
        )
    try:
        number = float(value)
    except ValueError:
        raise TrackError(
            f"point {index} ({field}): {what} {value!r} is not a number",
            field=field,
            index=index,
        ) from None
    if not math.isfinite(number):
        raise TrackError(
            f"point {index} ({field}): {what} must be finite, got {value!r}",
            field=field,
            index=index,
        )
    return number


def _time(value: Any, index: int, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TrackError(
            f"point {index} ({field}): a time is an ISO 8601 string, got {value!r}",
            field=field,
            index=index,
        )
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TrackError(
            f"point {index} ({field}): {value!r} is not an ISO 8601 time",
            field=field,
            index=index,
        ) from None
    if at.tzinfo is None:
        raise TrackError(
            f"point {index} ({field}): the time {value!r} has no time-zone offset",
            field=field,
            index=index,
        )
    return at


class _Reader:
    """Collects points segment by segment, numbering them as it goes."""

    def __init__(self) -> None:
        self.raw = _Raw([], [], [])
        self.count = 0

    def segment(self) -> None:
        self.raw.segments.append([])
        self.raw.fields.append([])
        self.raw.times.append([])

    def position(self, pos: Any, field: str, time: Any = None) -> None:
        index = self.count
        if not isinstance(pos, list | tuple) or not 2 <= len(pos) <= 4:
            raise TrackError(
                f"point {index} ({field}): a position is [lon, lat] (or with a height), "
                f"got {pos!r}"[:300],
                field=field,
                index=index,
            )
        self.add(pos[0], pos[1], field, _time(time, index, field))

    def add(self, lon: Any, lat: Any, field: str, time: datetime | None) -> None:
        index = self.count
        x = _number(lon, "lon", index, field)
        y = _number(lat, "lat", index, field)
        self.raw.segments[-1].append((x, y))
        self.raw.fields[-1].append(field)
        self.raw.times[-1].append(time)
        self.count += 1


def _line(reader: _Reader, coords: Any, field: str, times: Any = None) -> None:
    if not isinstance(coords, list):
        raise TrackError(f"{field} must be an array of positions", field=field)
    if isinstance(times, list) and len(times) != len(coords):
        times = None
    reader.segment()
    for i, pos in enumerate(coords):
        reader.position(pos, f"{field}[{i}]", times[i] if isinstance(times, list) else None)


def _geometry(reader: _Reader, geom: Any, field: str, props: dict[str, Any]) -> str:
    """Read one geometry; returns its kind ('line' or 'point')."""
    if not isinstance(geom, dict):
        raise TrackError(f"{field} must be a GeoJSON geometry object", field=field)
    kind = geom.get("type")
    coords = geom.get("coordinates")
    times = props.get("coordTimes") or props.get("times")
    if kind == "LineString":
        _line(reader, coords, f"{field}.coordinates", times)
        return "line"
    if kind == "MultiLineString":
        if not isinstance(coords, list):
            raise TrackError(f"{field}.coordinates must be an array of lines", field=field)
        for i, line in enumerate(coords):
            seg_times = times[i] if isinstance(times, list) and i < len(times) else None
            _line(reader, line, f"{field}.coordinates[{i}]", seg_times)
        return "line"
    if kind == "MultiPoint":
        _line(reader, coords, f"{field}.coordinates", times)
        return "line"
    if kind == "Point":
        if not reader.raw.segments:
            reader.segment()
        time = props.get("time") or props.get("timestamp")
        reader.position(coords, f"{field}.coordinates", time)
        return "point"
    raise TrackError(
        f"{field}: a track is a LineString, MultiLineString, MultiPoint or a sequence "
        f"of Point features, not {kind!r}",
        field=field,
    )


def _read_geojson(doc: Any) -> _Raw:
    reader = _Reader()
    if not isinstance(doc, dict):
        raise TrackError("the track must be a GeoJSON object", field="geojson")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise TrackError("the FeatureCollection has no features", field="geojson.features")
        kinds = set()
        for i, feature in enumerate(features):
            field = f"geojson.features[{i}]"
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise TrackError(f"{field} is not a GeoJSON Feature", field=field)
            props = feature.get("properties") or {}
            kinds.add(_geometry(reader, feature.get("geometry"), f"{field}.geometry", props))
        if len(kinds) > 1:
            raise TrackError(
                "the features mix lines and points; send lines, or points in walking order",
                field="geojson.features",
            )
    elif kind == "Feature":
        props = doc.get("properties") or {}
        if _geometry(reader, doc.get("geometry"), "geojson.geometry", props) == "point":
            raise TrackError("one point is not a track", field="geojson.geometry")
    else:
        if _geometry(reader, doc, "geojson", {}) == "point":
            raise TrackError("one point is not a track", field="geojson")
    return reader.raw


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if _local(str(c.tag)) == name]


def _read_gpx(text: str | bytes) -> _Raw:
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeET

    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise TrackError(
            f"the GPX is not well-formed XML (line {line}, column {column})", field="gpx"
        ) from None
    except DefusedXmlException as exc:
        raise TrackError(
            f"the GPX uses XML features refused for safety ({type(exc).__name__})", field="gpx"
        ) from None
    if _local(str(root.tag)) != "gpx":
        raise TrackError(f"the root element is <{_local(str(root.tag))}>, not <gpx>", field="gpx")
    reader = _Reader()
    segments = [seg for trk in _children(root, "trk") for seg in _children(trk, "trkseg")]
    point_tag = "trkpt"
    if not segments:
        segments, point_tag = _children(root, "rte"), "rtept"
    for seg in segments:
        reader.segment()
        for pt in _children(seg, point_tag):
            field = f"gpx.{point_tag}[{reader.count}]"
            if pt.get("lon") is None or pt.get("lat") is None:
                raise TrackError(
                    f"point {reader.count} ({field}): lat and lon attributes are required",
                    field=field,
                    index=reader.count,
                )
            times = _children(pt, "time")
            time = _time(times[0].text if times else None, reader.count, field)
            reader.add(pt.get("lon"), pt.get("lat"), field, time)
    return reader.raw


def read_track(
    *,
    geojson: Any = None,
    gpx: str | bytes | None = None,
    crs: str = "wgs84",
    max_points: int = 100_000,
) -> Track:
    """Read a track given as GeoJSON (a parsed object) or GPX (text), in `crs`.

    Raises TrackError naming the bad point (its index from 0 and its place in
    the file) for a coordinate that is not a finite number, not a place on
    Earth once converted, or for a file that is not a track; UnknownCRSError
    for an unknown CRS. GPX is WGS84 by its standard, but apps in China often
    write GCJ-02 into it: `crs` says which.
    """
    if (geojson is None) == (gpx is None):
        raise TrackError("send the track either as GeoJSON or as GPX", field="track")
    canonical = crsmod.parse_crs(crs)
    raw = _read_geojson(geojson) if geojson is not None else _read_gpx(gpx or "")
    source = GEOJSON_FORMAT if geojson is not None else GPX_FORMAT
    total = sum(len(s) for s in raw.segments)
    if total > max_points:
        raise TrackError(
            f"the track has {total} points; at most {max_points} are taken", field=source
        )
    if not any(len(s) >= 2 for s in raw.segments):
        raise TrackError("a track needs at least two points in one segment", field=source)
    segments = []
    start = 0
    for seg, fields in zip(raw.segments, raw.fields, strict=True):
        if not seg:
            continue
        xy = np.asarray(seg, dtype=float)
        xs, ys = crsmod.to_wgs84(xy[:, 0], xy[:, 1], canonical)
        bad = ~(np.isfinite(xs) & np.isfinite(ys) & (np.abs(xs) <= 180) & (np.abs(ys) <= 90))
        if bad.any():
            i = int(np.argmax(bad))
            lon, lat = seg[i]
            raise TrackError(
                f"point {start + i} ({fields[i]}): lon {lon:g}, lat {lat:g} in {canonical} "
                "is not a place on Earth (lon -180..180, lat -90..90; lon comes first)",
                field=fields[i],
                index=start + i,
            )
        segments.append(np.column_stack([xs, ys]))
        start += len(seg)
    times = tuple(t for seg_times in raw.times for t in seg_times)
    return Track(tuple(segments), times, source, canonical)


# ------------------------------------------------------------------ on the layout

_TRACK_GRIDS = sa.text("""
WITH t AS (
    SELECT geom, ST_Points(geom) AS pts
    FROM (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), 4326) AS geom) w
),
gen AS (SELECT id FROM layout_generation WHERE is_current)
SELECT g.code AS grid_code, g.community_code,
       ST_Length(ST_CollectionExtract(ST_Intersection(g.geom, t.geom), 2)::geography)
           AS length_m
FROM grid_cell g, t, gen
WHERE g.generation_id = gen.id
  AND (ST_Intersects(g.geom, t.geom) OR ST_Intersects(g.geom, t.pts))
ORDER BY g.code
""")

_COVERAGE = sa.text("""
WITH t AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), 4326) AS geom),
gen AS (SELECT id FROM layout_generation WHERE is_current),
c AS (
    SELECT cm.geom FROM community cm, gen
    WHERE cm.generation_id = gen.id AND cm.code = :community
),
b AS (SELECT ST_Buffer(t.geom::geography, :buffer_m)::geometry AS geom FROM t)
SELECT (SELECT id FROM gen) AS generation,
       ST_Length(t.geom::geography) AS length_m,
       ST_Area(c.geom::geography) AS community_m2,
       ST_Area(ST_Intersection(b.geom, c.geom)::geography) AS covered_m2
FROM t CROSS JOIN b LEFT JOIN c ON true
""")


@dataclass(frozen=True)
class GridPassed:
    """A grid of the current layout that a track passed through."""

    grid_code: str
    community_code: str
    length_m: float


@dataclass(frozen=True)
class Coverage:
    """How much of a community a track covered (see the module's rule)."""

    generation: int
    length_m: float
    community_m2: float
    covered_m2: float

    @property
    def share(self) -> float:
        """Covered area over the community's area, 0..1 (0 when it has no area)."""
        if self.community_m2 <= 0:
            return 0.0
        return max(0.0, min(1.0, self.covered_m2 / self.community_m2))


def grids_passed(conn: Connection, wkb: bytes) -> list[GridPassed]:
    """The current generation's grids that the track (WKB, WGS84) passes through,
    by code, with the length of track inside each (metres, on the spheroid)."""
    return [
        GridPassed(r.grid_code, r.community_code, float(r.length_m or 0.0))
        for r in conn.execute(_TRACK_GRIDS, {"wkb": wkb})
    ]


def community_coverage(
    conn: Connection, wkb: bytes, community_code: str, buffer_m: float
) -> Coverage:
    """The coverage of one community by a track (WKB, WGS84) buffered `buffer_m`
    metres each side. LookupError when no layout is loaded; a community missing
    from the current layout has no area (share 0)."""
    row = (
        conn.execute(_COVERAGE, {"wkb": wkb, "community": community_code, "buffer_m": buffer_m})
        .mappings()
        .one()
    )
    if row["generation"] is None:
        raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
    return Coverage(
        generation=int(row["generation"]),
        length_m=float(row["length_m"] or 0.0),
        community_m2=float(row["community_m2"] or 0.0),
        covered_m2=float(row["covered_m2"] or 0.0),
    )
