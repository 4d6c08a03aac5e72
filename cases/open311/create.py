"""Open311 POST requests: the spec's form fields turned into a complaint, filed by the intake.

The intake locates and files the case at once, so the answer carries the
service_request_id (and, as the spec says, no token).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from cases.errors import InvalidInput
from cases.intake import ComplaintIn, submit_complaint
from cases.open311.params import (
    MAX_DESCRIPTION,
    MAX_URL_LENGTH,
    URL_PATTERN,
    Params,
    check_jurisdiction,
    open311_field,
    single,
)
from cases.open311.requests import get_request
from cases.open311.services import subclass_for

if TYPE_CHECKING:
    from gis.settings import Settings

SINGLE_FIELDS = (
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
    "crs",
)


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _coordinate(params: Params, name: str) -> float | None:
    """A decimal number as sent; range and swapped pairs are the intake's checks."""
    value = single(params, name)
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        raise InvalidInput(f"{value[:40]!r} is not a decimal number", field=name)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput("must be a finite number", field=name)
    return number


def _person_name(first: str | None, last: str | None) -> str | None:
    parts = [p for p in (first, last) if p]
    if not parts:
        return None
    if any("\u3400" <= ch <= "\u9fff" for p in parts for ch in p):
        return "".join(p for p in (last, first) if p)  # 中文姓名：姓在前
    return " ".join(parts)


@dataclass(frozen=True)
class CreatedRequest:
    """What POST requests answers (spec): the id, a notice, the client's account_id."""

    service_request_id: int
    service_notice: str | None
    account_id: str | None

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields; token is left out because the id is returned at once."""
        return {
            "service_request_id": self.service_request_id,
            "service_notice": self.service_notice,
            "account_id": self.account_id,
        }


def build_complaint(params: Params) -> ComplaintIn:
    """Turn POST requests fields into the intake's ComplaintIn (400 / 404 on bad fields)."""
    for field in SINGLE_FIELDS:
        single(params, field)  # refuses conflicting repeats of any single-valued field
    check_jurisdiction(params)
    code = single(params, "service_code")
    if code is None:
        raise InvalidInput("service_code was not provided", field="service_code")
    sub = subclass_for(code)

    lat = _coordinate(params, "lat")
    lon = _coordinate(params, "long")
    if (lat is None) != (lon is None):
        raise InvalidInput("lat and long must be sent together", field="lat/long")
    address = single(params, "address_string")
    address_id = single(params, "address_id")
    if lat is None and address is None and address_id is None:
        raise InvalidInput(
            "a location is required: lat and long, address_string or address_id", field="lat/long"
        )
    if address_id is not None:
        address = f"{address or ''} [address_id {address_id}]".strip()

    description = single(params, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"longer than {MAX_DESCRIPTION} characters", field="description")
    media_url = single(params, "media_url")
    if media_url is not None and (
        len(media_url) > MAX_URL_LENGTH or not re.fullmatch(URL_PATTERN, media_url)
    ):
        raise InvalidInput("must be an http(s) URL", field="media_url")

    fields: dict[str, Any] = {
        "subclass": sub.code,
        "description": description,
        "photos": [media_url] if media_url else [],
    }
    if lat is not None:
        fields.update(lon=lon, lat=lat, crs=single(params, "crs") or "wgs84")
    if address:
        fields["address"] = address
    reporter = _person_name(single(params, "first_name"), single(params, "last_name"))
    if reporter:
        fields["reporter_name"] = reporter
    phone = single(params, "phone")
    if phone:
        fields["reporter_phone"] = phone
    try:
        return ComplaintIn(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(
            str(first.get("msg", "invalid")), field=open311_field(loc) or None
        ) from exc


def submit_request(
    engine: Engine, params: Params, *, api_key_id: int, settings: Settings | None = None
) -> CreatedRequest:
    """POST requests: check the fields, file the case through the intake, answer per spec.

    The intake locates and files the case at once, so the answer carries the
    service_request_id (and, as the spec says, no token).
    """
    complaint = build_complaint(params)
    view = submit_complaint(
        engine, complaint, source="open311", api_key_id=api_key_id, settings=settings
    )
    created = get_request(engine, {}, str(view.id))
    notice = created.service_notice or created.status_notes
    # No user accounts are kept here, so account_id is not returned (the spec allows it).
    return CreatedRequest(service_request_id=int(view.id), service_notice=notice, account_id=None)
