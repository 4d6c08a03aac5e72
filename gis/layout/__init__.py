"""Layout files loaded with checks, and kept as generations.

A load reads a file (GeoJSON, GeoPackage, Shapefile; any CRS the caller
names), converts it to WGS84 once (:mod:`~gis.layout.read`), checks it against
its parent level (:mod:`~gis.layout.checks`), and only then writes a complete
new generation and makes it current in the same transaction
(:mod:`~gis.layout.store`): a failed load leaves nothing behind.
:func:`load_file` (:mod:`~gis.layout.load`) is what `grid load` calls.
"""

from gis.layout.base import (
    CHILD,
    PARENT_COLUMN,
    TABLE,
    CheckReport,
    Finding,
    Layer,
    LayoutError,
)
from gis.layout.checks import (
    assign_parents,
    check_codes,
    check_containment,
    check_crs_fit,
    check_geometry,
    check_overlaps,
    number_codes,
    prepare_layer,
)
from gis.layout.load import load_file
from gis.layout.read import read_layer
from gis.layout.store import (
    activate_generation,
    current_generation,
    list_generations,
    read_level,
    write_generation,
)

__all__ = [
    "CHILD",
    "PARENT_COLUMN",
    "TABLE",
    "CheckReport",
    "Finding",
    "Layer",
    "LayoutError",
    "activate_generation",
    "assign_parents",
    "check_codes",
    "check_containment",
    "check_crs_fit",
    "check_geometry",
    "check_overlaps",
    "current_generation",
    "list_generations",
    "load_file",
    "number_codes",
    "prepare_layer",
    "read_layer",
    "read_level",
    "write_generation",
]
