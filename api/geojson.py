"""GeoDataFrames as GeoJSON answers: one FeatureCollection, coordinates to 6 decimals.

The geometry is written by GEOS (shapely.to_geojson, vectorised), the
properties by orjson; NaN becomes null. Text is sent as it is (JSON escapes
it); escaping for HTML is the pages' business (maps.geo.esc), not the API's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import shapely

COORD_DECIMALS = 6
"""~0.1 m: below any precision the layout has."""


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if math.isnan(v) else v
    return str(value)


def feature_collection(
    frame: gpd.GeoDataFrame, properties: Iterable[str], extra: Mapping[str, Any] | None = None
) -> bytes:
    """A FeatureCollection of `frame`'s rows with the named `properties`.

    `extra` goes into the collection's own `properties` member (what applies
    to every feature: the method, the filters). Rows without geometry are
    written with `"geometry": null`, as GeoJSON allows.
    """
    cols = list(properties)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    rounded = shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))
    texts = shapely.to_geojson(rounded)
    records = frame[cols].to_dict(orient="records")
    parts = []
    for geometry, props in zip(texts, records, strict=True):
        body = orjson.dumps({k: _plain(v) for k, v in props.items()}).decode()
        parts.append(f'{{"type":"Feature","geometry":{geometry or "null"},"properties":{body}}}')
    head = '{"type":"FeatureCollection"'
    if extra is not None:
        head += ',"properties":' + orjson.dumps(dict(extra), default=str).decode()
    return (head + ',"features":[' + ",".join(parts) + "]}").encode()
