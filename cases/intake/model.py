"""The complaint as sent: the input model every live door (API, Open311) fills in.

Text is checked for what PostgreSQL cannot store (NUL, lone surrogates) and
stripped; coordinates are checked against the district in
`cases.intake.coordinates` once the layout is at hand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gis import crs as crsmod

FUTURE_SLACK = timedelta(minutes=5)
"""A reported time this far ahead of our clock is accepted (clients' clocks drift)."""
EARLIEST_REPORT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ID = 2**63 - 1

_PHONE = re.compile(r"^[0-9+\- ]{5,20}$")


def _clean_text(value: str) -> str:
    """Refuse what PostgreSQL text cannot hold (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value


class ComplaintIn(BaseModel):
    """A resident's complaint as sent (lon/lat in `crs`; all text stripped).

    Text is stored and returned as text: HTML or script in a description is
    never interpreted, only carried.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lon: float | None = Field(
        default=None, allow_inf_nan=False, description="longitude (x) in `crs`"
    )
    lat: float | None = Field(
        default=None, allow_inf_nan=False, description="latitude (y) in `crs`"
    )
    crs: str = Field(
        default="wgs84",
        min_length=1,
        max_length=32,
        description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n",
    )
    subclass: str = Field(
        min_length=1, max_length=16, description="subclass code of the catalogue, e.g. 0101"
    )
    description: str = Field(default="", max_length=2000)
    reporter_name: str | None = Field(default=None, max_length=50)
    reporter_phone: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=300)
    photos: list[str] = Field(
        default_factory=list, max_length=9, description="up to 9 http(s) URLs"
    )
    reported_at: datetime | None = Field(
        default=None, description="when it was seen; ISO 8601 with a time-zone offset"
    )

    @field_validator("crs", "subclass", "description", "reporter_name", "reporter_phone", "address")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _clean_text(value)

    @field_validator("reporter_name", "address")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("reporter_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _PHONE.fullmatch(value):
            raise ValueError("a phone number is 5-20 digits, '+', '-' or spaces")
        return value

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            return crsmod.parse_crs(value)
        except crsmod.UnknownCRSError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("photos")
    @classmethod
    def _photos(cls, value: list[str]) -> list[str]:
        out = []
        for i, url in enumerate(value):
            url = _clean_text(url.strip())
            parts = urlsplit(url)
            if (
                len(url) > 1000
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or any(ch.isspace() for ch in url)
            ):
                raise ValueError(f"photo {i + 1} must be an http(s) URL of at most 1000 characters")
            out.append(url)
        return out

    @field_validator("reported_at")
    @classmethod
    def _reported_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a time-zone offset, e.g. 2026-11-24T09:30:00+08:00")
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("is in the future")
        if value < EARLIEST_REPORT:
            raise ValueError("is before 2000")
        return value

    @model_validator(mode="after")
    def _pair(self) -> ComplaintIn:
        if (self.lon is None) != (self.lat is None):
            raise PydanticCustomError(
                "lon_lat_pair",
                "lon and lat go together: send both, or neither (with an address)",
                {"field": "lon,lat"},
            )
        return self
