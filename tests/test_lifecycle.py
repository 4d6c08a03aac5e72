"""The lifecycle on PostGIS: the table, every legal and illegal move, holders by tier,
the raising rules, stale versions, sharing with a department, masking, events kept.

Cases are filed through the real intake and moved with `apply_move`, as the API
does; the expected outcomes are read from the same table the code reads
(cases.lifecycle.states), so a row added there is tested here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lifecycle_world import (
    DEPARTMENT,
    HERE_SQUAD,
    NEIGHBOUR,
    Cast,
    cast,
    events,
    file_case,
    fresh_place,
    here_place,
    move,
    row,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.accounts.models import ROLES
from cases.calendar import handling_deadline, load_calendar, reply_deadline
from cases.catalogue import load_catalogue
from cases.errors import Forbidden, InvalidInput, NotFound
from cases.intake.rules import window_counts
from cases.lifecycle.docs import DOC
from cases.lifecycle.errors import (
    IllegalTransition,
    PreconditionFailed,
    PreconditionRequired,
    StaleVersion,
)
from cases.lifecycle.states import (
    ACTION_BY_CODE,
    API_ACTIONS,
    STATE_CODES,
    TIERS,
    TRANSITIONS,
    markdown_table,
    roles_for,
    transition,
)
from cases.lifecycle.transitions import Move, apply_move
from cases.lifecycle.views import CaseFilter, get_case, list_cases
from gis.settings import Settings

PHOTO = "https://example.org/after.jpg"


@pytest.fixture(scope="module")
def quiet(settings: Settings) -> Settings:
    """Settings without the repeat rule (other tests' reports must not raise our cases)."""
    return settings.model_copy(update={"repeat_report_count": 1000})


@pytest.fixture(scope="module")
def people(engine: Engine, settings: Settings, sample_layout_module: int) -> Cast:
    return cast(engine)


@pytest.fixture(scope="module")
def sample_layout_module(engine: Engine, settings: Settings) -> int:
    from sample.seed import load_sample

    return load_sample(engine, settings=settings).generation


# ---------------------------------------------------------------- the table


def test_the_committed_doc_is_the_table() -> None:
    """docs/lifecycle.md is written from the table (python -m cases.lifecycle.docs)."""
    assert DOC.read_text(encoding="utf-8") == markdown_table()


def test_the_table_names_real_roles_states_and_actions() -> None:
    for t in TRANSITIONS:
        assert t.roles <= set(ROLES), t
        assert t.source in STATE_CODES and t.target in STATE_CODES
    # every state is reached and every non-final state can be left
    targets = {t.target for t in TRANSITIONS} | {"received", "dispatched", "referred_out"}
    assert targets == set(STATE_CODES)
    assert "escalate" not in API_ACTIONS  # only the sweeper escalates
    assert all(transition(s, "escalate").system for s in ("dispatched", "in_progress", "rework"))


# ------------------------------------------------------ every move, legal or not


def _reach(engine: Engine, settings: Settings, people: Cast, state: str) -> int:
    """A fresh case in `state`, reached through the intake and legal moves."""
    d, o = people.dispatcher, people.officer
    if state == "referred_out":
        return file_case(engine, settings, None, at=NEIGHBOUR)
    if state in ("received", "filed", "cancelled", "duplicate"):
        case = file_case(engine, settings, None)
        if state == "filed":
            move(engine, settings, d, case, "file", grid_code=here_place(engine).grid)
        elif state == "cancelled":
            move(engine, settings, d, case, "cancel", reason="无效诉求")
        elif state == "duplicate":
            master = file_case(engine, settings, here_place(engine), apart=True)
            move(engine, settings, d, case, "mark_duplicate", reason="重复", master_id=master)
        return case
    case = file_case(engine, settings, here_place(engine), apart=True)
    path = {
        "dispatched": [],
        "in_progress": [(o, "start", {})],
        "reported_back": [(o, "start", {}), (o, "report_back", {"photos": (PHOTO,)})],
        "rework": [
            (o, "start", {}),
            (o, "report_back", {"photos": (PHOTO,)}),
            (d, "send_back", {"reason": "未清理干净"}),
        ],
        "closed": [(o, "start", {}), (o, "report_back", {"photos": (PHOTO,)}), (d, "close", {})],
        "evaluated": [
            (o, "start", {}),
            (o, "report_back", {"photos": (PHOTO,)}),
            (d, "close", {}),
            (d, "evaluate", {"rating": 5}),
        ],
    }[state]
    for who, action, fields in path:
        move(engine, settings, who, case, action, **fields)
    assert row(engine, case)["status"] == state
    return case


def _fields(engine: Engine, action: str, case: int, master: int) -> dict[str, Any]:
    """Every field the move could need (the table says which it does)."""
    tier = row(engine, case)["tier"]
    higher = TIERS[min(TIERS.index(tier) + 1, len(TIERS) - 1)]
    fields: dict[str, Any] = {
        "note": "已电话答复群众",
        "photos": (PHOTO,),
        "reason": "测试原因",
        "tier": higher,
        "rating": 4,
        "master_id": master,
    }
    if action == "file" and row(engine, case)["grid_code"] is None:
        fields["grid_code"] = here_place(engine).grid
    return fields


def _who(people: Cast, action: str, legal: bool) -> Principal:
    roles = roles_for(action)
    if "dispatcher" in roles:
        return people.dispatcher
    if action == "raise_tier":
        return people.deputy_leader
    # start, report_back: the holder of a minor case here; the chief (who sees every
    # case) to be refused by the table rather than by the place
    return people.officer if legal else people.chief


@pytest.mark.parametrize("state", STATE_CODES)
def test_every_move_from_every_state(
    engine: Engine, quiet: Settings, people: Cast, state: str
) -> None:
    """Each API action from `state`: applied as the table says (state, version, one
    event: who, when, from, to, note, photos), or refused with the state as it is."""
    master = file_case(engine, quiet, here_place(engine), apart=True)
    standing = _reach(engine, quiet, people, state)
    for action in API_ACTIONS:
        t = transition(state, action)
        legal = t is not None and not t.system
        case = _reach(engine, quiet, people, state) if legal else standing
        before = row(engine, case)
        seen = events(engine, case)
        who = _who(people, action, legal)
        fields = _fields(engine, action, case, master)
        if not legal:
            with pytest.raises(IllegalTransition) as refused:
                move(engine, quiet, who, case, action, **fields)
            assert refused.value.current["status"] == state
            assert refused.value.current["version"] == before["version"]
            assert row(engine, case) == before and events(engine, case) == seen
            continue
        assert t is not None
        view = move(engine, quiet, who, case, action, **fields)
        after = row(engine, case)
        assert after["status"] == view["status"] == t.target, (state, action)
        assert after["version"] == before["version"] + 1 + (action == "mark_duplicate") * 0
        new = events(engine, case)
        assert new[: len(seen)] == seen  # nothing earlier changed
        last = new[-1]
        assert len(new) == len(seen) + 1
        assert last["kind"] == ACTION_BY_CODE[action].event
        assert last["actor"] == who.username
        assert last["data"]["from"] == state and last["data"]["to"] == t.target
        assert last["data"]["account_id"] == who.account_id
        assert last["data"]["note"] == fields["note"]
        assert last["data"]["photos"] == list(fields["photos"])
        assert view["events"][-1]["kind"] == last["kind"]


def test_each_move_needs_what_the_table_says(engine: Engine, quiet: Settings, people: Cast) -> None:
    case = _reach(engine, quiet, people, "received")
    d = people.dispatcher
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, d, case, "cancel")
    assert e.value.field == "reason"
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, d, case, "file")
    assert e.value.field == "grid_code"  # it is in no grid yet
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, d, case, "file", grid_code="440703999999999")
    assert e.value.field == "grid_code"
    dispatched = _reach(engine, quiet, people, "dispatched")
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, people.officer, dispatched, "report_back")
    assert e.value.field == "photos"
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, people.officer, dispatched, "raise_tier", reason="大", tier="minor")
    assert e.value.field == "tier"  # only up
    closed = _reach(engine, quiet, people, "closed")
    with pytest.raises(InvalidInput) as e:
        move(engine, quiet, d, closed, "evaluate")
    assert e.value.field == "rating"
    assert row(engine, case)["version"] == 1 and row(engine, closed)["status"] == "closed"


