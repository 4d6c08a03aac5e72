"""Command: `grid indicators`: the workflow's indicators of one place and period.

`grid indicators --level station --code ST440703002003 --from 2016-05-01
--to 2016-05-31 [--json]` prints every indicator (key, 中文名, value, unit) as
a table, or with --json one JSON object (as `GET /api/v1/indicators`
answers). `--level district` needs no code. The command line sees every place.

Exit codes: 0 done; 1 no such place; 2 usage (a bad level or date, a period
in the future or too long); 3 database unreachable.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer


def indicators_command(
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="district|subdistrict|community|grid|station|squad|officer|department",
        ),
    ],
    code: Annotated[
        str | None, typer.Option("--code", help="the place's code (not needed for district)")
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="first day YYYY-MM-DD (default: month's first)")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="last day YYYY-MM-DD (default: today)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The indicators (结案率, 按期结案率, 返工率, 处置率 …) of one place over a period."""
    from rich.table import Table

    from cases.errors import DomainError
    from cases.indicators import indicators
    from gridcli.common import checked_engine, fail, out

    engine = checked_engine()
    try:
        found = indicators(engine, level, code, date_from, date_to)
    except DomainError as exc:
        where = f"--{exc.field}: " if exc.field else ""
        raise fail(f"{where}{exc.message}", 1 if exc.field == "code" else 2) from None
    data = found.as_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table(
        "key",
        "指标",
        "值",
        "单位",
        title=f"{data['name']}（{data['level']} {data['code']}）{data['from']} 至 {data['to']}",
    )
    for item in data["indicators"]:
        value = item["value"]
        shown = "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"
        if "numerator" in item:
            shown += f"  ({item['numerator']:,}/{item['denominator']:,})"
        table.add_row(item["key"], item["name"], shown, item["unit"])
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `grid indicators` to the `grid` app."""
    app.command("indicators")(indicators_command)
