"""Open311 GeoReport v2 on top of the case workflow: parameters, services, requests, intake.

The spec (wiki.open311.org/GeoReport_v2) names the fields; this package speaks
them and knows nothing of JSON or XML. Everything a client sends is checked
here and refused with `InvalidInput` (answered as 400), `NotFound` (404) or
`Forbidden` (403, see cases.apikeys); nothing it sends reaches SQL other than
as a bound parameter.

Rooms: `params` (single and list values, jurisdiction, W3C datetimes, the GET
requests query), `services` (discovery and the service list), `requests`
(cases read as service requests), `create` (POST requests through the intake).
"""

from __future__ import annotations

from cases.open311.create import (
    SINGLE_FIELDS,
    CreatedRequest,
    build_complaint,
    submit_request,
)
from cases.open311.params import (
    CODE_LIST_PATTERN,
    DEFAULT_WINDOW,
    ID_LIST_PATTERN,
    JURISDICTION_ID,
    LOCAL_TZ,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION,
    MAX_IDS,
    MAX_PAGE,
    MAX_RESULTS,
    MAX_TOKEN_LENGTH,
    MAX_URL_LENGTH,
    PAGE_PATTERN,
    PAGE_SIZE_PATTERN,
    STATUS_LIST_PATTERN,
    TOKEN_PATTERN,
    URL_PATTERN,
    W3C_PATTERN,
    Params,
    RequestQuery,
    check_jurisdiction,
    open311_field,
    parse_request_query,
    parse_w3c_datetime,
    w3c,
)
from cases.open311.requests import (
    OPEN311_CLOSED,
    TIER_NOTICE,
    ServiceRequest,
    get_request,
    list_requests,
    query_requests,
    request_id_for_token,
)
from cases.open311.services import (
    CHANGESET,
    SPECIFICATION,
    Service,
    changeset,
    discovery,
    list_services,
    service_definition,
)

__all__ = [
    "CHANGESET",
    "CODE_LIST_PATTERN",
    "DEFAULT_WINDOW",
    "ID_LIST_PATTERN",
    "JURISDICTION_ID",
    "LOCAL_TZ",
    "MAX_CODE_LENGTH",
    "MAX_DESCRIPTION",
    "MAX_IDS",
    "MAX_PAGE",
    "MAX_RESULTS",
    "MAX_TOKEN_LENGTH",
    "MAX_URL_LENGTH",
    "OPEN311_CLOSED",
    "PAGE_PATTERN",
    "PAGE_SIZE_PATTERN",
    "SINGLE_FIELDS",
    "SPECIFICATION",
    "STATUS_LIST_PATTERN",
    "TIER_NOTICE",
    "TOKEN_PATTERN",
    "URL_PATTERN",
    "W3C_PATTERN",
    "CreatedRequest",
    "Params",
    "RequestQuery",
    "Service",
    "ServiceRequest",
    "build_complaint",
    "changeset",
    "check_jurisdiction",
    "discovery",
    "get_request",
    "list_requests",
    "list_services",
    "open311_field",
    "parse_request_query",
    "parse_w3c_datetime",
    "query_requests",
    "request_id_for_token",
    "service_definition",
    "submit_request",
    "w3c",
]