def test_roles_and_holding_are_checked(engine: Engine, quiet: Settings, people: Cast) -> None:
    case = _reach(engine, quiet, people, "dispatched")
    with pytest.raises(Forbidden):  # not a dispatcher's move
        move(engine, quiet, people.dispatcher, case, "start")
    with pytest.raises(Forbidden):  # a leader in scope, but the officer holds it
        move(engine, quiet, people.squad_leader, case, "start")
    with pytest.raises(NotFound):  # outside the officer's place: as if there were none
        move(engine, quiet, people.officer_elsewhere, case, "start")
    with pytest.raises(Forbidden):  # an analyst takes no moves at all
        move(engine, quiet, people.analyst, case, "reply", note="x")
    with pytest.raises(InvalidInput):  # the sweeper's move is not an API action
        move(engine, quiet, people.dispatcher, case, "escalate")
    assert row(engine, case)["version"] == 1
    move(engine, quiet, people.officer, case, "start")


# ------------------------------------------------------------------ holders


def test_each_tier_has_its_holder(engine: Engine, quiet: Settings, people: Cast) -> None:
    """minor: the station's officer on duty; moderate: the squad's leader; major: the
    deputy leader in charge (the lowest code, or the setting's); with the due times."""
    catalogue = load_catalogue(quiet.data_dir / "catalogue.toml")
    calendar = load_calendar(quiet.data_dir)
    with engine.connect() as conn:
        leader = conn.execute(
            sa.text(
                "SELECT min(code) FROM officer WHERE role = 'squad_leader' AND squad_code = :s"
            ),
            {"s": HERE_SQUAD},
        ).scalar_one()
        deputies = (
            conn.execute(
                sa.text("SELECT code FROM officer WHERE role = 'deputy_leader' ORDER BY code")
            )
            .scalars()
            .all()
        )
    assert len(deputies) >= 2
    for subclass, role, code in (
        ("0101", "officer", None),
        ("0102", "squad_leader", leader),
        ("0501", "deputy_leader", deputies[0]),
    ):
        place = fresh_place(engine, squad=HERE_SQUAD)
        case = row(engine, file_case(engine, quiet, place, subclass))
        assert case["status"] == "dispatched" and case["tier"] == catalogue.subclass(subclass).tier
        assert case["holder_role"] == role
        if code is None:
            with engine.connect() as conn:
                station_officers = set(
                    conn.execute(
                        sa.text("SELECT code FROM officer WHERE station_code = :s"),
                        {"s": place.station},
                    ).scalars()
                )
            assert case["holder_code"] == case["officer_code"] in station_officers
        else:
            assert case["holder_code"] == code
        sub = catalogue.subclass(subclass)
        assert case["due_at"] == handling_deadline(case["dispatched_at"], sub, calendar).at
        assert case["reply_due_at"] == reply_deadline(case["reported_at"], sub, calendar).at
        assert case["due_provisional"] is False
        # kept apart from where it was located
        assert case["grid_code"] == place.grid and case["squad_code"] == HERE_SQUAD
    in_charge = quiet.model_copy(update={"deputy_in_charge": deputies[1]})
    case = row(engine, file_case(engine, in_charge, fresh_place(engine), "0501"))
    assert (case["holder_role"], case["holder_code"]) == ("deputy_leader", deputies[1])


