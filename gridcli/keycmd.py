"""`grid key check`: the personal-data key, and whether it reads the stored data.

Exit codes as everywhere in `grid`: 0 the key is fine (or missing on a
database without encrypted data, where the next start makes one), 1 it is
missing or wrong, 3 the database is unreachable.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridcli.common import checked_engine, fail, out


def register(app: typer.Typer) -> None:
    """Add `grid key` to the CLI."""
    key_app = typer.Typer(help="The personal-data key (names, phone numbers).")
    app.add_typer(key_app, name="key")

    @key_app.command("check")
    def key_check(
        sample: Annotated[int, typer.Option(min=1, help="values tried per column")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Say where the key is, its fingerprint, and whether it decrypts stored values."""
        from gis.privacy import check_key

        report = check_key(checked_engine(key=False), sample=sample)
        if as_json:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
        else:
            where = "environment" if report.source == "CG_DATA_KEY" else "file"
            out.print(f"key:          {report.source} ({where})", highlight=False)
            out.print(f"present:      {'yes' if report.present else 'no'}", highlight=False)
            out.print(f"fingerprint:  {report.fingerprint or '-'}", highlight=False)
            for column, (ok, n) in report.samples.items():
                out.print(f"decrypts:     {column}: {ok} of {n} sampled", highlight=False)
            if not report.samples:
                held = "holds" if report.encrypted_data else "holds no"
                out.print(f"stored data:  the database {held} encrypted values", highlight=False)
        problem = report.problem
        if problem:
            raise fail(problem)
        if not as_json:
            if not report.present:
                out.print("ok: no key yet and nothing encrypted; the next start makes one")
            else:
                out.print("ok: back the key up together with the database", highlight=False)
