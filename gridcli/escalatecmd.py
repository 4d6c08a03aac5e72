"""Command: `grid escalate`, one sweep of the escalation sweeper (cases.lifecycle).

It moves every case that is past its due time up one step (officer → squad
leader → deputy leader in charge → chief), each exactly once even while the
service's own sweeper or another `grid escalate` runs (FOR UPDATE SKIP
LOCKED), delivers the pending notifications through the log notifier, and
prints how many cases moved: `N cases moved` on the first line (then one line
per step), or one JSON object with --json. Exit codes: 0 done (also when
nothing was overdue), 2 usage, 3 database unreachable.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer


def escalate(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Move every overdue case up one tier, once; print how many moved."""
    from cases.lifecycle.escalation import sweep
    from cases.lifecycle.notify import LogNotifier, deliver_pending
    from gridcli.common import checked_engine, out

    engine = checked_engine()
    result = sweep(engine)
    delivered = deliver_pending(engine, LogNotifier())
    if as_json:
        print(json.dumps({**result.as_dict(), "notified": delivered}, ensure_ascii=False))
        return
    out.print(f"{result.moved} cases moved", highlight=False)
    for step, count in sorted(result.by_step.items()):
        out.print(f"  {step}: {count}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `grid escalate` to the `grid` app."""
    app.command("escalate")(escalate)