def test_waiting_cases_are_the_command_centres(
    engine: Engine, quiet: Settings, people: Cast
) -> None:
    received = row(engine, file_case(engine, quiet, None))
    assert (received["status"], received["holder_role"], received["holder_code"]) == (
        "received",
        "dispatcher",
        None,
    )
    assert received["due_at"] is None and received["reply_due_at"] is not None
    referred = row(engine, file_case(engine, quiet, None, at=NEIGHBOUR))
    assert referred["status"] == "referred_out" and referred["holder_role"] is None
    # filed by the command centre, then dispatched: the clock starts at dispatch
    place = fresh_place(engine, squad=HERE_SQUAD)
    move(engine, quiet, people.dispatcher, received["id"], "file", grid_code=place.grid)
    filed = row(engine, received["id"])
    assert (filed["status"], filed["grid_code"], filed["station_code"]) == (
        "filed",
        place.grid,
        place.station,
    )
    view = move(engine, quiet, people.dispatcher, received["id"], "dispatch")
    done = row(engine, received["id"])
    assert done["holder_role"] == "officer" and done["holder_code"] is not None
    assert done["dispatched_at"] is not None and done["due_at"] > done["dispatched_at"]
    # the command centre may still refer it, call it a duplicate, or answer the resident
    assert view["actions"] == ["refer", "mark_duplicate", "reply"]
    with engine.connect() as conn:
        notice = conn.execute(
            sa.text("SELECT * FROM notification WHERE case_id = :i"), {"i": done["id"]}
        ).one()
    assert (notice.kind, notice.recipient_role, notice.recipient_code) == (
        "dispatched",
        "officer",
        done["holder_code"],
    )
    assert "陈小明" not in notice.message and "13812345678" not in notice.message


