"""Open311 service discovery and the service list: catalogue subclasses in the spec's terms.

Every service is a catalogue subclass: `realtime`, with no extra attributes
(metadata false); an unknown service_code is not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cases.catalogue import Catalogue, Subclass, default_path, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.open311.params import (
    JURISDICTION_ID,
    MAX_CODE_LENGTH,
    MAX_RESULTS,
    Params,
    check_jurisdiction,
    parse_w3c_datetime,
    w3c,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2025-01-01T00:00:00+08:00"
"""When the endpoint description last changed (discovery); services add the catalogue's."""


@dataclass(frozen=True)
class Service:
    """One service type (a catalogue subclass) in the spec's terms."""

    service_code: str
    service_name: str
    description: str
    group: str
    keywords: str
    metadata: bool = False
    type: str = "realtime"

    def as_spec(self) -> dict[str, Any]:
        """The spec's fields, in the spec's order."""
        return {
            "service_code": self.service_code,
            "service_name": self.service_name,
            "description": self.description,
            "metadata": self.metadata,
            "type": self.type,
            "keywords": self.keywords,
            "group": self.group,
        }


def catalogue() -> Catalogue:
    """The event catalogue the services are made from."""
    return load_catalogue()


def _service(sub: Subclass) -> Service:
    description = sub.description or sub.name
    return Service(
        service_code=sub.code,
        service_name=sub.name,
        description=description,
        group=sub.class_name,
        keywords=", ".join(dict.fromkeys(k for k in (*sub.keywords, sub.class_name) if k)),
    )


def list_services(params: Params) -> list[Service]:
    """The service list: every catalogue subclass, in catalogue order."""
    check_jurisdiction(params)
    return [_service(sub) for sub in catalogue().subclasses]


def service_definition(params: Params, service_code: str) -> dict[str, Any]:
    """A service definition; our services ask for nothing beyond the standard fields.

    The spec makes this call necessary only for services with metadata true; a
    client that asks anyway gets a definition with no attributes, and an
    unknown code is not found.
    """
    check_jurisdiction(params)
    sub = subclass_for(service_code)
    return {"service_code": sub.code, "attributes": []}


def subclass_for(code: str) -> Subclass:
    """The catalogue subclass of a service_code, exactly as written, or NotFound (404)."""
    if len(code) > MAX_CODE_LENGTH:
        raise NotFound("service_code not found", field="service_code")
    try:
        sub = catalogue().subclass(code)
    except InvalidInput:
        sub = None
    if sub is None or sub.code != code:
        raise NotFound(f"service_code {code!r} not found", field="service_code")
    return sub


def changeset() -> str:
    """When the endpoint or its service list last changed: the catalogue file's time."""
    since = parse_w3c_datetime(CHANGESET, "changeset")
    try:
        edited = datetime.fromtimestamp(default_path().stat().st_mtime, UTC)
    except OSError:
        edited = since
    return w3c(max(since, edited)) or CHANGESET


def discovery(endpoint_url: str) -> dict[str, Any]:
    """The service discovery document (wiki.open311.org/Service_Discovery).

    Besides the spec's fields it names the jurisdiction_id this endpoint
    serves and its max_requests (as FixMyStreet's discovery does).
    """
    stamp = changeset()
    return {
        "changeset": stamp,
        "contact": "蓬江区城市管理和综合执法局 城管110应急指挥中心",
        "key_service": "API keys for submitting requests are issued by the command centre "
        "(grid apikey create NAME); reading needs no key.",
        "jurisdiction_id": JURISDICTION_ID,
        "max_requests": MAX_RESULTS,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": stamp,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
