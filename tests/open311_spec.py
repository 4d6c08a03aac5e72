"""What Open311 GeoReport v2 says a service and a service request carry, in its order.

Written out here from the specification (wiki.open311.org/GeoReport_v2), not taken
from the application, so that the tests check the service against the standard.
Imported as `open311_spec` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

# A service request (GET requests.json / requests/{id}.json, <request> in XML).
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
# A service of the list (GET services.json, <service> in XML).
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
