"""The OpenAPI schemas of the maps' data (/api/v1 grids, hot spots, emerging hot
spots, the command centre's figures): what api.routes.maps declares it answers.

Apart from the routes so that each module reads as one thing: the shapes of the
documents here, the handlers there.
"""

from __future__ import annotations

from typing import Any

from api.contract import component
from cases import mapdata
from gis.hotspots import HOTSPOT_CLASSES, PATTERNS

_GEOMETRY = component(
    "GeoJsonGeometry",
    {
        "type": ["object", "null"],
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"enum": ["Point", "Polygon", "MultiPolygon"]},
            "coordinates": {"type": "array"},
        },
        "description": "WGS84 (EPSG:4326) lon/lat, 6 decimals",
    },
)
_NUMBER_OR_NULL = {"type": ["number", "null"]}


def _collection(
    name: str, props: dict[str, Any], required: list[str], meta: dict[str, Any]
) -> dict[str, Any]:
    feature = {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "geometry": _GEOMETRY,
            "properties": {"type": "object", "required": required, "properties": props},
        },
    }
    body: dict[str, Any] = {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": feature},
        },
    }
    if meta:
        body["required"].append("properties")
        body["properties"]["properties"] = {"type": "object", **meta}
    return component(name, body)


_FILTERS_APPLIED = {
    "from": {"type": ["string", "null"], "format": "date"},
    "to": {"type": ["string", "null"], "format": "date"},
    "timezone": {"type": "string"},
    "class": {"type": ["string", "null"]},
    "subclass": {"type": ["string", "null"]},
    "subdistrict": {"type": ["string", "null"]},
    "status": {"type": ["string", "null"]},
    "tier": {"type": ["string", "null"]},
}

GRIDS = _collection(
    "GridFeatures",
    {
        "grid_code": {"type": "string", "pattern": "^[0-9]{15}$"},
        "name": {"type": ["string", "null"]},
        "community_code": {"type": ["string", "null"]},
        "community_name": {"type": ["string", "null"]},
        "subdistrict_code": {"type": ["string", "null"]},
        "subdistrict_name": {"type": ["string", "null"]},
        "area_m2": {"type": "number"},
    },
    ["grid_code", "name", "community_code", "subdistrict_code"],
    {},
)
HOTSPOTS = _collection(
    "HotspotFeatures",
    {
        "grid_code": {"type": "string", "pattern": "^[0-9]{15}$"},
        "count": {"type": "integer", "minimum": 0},
        "gi_z": {**_NUMBER_OR_NULL, "description": "Getis-Ord Gi* z-score (null: no neighbour)"},
        "p_value": {
            **_NUMBER_OR_NULL,
            "description": "FDR-adjusted two-sided p that decides the class (see fdr_method)",
        },
        "hotspot_class": {"enum": list(HOTSPOT_CLASSES)},
        "label": {"type": "string"},
    },
    ["grid_code", "count", "gi_z", "p_value", "hotspot_class", "label"],
    {
        "required": ["fdr_method", "fdr_method_zh", "permutations", "from", "to"],
        "properties": {
            "fdr_method": {"type": "string"},
            "fdr_method_zh": {"type": "string"},
            "permutations": {"type": "integer"},
            "tests": {"type": "integer"},
            **_FILTERS_APPLIED,
        },
    },
)
EMERGING = _collection(
    "EmergingHotspotFeatures",
    {
        "grid_code": {"type": "string", "pattern": "^[0-9]{15}$"},
        "pattern": {"enum": list(PATTERNS)},
        "label": {"type": "string"},
        "trend_z": _NUMBER_OR_NULL,
        "trend_p": _NUMBER_OR_NULL,
        "hot_bins": {"type": "integer", "minimum": 0},
        "cold_bins": {"type": "integer", "minimum": 0},
    },
    ["grid_code", "pattern", "label"],
    {
        "required": ["months", "periods", "fdr_method", "trend_test"],
        "properties": {
            "months": {"type": "integer"},
            "periods": {"type": "array", "items": {"type": "string", "format": "date"}},
            "fdr_method": {"type": "string"},
            "trend_test": {"type": "string"},
            **_FILTERS_APPLIED,
        },
    },
)

_COUNTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["label", "count"],
        "properties": {"label": {"type": "string"}, "count": {"type": "integer"}},
    },
}
DASHBOARD = component(
    "Dashboard",
    {
        "type": "object",
        "required": ["generated_at", "timezone", "today", "open", "overdue", "on_duty"],
        "properties": {
            "generated_at": {"type": "string", "format": "date-time"},
            "timezone": {"type": "string"},
            "scope": {"type": ["array", "null"], "items": {"type": "string"}},
            "today": {
                "type": "object",
                "required": ["date", "total", "by_tier", "by_status"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "total": {"type": "integer"},
                    "by_tier": _COUNTED,
                    "by_status": _COUNTED,
                },
            },
            "open": {
                "type": "object",
                "required": ["total", "overdue", "by_tier"],
                "properties": {
                    "total": {"type": "integer"},
                    "overdue": {"type": "integer"},
                    "by_tier": _COUNTED,
                },
            },
            "overdue": {
                "type": "object",
                "required": ["total", "shown", "cases"],
                "properties": {
                    "total": {"type": "integer"},
                    "shown": {"type": "integer"},
                    "cases": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "subclass", "tier", "due_at", "overdue_hours"],
                            "properties": {
                                "id": {"type": "integer"},
                                "subclass": {"type": "string"},
                                "subclass_name": {"type": "string"},
                                "tier": {"type": "string"},
                                "tier_label": {"type": "string"},
                                "status": {"type": "string"},
                                "community_code": {"type": ["string", "null"]},
                                "community_name": {"type": ["string", "null"]},
                                "station_code": {"type": ["string", "null"]},
                                "officer_code": {"type": ["string", "null"]},
                                "reported_at": {"type": "string", "format": "date-time"},
                                "due_at": {"type": "string", "format": "date-time"},
                                "overdue_hours": {"type": "number"},
                                "address": {"type": "string"},
                                "description": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "on_duty": {
                "type": "object",
                "required": ["total", "stations"],
                "properties": {
                    "total": {"type": "integer"},
                    "stations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["station_code", "station_name", "officers"],
                            "properties": {
                                "station_code": {"type": "string"},
                                "station_name": {"type": "string"},
                                "officers": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["code", "state", "state_label"],
                                        "properties": {
                                            "code": {"type": "string"},
                                            "state": {"enum": list(mapdata.DUTY_LABELS)},
                                            "state_label": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
)
