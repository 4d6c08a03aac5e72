"""`grid load`: read a file, check it against the current layout, write a generation."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from gis import crs as crsmod
from gis.layout.base import CheckReport, Finding, LayoutError
from gis.layout.checks import prepare_layer
from gis.layout.read import read_layer
from gis.layout.store import read_level, write_generation
from gis.models import PARENT
from gis.settings import Settings, get_settings


def load_file(
    engine: Engine,
    path: Path,
    level: str,
    crs: str,
    *,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    layer: str | None = None,
    repair: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> tuple[int | None, CheckReport]:
    """Check a file and load it as a new current generation; `grid load` calls this.

    Returns (generation id, report); raises LayoutError with the report when
    any check fails, and then nothing is written.
    """
    settings = settings or get_settings()
    frame, digest = read_layer(
        path,
        level,
        crs,
        name_field=name_field,
        code_field=code_field,
        parent_field=parent_field,
        layer=layer,
    )
    with engine.begin() as conn:
        parents = read_level(conn, PARENT[level]) if level in PARENT else None
        prepared = prepare_layer(
            frame,
            level,
            crsmod.parse_crs(crs),
            parents,
            repair=repair,
            settings=settings,
            source_hash=digest,
        )
        if level != "district" and prepared.frame["code"].isna().any():
            prepared.report.add(Finding("bad_code", "error", "some features have no code"))
        if prepared.report.errors:
            raise LayoutError(
                f"{path}: {len(prepared.report.errors)} problem(s); nothing loaded",
                [prepared.report],
            )
        if prepared.frame["code"].isna().any():
            raise LayoutError(f"{path}: districts need a code (--code-field)", [prepared.report])
        if dry_run:
            return None, prepared.report
        gen = write_generation(
            conn, {level: prepared}, f"load {Path(path).name} as {level}", settings
        )
    return gen, prepared.report
