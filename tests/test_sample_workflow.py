"""The sample workflow (sample.workflow): a month of sample cases driven through
the lifecycle, each by its fate, and a rerun that adds nothing."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.stations.weeks import LOCAL_TZ
from gis.settings import Settings
from sample.complaints import load_sample_complaints
from sample.seed import load_sample
from sample.workflow import run_sample_workflow

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=LOCAL_TZ)  # the last full month is 2026-10


def _snapshot(engine: Engine) -> tuple[dict[str, int], int, int]:
    """Sample cases by status, cases ever sent back, cases evaluated after a late report.

    Counted before and after the run: other tests (the demo among them) leave sample
    cases of their own in the shared test database, so the run is judged by the change.
    """
    with engine.connect() as conn:
        states: dict[str, int] = {
            r.status: int(r.n)
            for r in conn.execute(
                sa.text(
                    "SELECT status, count(*) AS n FROM case_file WHERE source = 'sample' "
                    "GROUP BY status"
                )
            )
        }
        reworked = conn.execute(
            sa.text("SELECT count(DISTINCT case_id) FROM case_event WHERE kind = 'sent_back'")
        ).scalar_one()
        late = conn.execute(
            sa.text(
                "SELECT count(*) FROM case_file c WHERE c.status = 'evaluated' AND EXISTS ("
                "SELECT 1 FROM case_event e WHERE e.case_id = c.id AND e.kind = 'reported_back' "
                "AND e.at > c.due_at)"
            )
        ).scalar_one()
    return states, int(reworked), int(late)


def test_a_month_of_cases_handled_on_time_late_reworked_and_left_to_escalate(
    engine: Engine, settings: Settings, tmp_path: object
) -> None:
    load_sample(engine, settings=settings)
    load_sample_complaints(engine, today=date(2026, 11, 1), days=31, out_dir=tmp_path)  # type: ignore[arg-type]
    states0, reworked0, late0 = _snapshot(engine)
    done = run_sample_workflow(engine, now=NOW, settings=settings)
    assert done.month == "2026-10"
    assert all(n > 0 for n in done.cases.values()), done.cases
    states, reworked, late = _snapshot(engine)

    def grew(status: str) -> int:
        return states.get(status, 0) - states0.get(status, 0)

    assert grew("evaluated") == done.cases["on_time"] + done.cases["late"] + done.cases["reworked"]
    assert grew("in_progress") == done.cases["escalated"]  # no sweeper runs in the tests
    assert grew("dispatched") == -sum(done.cases.values())
    assert reworked - reworked0 == done.cases["reworked"]
    assert late - late0 >= done.cases["late"]
    again = run_sample_workflow(engine, now=NOW, settings=settings)
    assert again.moves == 0
    assert _snapshot(engine) == (states, reworked, late)
