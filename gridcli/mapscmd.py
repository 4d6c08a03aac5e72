"""Commands: `grid maps export`, the main maps as standalone HTML files.

`grid maps export --out DIR` draws every map page of the app (heat map, heat
map by week or day, choropleth, hot spots, emerging hot spots, operations)
from the database with the same queries and builders, and writes each as one
HTML file that opens with no network and no app (scripts, styles and fonts
inside, or copied beside it with `--assets copy`). It prints one path per
line. The filters are the pages' own. Exit codes: 0 written, 1 no layout or
the map assets are missing (scripts/assets.sh), 2 a bad filter or option,
3 database unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from api.pages.views import PageQuery

maps_app = typer.Typer(help="Maps as standalone HTML files (offline).", no_args_is_help=True)


def export_maps(
    engine: Engine,
    out: Path,
    query: PageQuery,
    *,
    names: list[str] | None = None,
    assets: Literal["inline", "copy"] = "inline",
) -> list[Path]:
    """Write the map pages `names` (all by default) as `<name>.html` under `out`.

    For `grid maps export` and the demo. Raises InvalidFilter, NoLayout
    (LookupError), maps.offline.MissingAssetsError as the pages would.
    """
    from api.pages.views import MAPS, build_map
    from gis.settings import get_settings
    from maps.export import save_standalone

    settings = get_settings()
    written = []
    for name in names or list(MAPS):
        m = build_map(name, engine, query, None, settings)
        written.append(save_standalone(m, out / f"{name}.html", assets=assets))
    return written


@maps_app.command("export")
def maps_export(
    out: Annotated[Path, typer.Option("--out", help="folder to write the HTML files into")],
    date_from: Annotated[
        str | None, typer.Option("--from", help="first day YYYY-MM-DD (default: a year ago)")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="last day YYYY-MM-DD (default: today)")
    ] = None,
    class_code: Annotated[str | None, typer.Option("--class", help="a class code, e.g. 01")] = None,
    subclass: Annotated[str | None, typer.Option(help="a subclass code, e.g. 0101")] = None,
    subdistrict: Annotated[str | None, typer.Option(help="a subdistrict's 9-digit code")] = None,
    status: Annotated[str | None, typer.Option(help="only cases of this status")] = None,
    tier: Annotated[str | None, typer.Option(help="minor|moderate|major")] = None,
    by: Annotated[str, typer.Option(help="heat map over time: week|day")] = "week",
    level: Annotated[str, typer.Option(help="choropleth areas: grid|community")] = "grid",
    months: Annotated[int, typer.Option(help="emerging hot spots: whole months")] = 12,
    only: Annotated[
        list[str] | None, typer.Option(help="only these maps (repeat the option)")
    ] = None,
    assets: Annotated[
        str, typer.Option(help="inline (one file each) | copy (a vendor/ folder beside them)")
    ] = "inline",
) -> None:
    """Write the main maps as standalone HTML files and print their paths."""
    from api.pages.views import MAPS, PageQuery
    from cases.mapdata import CaseFilters, InvalidFilter
    from gridcli.common import checked_engine, fail
    from maps.offline import MissingAssetsError

    choices = {"by": (by, ("week", "day")), "level": (level, ("grid", "community"))}
    choices["assets"] = (assets, ("inline", "copy"))
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            raise fail(f"--{option} must be one of {', '.join(allowed)}, not {value!r}", 2)
    unknown = sorted(set(only or ()) - set(MAPS))
    if unknown:
        raise fail(f"--only: no map named {', '.join(unknown)}; the maps: {', '.join(MAPS)}", 2)
    query = PageQuery(
        filters=CaseFilters(
            date_from=date_from,
            date_to=date_to,
            class_code=class_code,
            subclass=subclass,
            subdistrict=subdistrict,
            status=status,
            tier=tier,
        ),
        by="day" if by == "day" else "week",
        level="community" if level == "community" else "grid",
        months=months,
    )
    engine = checked_engine()
    try:
        paths = export_maps(
            engine,
            out,
            query,
            names=list(only) if only else None,
            assets="copy" if assets == "copy" else "inline",
        )
    except InvalidFilter as exc:
        raise fail(f"--{exc.field}: {exc.message}" if exc.field else exc.message, 2) from None
    except LookupError as exc:
        raise fail(str(exc).strip("'\""), 1) from None
    except MissingAssetsError as exc:
        raise fail(str(exc), 1) from None
    for path in paths:
        print(path)


def register(app: typer.Typer) -> None:
    """Add `grid maps` to the `grid` app."""
    app.add_typer(maps_app, name="maps")
