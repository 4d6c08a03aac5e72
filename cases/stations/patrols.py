"""Patrols (巡查): a GPS track walked by an officer, with findings and frontage checks.

Recording a patrol, in order:
1. everything sent is checked before anything is written: the officer and
   station, the track (gis.tracks: a broken coordinate is named by its index),
   the times (from the request, else from the track; not in the future), each
   finding as the complaint it will become, each frontage check;
2. one transaction keeps the patrol, the grids its track passed through, its
   coverage of the station's community (gis.tracks: the track buffered by
   `patrol_buffer_m` on each side, intersected with the community, as a share
   of its area), its findings and its frontage checks;
3. each finding is then filed through the normal intake
   (`cases.intake.submit_complaint`, source "patrol"), and the case's id is
   written back on the finding. A finding intake refuses keeps the reason in
   `filing_error`; one not filed (say the database went away) keeps no case id
   and `file_findings` files it later. Nothing sent is lost.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.errors import DomainError, InvalidInput, NotFound
from cases.intake import ComplaintIn, submit_complaint
from cases.stations.frontage import item_code
from cases.stations.models import FRONTAGE_ITEMS
from cases.stations.places import check_place, check_self, station_place
from cases.stations.shifts import FUTURE_SLACK, aware, clean_text, iso
from gis import crs as crsmod
from gis.settings import Settings, get_settings
from gis.tracks import TrackError, community_coverage, grids_passed, read_track

SOURCE = "patrol"
MAX_FINDINGS = 100
MAX_CHECKS = 500
MAX_GPX_CHARS = 20_000_000


class FindingIn(BaseModel):
    """A problem seen on a patrol: it becomes a case (source patrol)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float = Field(allow_inf_nan=False)
    lat: float = Field(allow_inf_nan=False)
    crs: str | None = Field(default=None, description="default: the patrol's crs")
    subclass: str = Field(min_length=1, max_length=16)
    description: str = Field(default="", max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=9)
    seen_at: datetime | None = Field(default=None, description="default: the patrol's end")

    @field_validator("crs", "subclass", "description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else clean_text(value)


class FrontageCheckIn(BaseModel):
    """One item of one frontage unit, checked on the patrol: passed or failed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    frontage_code: str = Field(min_length=1, max_length=32)
    item: str = Field(min_length=1, max_length=16, description=", ".join(FRONTAGE_ITEMS))
    passed: bool
    note: str = Field(default="", max_length=500)
    checked_at: datetime | None = Field(default=None, description="default: the patrol's end")

    @field_validator("item")
    @classmethod
    def _item(cls, value: str) -> str:
        return item_code(value)

    @field_validator("frontage_code", "note")
    @classmethod
    def _text(cls, value: str) -> str:
        return clean_text(value)

    @field_validator("checked_at")
    @classmethod
    def _at(cls, value: datetime | None) -> datetime | None:
        return None if value is None else aware(value, "checked_at")


class PatrolIn(BaseModel):
    """A patrol as sent: who, where, the track (GeoJSON object or GPX text) in
    `crs`, when (else the track's times), findings and frontage checks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    officer_code: str = Field(min_length=1, max_length=16)
    station_code: str | None = Field(
        default=None, max_length=16, description="default: the officer's station"
    )
    crs: str = Field(default="wgs84", min_length=1, max_length=32)
    geojson: dict[str, Any] | None = None
    gpx: str | None = Field(default=None, max_length=MAX_GPX_CHARS)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    note: str = Field(default="", max_length=1000)
    findings: list[FindingIn] = Field(default_factory=list, max_length=MAX_FINDINGS)
    frontage_checks: list[FrontageCheckIn] = Field(default_factory=list, max_length=MAX_CHECKS)

    @field_validator("officer_code", "station_code", "note")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else clean_text(value)

    @field_validator("started_at", "ended_at")
    @classmethod
    def _times(cls, value: datetime | None) -> datetime | None:
        return None if value is None else aware(value, "the time")

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            return crsmod.parse_crs(clean_text(value))
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_track(self) -> PatrolIn:
        if (self.geojson is None) == (self.gpx is None):
            raise ValueError("send the track as geojson (an object) or as gpx (text), not both")
        return self


# ------------------------------------------------------------------ views


@dataclass(frozen=True)
class PatrolView:
    """A recorded patrol: its track's figures, grids, findings and checks."""

    id: int
    officer_code: str
    station_code: str
    community_code: str
    started_at: str
    ended_at: str
    source_format: str
    crs_in: str
    points: int
    length_m: float
    buffer_m: float
    coverage: float
    covered_m2: float
    community_m2: float
    generation: int
    note: str
    grids: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    frontage_checks: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


# ------------------------------------------------------------------ checks


def _complaint(i: int, f: FindingIn, crs: str, seen_at: datetime, settings: Settings) -> Any:
    """The complaint a finding becomes, checked now (InvalidInput naming the finding)."""
    try:
        load_catalogue(settings.data_dir / CATALOGUE_FILE).subclass(f.subclass)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"findings[{i}].subclass") from None
    try:
        return ComplaintIn(
            lon=f.lon,
            lat=f.lat,
            crs=f.crs or crs,
            subclass=f.subclass,
            description=f.description,
            photos=f.photos,
            reported_at=f.seen_at or seen_at,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "lon,lat"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise InvalidInput(message, field=f"findings[{i}].{where}") from None


def _times(patrol: PatrolIn, track_start: datetime | None, track_end: datetime | None) -> Any:
    started = patrol.started_at or track_start
    ended = patrol.ended_at or track_end
    if started is None or ended is None:
        raise InvalidInput(
            "say when the patrol was (started_at and ended_at), or send a track with times",
            field="started_at" if started is None else "ended_at",
        )
    for name, value in (("started_at", started), ("ended_at", ended)):
        try:
            aware(value, name)
        except ValueError as exc:
            raise InvalidInput(str(exc), field=name) from None
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise InvalidInput(f"{name} is in the future", field=name)
    if ended < started:
        raise InvalidInput("ended_at comes before started_at", field="ended_at")
    return started, ended


_OFFICER = sa.text("SELECT code, station_code, active FROM officer WHERE code = :code")
_UNITS = sa.text("SELECT code FROM frontage_unit WHERE code = ANY(CAST(:codes AS text[]))")
_INSERT_PATROL = sa.text("""
INSERT INTO patrol (officer_code, station_code, community_code, started_at, ended_at,
                    source_format, crs_in, points, track, length_m, generation_id, buffer_m,
                    covered_m2, community_m2, coverage, note, created_by)
VALUES (:officer, :station, :community, :started, :ended, :format, :crs, :points,
        ST_Multi(ST_SetSRID(ST_GeomFromWKB(:wkb), 4326)), :length, :generation, :buffer,
        :covered, :community_m2, :coverage, :note, :actor)
RETURNING id
""")
_INSERT_GRIDS = sa.text("""
INSERT INTO patrol_grid (patrol_id, grid_code, community_code, length_m)
VALUES (:patrol, :grid, :community, :length)
""")
_INSERT_FINDINGS = sa.text("""
INSERT INTO patrol_finding (patrol_id, seq, subclass_code, description, photos, lon_in, lat_in,
                            crs_in, seen_at)
VALUES (:patrol, :seq, :subclass, :description, CAST(:photos AS jsonb), :lon, :lat, :crs, :seen)
""")
_INSERT_CHECKS = sa.text("""
INSERT INTO frontage_check (patrol_id, frontage_code, item, passed, note, checked_at)
VALUES (:patrol, :code, :item, :passed, :note, :at)
""")


def record_patrol(
    engine: Engine,
    patrol: PatrolIn,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> PatrolView:
    """Record a patrol and file its findings as cases (see the module's steps).

    InvalidInput naming the field (a broken track point by its index, a
    finding, a frontage check); NotFound for an unknown officer or station;
    Forbidden outside the principal's scope or, for officers, for someone
    else's patrol; LookupError when no layout is loaded.
    """
    settings = settings or get_settings()
    actor = principal.username if principal else "cli"
    try:
        track = read_track(
            geojson=patrol.geojson,
            gpx=patrol.gpx,
            crs=patrol.crs,
            max_points=settings.patrol_max_points,
        )
    except TrackError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None
    started, ended = _times(patrol, track.started_at, track.ended_at)
    complaints = [
        _complaint(i, f, patrol.crs, ended, settings) for i, f in enumerate(patrol.findings)
    ]
    seen = set()
    for i, c in enumerate(patrol.frontage_checks):
        if (c.frontage_code, c.item) in seen:
            raise InvalidInput(
                f"{c.frontage_code} {c.item} is checked twice on this patrol",
                field=f"frontage_checks[{i}]",
            )
        seen.add((c.frontage_code, c.item))
    wkb = track.wkb()
    with engine.begin() as conn:
        officer = conn.execute(_OFFICER, {"code": patrol.officer_code}).first()
        if officer is None:
            raise NotFound(f"no officer {patrol.officer_code!r}", field="officer_code")
        station_code = patrol.station_code or officer.station_code
        if station_code is None:
            raise InvalidInput(
                f"officer {officer.code} has no station; say which (station_code)",
                field="station_code",
            )
        place = station_place(conn, station_code)
        check_place(principal, place, "record patrols")
        check_self(principal, officer.code, "record patrols")
        known = {
            r.code
            for r in conn.execute(
                _UNITS, {"codes": [c.frontage_code for c in patrol.frontage_checks]}
            )
        }
        for i, c in enumerate(patrol.frontage_checks):
            if c.frontage_code not in known:
                raise InvalidInput(
                    f"no frontage unit {c.frontage_code!r}; register it first",
                    field=f"frontage_checks[{i}].frontage_code",
                )
        coverage = community_coverage(conn, wkb, place.community_code, settings.patrol_buffer_m)
        grids = grids_passed(conn, wkb)
        patrol_id = conn.execute(
            _INSERT_PATROL,
            {
                "officer": officer.code,
                "station": place.code,
                "community": place.community_code,
                "started": started,
                "ended": ended,
                "format": track.source_format,
                "crs": track.crs,
                "points": track.points,
                "wkb": wkb,
                "length": coverage.length_m,
                "generation": coverage.generation,
                "buffer": settings.patrol_buffer_m,
                "covered": coverage.covered_m2,
                "community_m2": coverage.community_m2,
                "coverage": coverage.share,
                "note": patrol.note,
                "actor": actor,
            },
        ).scalar_one()
        if grids:
            conn.execute(
                _INSERT_GRIDS,
                [
                    {
                        "patrol": patrol_id,
                        "grid": g.grid_code,
                        "community": g.community_code,
                        "length": g.length_m,
                    }
                    for g in grids
                ],
            )
        if complaints:
            conn.execute(
                _INSERT_FINDINGS,
                [
                    {
                        "patrol": patrol_id,
                        "seq": i,
                        "subclass": c.subclass,
                        "description": c.description,
                        "photos": json.dumps(c.photos),
                        "lon": c.lon,
                        "lat": c.lat,
                        "crs": c.crs,
                        "seen": c.reported_at,
                    }
                    for i, c in enumerate(complaints)
                ],
            )
        if patrol.frontage_checks:
            conn.execute(
                _INSERT_CHECKS,
                [
                    {
                        "patrol": patrol_id,
                        "code": c.frontage_code,
                        "item": c.item,
                        "passed": c.passed,
                        "note": c.note,
                        "at": c.checked_at or ended,
                    }
                    for c in patrol.frontage_checks
                ],
            )
    file_findings(engine, int(patrol_id), settings=settings)
    return get_patrol(engine, int(patrol_id), principal=principal)


_UNFILED = sa.text("""
SELECT id, subclass_code, description, photos, lon_in, lat_in, crs_in, seen_at
FROM patrol_finding
WHERE patrol_id = :patrol AND case_id IS NULL AND filing_error IS NULL
ORDER BY seq
""")
_FILED = sa.text("UPDATE patrol_finding SET case_id = :case, filing_error = NULL WHERE id = :id")
_REFUSED = sa.text("UPDATE patrol_finding SET filing_error = :error WHERE id = :id")


def file_findings(engine: Engine, patrol_id: int, *, settings: Settings | None = None) -> int:
    """File a patrol's findings that have no case yet through intake (source
    patrol); returns how many were filed. A finding intake refuses keeps the
    reason in `filing_error` and is not tried again."""
    settings = settings or get_settings()
    with engine.connect() as conn:
        pending = conn.execute(_UNFILED, {"patrol": patrol_id}).all()
    filed = 0
    for f in pending:  # each through the one intake path, one transaction each
        complaint = ComplaintIn(
            lon=f.lon_in,
            lat=f.lat_in,
            crs=f.crs_in,
            subclass=f.subclass_code,
            description=f.description,
            photos=list(f.photos or []),
            reported_at=f.seen_at,
        )
        try:
            view = submit_complaint(engine, complaint, source=SOURCE, settings=settings)
        except DomainError as exc:
            with engine.begin() as conn:
                conn.execute(_REFUSED, {"id": f.id, "error": exc.message})
            continue
        with engine.begin() as conn:
            conn.execute(_FILED, {"id": f.id, "case": view.id})
        filed += 1
    return filed


_PATROL = sa.text("""
SELECT p.id, p.officer_code, p.station_code, p.community_code, p.started_at, p.ended_at,
       p.source_format, p.crs_in, p.points, p.length_m, p.buffer_m, p.coverage, p.covered_m2,
       p.community_m2, p.generation_id, p.note,
       (SELECT coalesce(json_agg(json_build_object('grid_code', g.grid_code,
                'community_code', g.community_code, 'length_m', round(g.length_m::numeric, 1))
                ORDER BY g.grid_code), '[]'::json)
        FROM patrol_grid g WHERE g.patrol_id = p.id) AS grids,
       (SELECT coalesce(json_agg(json_build_object('seq', f.seq, 'subclass', f.subclass_code,
                'description', f.description, 'lon_in', f.lon_in, 'lat_in', f.lat_in,
                'crs_in', f.crs_in, 'seen_at', f.seen_at, 'case_id', f.case_id,
                'case_status', (SELECT c.status FROM case_file c WHERE c.id = f.case_id),
                'filing_error', f.filing_error) ORDER BY f.seq), '[]'::json)
        FROM patrol_finding f WHERE f.patrol_id = p.id) AS findings,
       (SELECT coalesce(json_agg(json_build_object('frontage_code', k.frontage_code,
                'item', k.item, 'passed', k.passed, 'note', k.note, 'checked_at', k.checked_at)
                ORDER BY k.frontage_code, k.item), '[]'::json)
        FROM frontage_check k WHERE k.patrol_id = p.id) AS checks
FROM patrol p WHERE p.id = :id
""")


def _local(value: str | None) -> str | None:
    return None if value is None else iso(datetime.fromisoformat(value))


def get_patrol(engine: Engine, patrol_id: int, *, principal: Principal | None = None) -> PatrolView:
    """One patrol as recorded (NotFound; Forbidden outside the principal's scope)."""
    with engine.connect() as conn:
        row = conn.execute(_PATROL, {"id": patrol_id}).mappings().first()
        if row is None:
            raise NotFound(f"no patrol {patrol_id}", field="patrol_id")
        check_place(principal, station_place(conn, row["station_code"]), "see patrols")
    findings = [{**f, "seen_at": _local(f["seen_at"])} for f in row["findings"]]
    checks = [
        {**c, "label": FRONTAGE_ITEMS.get(c["item"]), "checked_at": _local(c["checked_at"])}
        for c in row["checks"]
    ]
    return PatrolView(
        id=int(row["id"]),
        officer_code=row["officer_code"],
        station_code=row["station_code"],
        community_code=row["community_code"],
        started_at=iso(row["started_at"]) or "",
        ended_at=iso(row["ended_at"]) or "",
        source_format=row["source_format"],
        crs_in=row["crs_in"],
        points=int(row["points"]),
        length_m=round(float(row["length_m"]), 1),
        buffer_m=float(row["buffer_m"]),
        coverage=round(float(row["coverage"]), 4),
        covered_m2=round(float(row["covered_m2"]), 1),
        community_m2=round(float(row["community_m2"]), 1),
        generation=int(row["generation_id"]),
        note=row["note"],
        grids=list(row["grids"]),
        findings=findings,
        frontage_checks=checks,
    )