def test_raising_a_tier_by_hand_changes_hands(
    engine: Engine, quiet: Settings, people: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    move(engine, quiet, people.officer, case, "raise_tier", tier="moderate", reason="涉及多户")
    after = row(engine, case)
    assert (after["tier"], after["holder_role"]) == ("moderate", "squad_leader")
    last = events(engine, case)[-1]
    assert last["kind"] == "tier_raised" and last["data"]["reason"] == "涉及多户"
    assert last["data"]["tier_from"] == "minor" and last["data"]["rule"] == "manual"
    # now the squad leader holds it: the officer may no longer start it, the leader may
    with pytest.raises(Forbidden):
        move(engine, quiet, people.officer, case, "start")
    move(engine, quiet, people.squad_leader, case, "start")


# ------------------------------------------------------------ raising rules


def test_window_counts_by_hand() -> None:
    import numpy as np
    import pyarrow as pa

    day = np.timedelta64(86_400, "s")
    t0 = np.datetime64("2026-03-01T00:00:00", "s")
    keys = pa.array(["a", "a", "b", "a", "a", None], pa.string())
    times = np.array([t0, t0 + 10 * day, t0, t0 + 29 * day, t0 + 45 * day, t0], "datetime64[us]")
    old = pa.array(["a", "b"], pa.string())
    old_t = np.array([t0 - 5 * day, t0 - 40 * day], "datetime64[us]")
    got = window_counts(keys, times, 30, old, old_t)
    # a@0: the old a (5 days before); a@10: old a, a@0; b@0: old b is 40 days before;
    # a@29: old a is 34 days before, a@0, a@10; a@45: a@29 (a@10 is 35 days before)
    assert got.tolist() == [1, 2, 0, 2, 1, 0]


def test_three_reports_in_a_grid_within_30_days_raise_the_third(
    engine: Engine, settings: Settings
) -> None:
    place = fresh_place(engine, squad=HERE_SQUAD)
    now = datetime.now(UTC)
    # the same spot, days apart: outside 0101's duplicate window (24 h), inside 30 days
    first = row(engine, file_case(engine, settings, place, reported_at=now - timedelta(days=20)))
    second = row(engine, file_case(engine, settings, place, reported_at=now - timedelta(days=9)))
    third = row(engine, file_case(engine, settings, place))
    assert [c["tier"] for c in (first, second, third)] == ["minor", "minor", "moderate"]
    assert third["holder_role"] == "squad_leader"
    kinds = [e["kind"] for e in events(engine, third["id"])]
    assert kinds == ["created", "located", "tier_raised", "dispatched"]
    raised = events(engine, third["id"])[2]["data"]
    assert raised == {
        "tier_from": "minor",
        "tier_to": "moderate",
        "rule": "repeat",
        "count": 3,
        "window_days": 30.0,
    }
    assert events(engine, third["id"])[0]["data"]["tier"] == "minor"  # the default
    # another subclass in the grid, or the same one in another grid: not raised
    other = row(engine, file_case(engine, settings, place, "0103"))
    assert other["tier"] == "minor"


def test_a_report_older_than_the_window_does_not_count(engine: Engine, settings: Settings) -> None:
    place = fresh_place(engine, squad=HERE_SQUAD)
    now = datetime.now(UTC)
    file_case(engine, settings, place, reported_at=now - timedelta(days=31))
    file_case(engine, settings, place, reported_at=now - timedelta(days=5))
    third = row(engine, file_case(engine, settings, place))
    assert third["tier"] == "minor"
    strict = settings.model_copy(update={"repeat_report_count": 2})
    # (two days back: not a duplicate of the one just filed)
    again = file_case(engine, strict, place, reported_at=now - timedelta(days=2))
    assert row(engine, again)["tier"] == "moderate"


def test_bulk_applies_the_repeat_rule_set_based(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Three rows of a file in one grid within 30 days: the third is raised, as if filed
    one by one; a report already in the database counts too."""
    from cases.bulk import assign_file

    a = fresh_place(engine, squad=HERE_SQUAD)
    b = fresh_place(engine, squad=HERE_SQUAD)
    file_case(engine, settings, b, reported_at=datetime(2026, 3, 1, 9, tzinfo=UTC))
    body = "lon,lat,subclass,reported_at\n" + "".join(
        f"{p.lon},{p.lat},0101,{day}\n"
        for p, day in (
            (a, "2026-03-01T09:00:00+08:00"),
            (a, "2026-03-11T09:00:00+08:00"),
            (b, "2026-03-12T09:00:00+08:00"),
            (a, "2026-03-20T09:00:00+08:00"),
            (a, "2026-05-01T09:00:00+08:00"),
            (b, "2026-03-13T09:00:00+08:00"),
        )
    )
    path = tmp_path / "repeat.csv"
    path.write_text(body, encoding="utf-8")
    assign_file(engine, path, "wgs84", settings=settings)
    with engine.connect() as conn:
        got = conn.execute(
            sa.text(
                "SELECT grid_code, reported_at, tier, holder_role FROM case_file "
                "WHERE external_ref LIKE 'repeat.csv:%' ORDER BY grid_code, reported_at"
            )
        ).all()
    by_grid = {g: [t for gg, _, t, _ in got if gg == g] for g in (a.grid, b.grid)}
    assert by_grid[a.grid] == ["minor", "minor", "moderate", "minor"]
    assert by_grid[b.grid] == ["minor", "moderate"]
    assert all(h == "squad_leader" for _, _, t, h in got if t == "moderate")


def test_an_emergency_class_is_raised(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """A class flagged emergency (突发事件) raises its subclasses to CG_EMERGENCY_TIER."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(settings.data_dir / "holidays.toml", data / "holidays.toml")
    text = (settings.data_dir / "catalogue.toml").read_text(encoding="utf-8")
    # 0503 树木倒伏 as a moderate subclass of the emergency class
    head, _, tail = text.partition('code = "0503"')
    tail = tail.replace('tier = "major"', 'tier = "moderate"', 1)
    (data / "catalogue.toml").write_text(head + 'code = "0503"' + tail, encoding="utf-8")
    local = settings.model_copy(update={"data_dir": data, "repeat_report_count": 1000})
    assert load_catalogue(data / "catalogue.toml").subclass("0503").tier == "moderate"
    case = row(engine, file_case(engine, local, fresh_place(engine), "0503"))
    assert (case["tier"], case["holder_role"]) == ("major", "deputy_leader")
    raised = [e for e in events(engine, case["id"]) if e["kind"] == "tier_raised"]
    assert raised[0]["data"]["rule"] == "emergency"
    milder = local.model_copy(update={"emergency_tier": "moderate"})
    assert row(engine, file_case(engine, milder, fresh_place(engine), "0503"))["tier"] == (
        "moderate"
    )


# ------------------------------------------------------------- concurrency


def test_a_stale_version_is_refused_with_the_current_state(
    engine: Engine, quiet: Settings, people: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    seen = get_case(engine, people.officer, case, quiet)
    assert seen["version"] == 1
    move(engine, quiet, people.officer, case, "start", version=1)
    kept = events(engine, case)
    with pytest.raises(StaleVersion) as stale:
        apply_move(
            engine, people.officer, case, "report_back", Move(photos=(PHOTO,), version=1), quiet
        )
    assert stale.value.current["version"] == 2
    assert stale.value.current["status"] == "in_progress"
    assert stale.value.etag == f'"{case}-2"'
    with pytest.raises(PreconditionFailed) as failed:
        apply_move(
            engine,
            people.officer,
            case,
            "report_back",
            Move(photos=(PHOTO,)),
            quiet,
            if_match=seen["etag"],
        )
    assert failed.value.current["status"] == "in_progress"
    with pytest.raises(PreconditionRequired):
        apply_move(engine, people.officer, case, "report_back", Move(photos=(PHOTO,)), quiet)
    assert events(engine, case) == kept and row(engine, case)["version"] == 2
    # the current ETag (or a list holding it) is accepted
    view = apply_move(
        engine,
        people.officer,
        case,
        "report_back",
        Move(photos=(PHOTO,)),
        quiet,
        if_match=f'W/"{case}-2", "{case}-2"',
    )
    assert view["version"] == 3 and view["status"] == "reported_back"


def test_the_events_cannot_be_changed_or_removed(
    engine: Engine, quiet: Settings, people: Cast
) -> None:
    case = file_case(engine, quiet, here_place(engine), apart=True)
    move(engine, quiet, people.officer, case, "start")
    owner = sa.create_engine(quiet.owner_url_for())
    try:
        for statement in (
            "UPDATE case_event SET data = '{}' WHERE case_id = :i",
            "DELETE FROM case_event WHERE case_id = :i",
        ):
            # the application's role: no such right (or, as one role, the trigger)
            with pytest.raises(sa_exc.DBAPIError) as refused, engine.begin() as conn:
                conn.execute(sa.text(statement), {"i": case})
            text = str(refused.value)
            assert "permission denied" in text or "append-only" in text
            # the owner of the tables: the trigger refuses it all the same
            with pytest.raises(sa_exc.DBAPIError) as refused, owner.begin() as conn:
                conn.execute(sa.text(statement), {"i": case})
            assert "append-only" in str(refused.value)
    finally:
        owner.dispose()
    assert [e["kind"] for e in events(engine, case)][-1] == "started"


# ------------------------------------------------- departments and masking


def test_a_department_shares_its_cases(engine: Engine, quiet: Settings, people: Cast) -> None:
    """0106 names D05: in a grid that lists D05 the case is shared with D05's staff, who see
    it (masked) and report back on it; elsewhere, or another department, not."""
    catalogue = load_catalogue(quiet.data_dir / "catalogue.toml")
    subclass = next(
        s.code for s in catalogue.subclasses if s.department == DEPARTMENT and s.tier == "minor"
    )
    shared_place = fresh_place(engine, department=DEPARTMENT)
    case = row(engine, file_case(engine, quiet, shared_place, subclass))
    assert case["department_code"] == DEPARTMENT
    lone = row(engine, file_case(engine, quiet, fresh_place(engine, without=DEPARTMENT), subclass))
    assert lone["department_code"] is None
    bureau = row(engine, file_case(engine, quiet, fresh_place(engine, department=DEPARTMENT)))
    assert bureau["department_code"] is None  # 0101 is the bureau's own (D02)
    staff = people.department_staff
    view = get_case(engine, staff, case["id"], quiet)
    assert view["reporter_phone"] == "138****5678" and view["actions"] == ["report_back"]
    for other in (lone["id"], bureau["id"]):
        with pytest.raises(NotFound):
            get_case(engine, staff, other, quiet)
    with pytest.raises(NotFound):
        get_case(engine, people.department_staff_other, case["id"], quiet)
    listed = list_cases(engine, staff, CaseFilter(size=200), quiet)["items"]
    assert case["id"] in {c["id"] for c in listed}
    assert all(c["department_code"] == DEPARTMENT for c in listed)
    with pytest.raises(Forbidden):
        move(engine, quiet, staff, case["id"], "start")
    move(engine, quiet, staff, case["id"], "report_back", photos=(PHOTO,), note="住建已处理")
    assert row(engine, case["id"])["status"] == "reported_back"


def test_masking_wherever_a_non_handler_looks(
    engine: Engine, quiet: Settings, people: Cast
) -> None:
    """Plain to who handles the case (its holder, the command centre), masked to other
    staff who see it, absent for analysts; and it follows the holder."""
    case = file_case(engine, quiet, here_place(engine), apart=True)
    plain, masked = ("陈小明", "13812345678"), ("陈*明", "138****5678")

    def shown(who: Principal) -> tuple[str, str] | None:
        view = get_case(engine, who, case, quiet)
        listed = list_cases(engine, who, CaseFilter(size=200), quiet)["items"]
        again = next(c for c in listed if c["id"] == case)
        pair = (view.get("reporter_name"), view.get("reporter_phone"))
        assert (again.get("reporter_name"), again.get("reporter_phone")) == pair
        if "reporter_name" not in view:
            assert "reporter_phone" not in view and "reporter_name" not in again
            return None
        return (str(pair[0]), str(pair[1]))

    expected = {
        "officer": plain,
        "squad_leader": masked,
        "deputy_leader": masked,
        "chief": masked,
        "dispatcher": plain,
        "admin": masked,
        "analyst": None,
    }
    for role, want in expected.items():
        assert shown(getattr(people, role)) == want, role
    # moved up: the squad leader holds it now, the officer no longer
    move(engine, quiet, people.officer, case, "raise_tier", tier="moderate", reason="较复杂")
    assert shown(people.squad_leader) == plain
    assert shown(people.officer) == masked
    assert shown(people.analyst) is None


def test_scope_of_reads_and_lists(engine: Engine, quiet: Settings, people: Cast) -> None:
    here = file_case(engine, quiet, here_place(engine), apart=True)
    there = fresh_place(engine, squad="SQ440703002")
    elsewhere = file_case(engine, quiet, there)
    at_their_station = there.community in people.officer_elsewhere.scope.communities
    for who, sees in (
        (people.officer, {here}),
        (people.officer_elsewhere, {elsewhere} if at_their_station else set()),
        (people.squad_leader, {here}),
        (people.squad_leader_elsewhere, {elsewhere}),
        (people.chief, {here, elsewhere}),
        (people.analyst, {here, elsewhere}),
    ):
        for case in (here, elsewhere):
            if case in sees:
                assert get_case(engine, who, case, quiet)["id"] == case
            else:
                with pytest.raises(NotFound):
                    get_case(engine, who, case, quiet)
        listed = {c["id"] for c in list_cases(engine, who, CaseFilter(size=200), quiet)["items"]}
        assert listed & {here, elsewhere} <= sees
    mine = list_cases(engine, people.officer, CaseFilter(holder_me=True, size=200), quiet)
    assert here in {c["id"] for c in mine["items"]}
    assert all(c["holder_role"] == "officer" for c in mine["items"])
    assert (
        list_cases(
            engine, people.squad_leader, CaseFilter(holder_me=True, tiers=("minor",)), quiet
        )["items"]
        == []
    )


def test_bad_filters_name_their_field(engine: Engine, quiet: Settings, people: Cast) -> None:
    check: Callable[[CaseFilter], Any] = lambda f: list_cases(  # noqa: E731
        engine, people.dispatcher, f, quiet
    )
    for filt, field in (
        (CaseFilter(statuses=("open",)), "status"),
        (CaseFilter(tiers=("huge",)), "tier"),
        (CaseFilter(size=0), "size"),
        (CaseFilter(page=0), "page"),
    ):
        with pytest.raises(InvalidInput) as e:
            check(filt)
        assert e.value.field == field


def test_grid_user_create_makes_department_staff(engine: Engine, sample_layout: int) -> None:
    """`grid user create NAME --role department_staff --department CODE` (党建+N)."""
    import subprocess
    from uuid import uuid4

    from gis.settings import ROOT

    grid = str(ROOT / ".venv" / "bin" / "grid")
    name = f"dept-{uuid4().hex[:8]}"
    base = [grid, "user", "create", name, "--role", "department_staff", "--password", "pw-12345678"]
    made = subprocess.run([*base, "--department", DEPARTMENT], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert f"account {name} (department_staff, {DEPARTMENT})" in made.stdout
    missing = subprocess.run([*base[:3], name + "x", *base[4:]], capture_output=True, text=True)
    assert missing.returncode == 2 and "--department" in missing.stderr
    unknown = subprocess.run(
        [*base[:3], name + "y", *base[4:], "--department", "D99"], capture_output=True, text=True
    )
    assert unknown.returncode == 1 and "D99" in unknown.stderr
    wrong = subprocess.run(
        [
            grid,
            "user",
            "create",
            name + "z",
            "--role",
            "analyst",
            "--password",
            "pw-12345678",
            "--department",
            DEPARTMENT,
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "department staff" in wrong.stderr
