"""Manual ledger entries: what a station writes by hand where the data does not
know it, checked per ledger (cases.ledgers.fields), versioned, never
overwritten. The case register takes no manual entries: a case enters
through intake.

Each entry has a date (not before 2000, not after today in Asia/Shanghai) and
its fields. Names and phone numbers (a petitioner's name and phone, a
meeting's host and attendees) are split off, encrypted (gis.privacy) into
`personal_enc`, and only ever shown masked. A correction or a withdrawal is
a new version of the entry, made against the version the writer saw (a stale
one is a Conflict), so nothing is overwritten and nothing is lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cases.access import Principal
from cases.errors import Conflict, InvalidInput, NotFound
from cases.ledgers.fields import FIELDS, Day, EntryIn, RevisionIn, check_fields
from cases.ledgers.kinds import MANUAL_KINDS, TITLES, LedgerKind, parse_kind
from cases.ledgers.month import Month
from cases.stations.places import check_place, station_place
from cases.stations.shifts import iso
from gis.privacy import decrypt, encrypt, mask_name, mask_phone
from gis.settings import Settings, get_settings

UNIQUE_VIOLATION = "23505"


# ------------------------------------------------------------------ views

_MASKS: dict[str, Callable[[Any], Any]] = {
    "name": mask_name,
    "host": mask_name,
    "phone": mask_phone,
    "attendees": lambda names: [mask_name(n) for n in names or []],
}


def mask_personal(personal: dict[str, Any], shown: bool) -> dict[str, Any]:
    """The personal fields as staff see them: masked, or None/[] when `shown` is false
    (analysts: no personal data at all)."""
    out: dict[str, Any] = {}
    for key, value in personal.items():
        if not shown:
            out[key] = [] if isinstance(value, list) else None
        else:
            out[key] = _MASKS.get(key, mask_name)(value)
    return out


@dataclass(frozen=True)
class Entry:
    """The current version of a manual entry, personal data in the clear (for
    building ledgers inside this package; never shown as it is)."""

    entry_id: int
    version: int
    station_code: str
    kind: str
    date: Day
    fields: dict[str, Any]
    personal: dict[str, Any]
    withdrawn: bool
    reason: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class EntryView:
    """An entry as shown: personal data masked (absent for analysts)."""

    id: int
    version: int
    station_code: str
    kind: str
    ledger: str
    date: str
    fields: dict[str, Any]
    withdrawn: bool
    reason: str
    created_by: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _view(entry: Entry, personal_shown: bool) -> EntryView:
    return EntryView(
        id=entry.entry_id,
        version=entry.version,
        station_code=entry.station_code,
        kind=entry.kind,
        ledger=TITLES[LedgerKind(entry.kind)],
        date=entry.date.isoformat(),
        fields={**entry.fields, **mask_personal(entry.personal, personal_shown)},
        withdrawn=entry.withdrawn,
        reason=entry.reason,
        created_by=entry.created_by,
        created_at=iso(entry.created_at) or "",
    )


def personal_shown(principal: Principal | None) -> bool:
    """Whether masked personal data is shown at all (not to analysts)."""
    return principal is None or principal.rule.personal_data


# ------------------------------------------------------------------ kinds and sealing


def _manual_kind(kind: str | LedgerKind) -> LedgerKind:
    ledger = parse_kind(str(kind))
    if ledger not in MANUAL_KINDS:
        raise InvalidInput(
            f"the {TITLES[ledger]} ({ledger.value}) is built from the cases and takes no "
            "manual entries; file a case through intake instead",
            field="kind",
        )
    return ledger


def _sealed(personal: dict[str, Any], settings: Settings) -> bytes | None:
    if not any(v for v in personal.values()):
        return None
    return encrypt(json.dumps(personal, ensure_ascii=False), settings)


def _opened(blob: bytes | None, kind: str, settings: Settings) -> dict[str, Any]:
    model = FIELDS[LedgerKind(kind)]
    empty: dict[str, Any] = {k: ([] if k == "attendees" else None) for k in model.personal}
    text = decrypt(blob, settings) if blob is not None else None
    if text is None:
        return empty
    return {**empty, **json.loads(text)}


# ------------------------------------------------------------------ store

_COLUMNS = """id, entry_id, version, station_code, kind, entry_date, fields, personal_enc,
              withdrawn, reason, created_by, created_at"""
_INSERT_FIRST = sa.text(f"""
WITH n AS (SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id')) AS id)
INSERT INTO ledger_entry (id, entry_id, version, station_code, kind, entry_date, fields,
                          personal_enc, created_by)
SELECT n.id, n.id, 1, :station, :kind, :date, CAST(:fields AS jsonb), :personal, :actor FROM n
RETURNING {_COLUMNS}
""")
_INSERT_NEXT = sa.text(f"""
INSERT INTO ledger_entry (entry_id, version, station_code, kind, entry_date, fields,
                          personal_enc, withdrawn, reason, created_by)
VALUES (:entry, :version, :station, :kind, :date, CAST(:fields AS jsonb), :personal,
        :withdrawn, :reason, :actor)
RETURNING {_COLUMNS}
""")
_CURRENT = sa.text(f"""
SELECT {_COLUMNS} FROM ledger_entry
WHERE entry_id = :entry ORDER BY version DESC LIMIT 1
""")
_MONTH = sa.text(f"""
SELECT {_COLUMNS} FROM (
    SELECT DISTINCT ON (entry_id) {_COLUMNS}
    FROM ledger_entry
    WHERE station_code = :station AND kind = ANY(CAST(:kinds AS text[]))
    ORDER BY entry_id, version DESC
) e
WHERE entry_date < :until AND entry_date >= :since
  AND (CAST(:withdrawn AS boolean) OR NOT withdrawn)
ORDER BY entry_date, entry_id
""")
_HISTORY = sa.text(f"""
SELECT {_COLUMNS} FROM ledger_entry
WHERE station_code = :station AND kind = ANY(CAST(:kinds AS text[]))
  AND entry_id IN (SELECT entry_id FROM ledger_entry
                   WHERE station_code = :station AND kind = ANY(CAST(:kinds AS text[]))
                     AND entry_date < :until AND entry_date >= :since)
ORDER BY entry_id, version
""")


def _entry(row: Any, settings: Settings) -> Entry:
    return Entry(
        entry_id=int(row.entry_id),
        version=int(row.version),
        station_code=row.station_code,
        kind=row.kind,
        date=row.entry_date,
        fields=dict(row.fields or {}),
        personal=_opened(row.personal_enc, row.kind, settings),
        withdrawn=bool(row.withdrawn),
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def add_entry(
    engine: Engine,
    station_code: str,
    kind: str | LedgerKind,
    entry: EntryIn,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> EntryView:
    """Write a new entry in a station's ledger (version 1); returns it, masked.

    NotFound for an unknown station, InvalidInput for the case register (no
    manual entries) or fields its ledger does not accept (named), Forbidden
    for a station outside the principal's scope.
    """
    settings = settings or get_settings()
    ledger = _manual_kind(kind)
    plain, personal = check_fields(ledger, entry.fields, settings)
    with engine.begin() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "write in the ledgers")
        row = conn.execute(
            _INSERT_FIRST,
            {
                "station": place.code,
                "kind": ledger.value,
                "date": entry.date,
                "fields": json.dumps(plain, ensure_ascii=False),
                "personal": _sealed(personal, settings),
                "actor": principal.username if principal else "cli",
            },
        ).one()
    return _view(_entry(row, settings), personal_shown(principal))


def revise_entry(
    engine: Engine,
    station_code: str,
    kind: str | LedgerKind,
    entry_id: int,
    revision: RevisionIn,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> EntryView:
    """Correct or withdraw an entry: a new version, the old ones kept.

    Conflict when `revision.version` is not the entry's newest version (someone
    corrected it since) or the same correction races another; NotFound when
    the station's ledger has no such entry.
    """
    settings = settings or get_settings()
    ledger = _manual_kind(kind)
    with engine.begin() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "correct the ledgers")
        row = conn.execute(_CURRENT, {"entry": entry_id}).first()
        if row is None or row.station_code != place.code or row.kind != ledger.value:
            raise NotFound(
                f"the {TITLES[ledger]} of station {place.code} has no entry {entry_id}",
                field="entry_id",
            )
        current = _entry(row, settings)
        if revision.version != current.version:
            raise Conflict(
                f"entry {entry_id} is at version {current.version}, not {revision.version}: "
                "someone corrected it since; read it again and correct that version",
                field="version",
            )
        if revision.fields is not None:
            plain, personal = check_fields(ledger, revision.fields, settings)
        else:
            plain, personal = current.fields, current.personal
        params = {
            "entry": entry_id,
            "version": current.version + 1,
            "station": place.code,
            "kind": ledger.value,
            "date": revision.date or current.date,
            "fields": json.dumps(plain, ensure_ascii=False),
            "personal": _sealed(personal, settings),
            "withdrawn": revision.withdrawn,
            "reason": revision.reason,
            "actor": principal.username if principal else "cli",
        }
        try:
            with conn.begin_nested():
                new = conn.execute(_INSERT_NEXT, params).one()
        except IntegrityError as exc:
            if getattr(exc.orig, "pgcode", None) != UNIQUE_VIOLATION:
                raise
            raise Conflict(
                f"entry {entry_id} was corrected at the same moment by someone else; read it again",
                field="version",
            ) from None
    return _view(_entry(new, settings), personal_shown(principal))


def month_entries(
    conn: Connection,
    station_code: str,
    kinds: Iterable[LedgerKind],
    since: date,
    until: date,
    settings: Settings,
    *,
    withdrawn: bool = False,
) -> list[Entry]:
    """The current version of each entry of these ledgers dated in [since, until),
    oldest first; withdrawn ones only when asked."""
    rows = conn.execute(
        _MONTH,
        {
            "station": station_code,
            "kinds": [k.value for k in kinds],
            "since": since,
            "until": until,
            "withdrawn": withdrawn,
        },
    )
    return [_entry(r, settings) for r in rows]


def list_entries(
    engine: Engine,
    station_code: str,
    kind: str | LedgerKind,
    month: Month,
    *,
    history: bool = False,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> list[EntryView]:
    """A station's manual entries of one ledger in a month, masked: the current
    version of each (withdrawn ones marked), or every version with `history`."""
    settings = settings or get_settings()
    ledger = _manual_kind(kind)
    with engine.connect() as conn:
        place = station_place(conn, station_code, "station")
        check_place(principal, place, "read the ledgers")
        if history:
            rows = conn.execute(
                _HISTORY,
                {
                    "station": place.code,
                    "kinds": [ledger.value],
                    "since": month.first_day,
                    "until": month.next_first_day,
                },
            )
            entries = [_entry(r, settings) for r in rows]
        else:
            entries = month_entries(
                conn,
                place.code,
                [ledger],
                month.first_day,
                month.next_first_day,
                settings,
                withdrawn=True,
            )
    shown = personal_shown(principal)
    return [_view(e, shown) for e in entries]
