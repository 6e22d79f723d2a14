"""Request ids and the request log (SPEC §10): one JSON line per request.

`RequestLogMiddleware` runs first. It takes the request's id from the proxy's `X-Request-Id`
(only behind a proxy, NUM_PROXIES > 0, since a client could otherwise choose what ties its
request to the audit log; and only a short id of safe characters) or makes one, returns it
in the response's `X-Request-Id`, has every audit event written while answering record it
(tenants.services.current_request_id), and writes one line on the `identity_server.requests`
logger: id, method, route name, status, duration, the client ID when one is known and the
organization.

What a line never holds: the query string or the path (either may carry a code, a token or
a secret a client put in the wrong place: the route name says which page it was), a header
other than the id, or anything from the body. The client ID is logged only once the client
is known to exist (`request_client_known`), since an unknown one is whatever was typed,
sometimes a secret pasted into the wrong field.

Cost: a clock read, a contextvar, a uuid and one formatted line; no I/O besides the log
handler, no database or cache (the signed-in user is not loaded for it).
"""

import json
import logging
import re
import time
import uuid

from django.utils.functional import empty
from rest_framework.settings import api_settings

from tenants.services import current_request_id

log = logging.getLogger("identity_server.requests")

HEADER = "X-Request-Id"
# Long enough for a UUID or a trace id with its parent, short enough for the audit column.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
# URL keywords that name the organization, by name or by UUID.
_ORGANIZATION_KWARGS = ("org", "partition_global_id")


def request_id_from(request) -> str:
    """The proxy's id when there is a proxy and the id is acceptable, else a new one."""
    if api_settings.NUM_PROXIES:
        offered = request.headers.get(HEADER, "")
        if _ACCEPTED_ID.fullmatch(offered):
            return offered
    return uuid.uuid4().hex


def request_client_known(request, *, client_id: str, organization: str = "") -> None:
    """Names the client (and its organization) in this request's log line: only a client
    that exists, authenticated or not."""
    request.log_client_id = client_id
    if organization:
        request.log_organization = organization


def _client_id(request) -> str:
    known = getattr(request, "log_client_id", "")
    if known:
        return known
    # A bearer token's client (DRF puts it on the request). A session's user is left
    # unloaded when the request did not need it: loading it would read the database.
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return ""
    return getattr(user, "client_id", "") or ""


def _organization(request) -> str:
    known = getattr(request, "log_organization", "")
    if known:
        return known
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    for name in _ORGANIZATION_KWARGS:
        value = match.kwargs.get(name)
        if value:
            return str(value)[:64]
    return ""


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = request.request_id = request_id_from(request)
        bound = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(bound)
        response[HEADER] = request_id
        if log.isEnabledFor(logging.INFO):
            match = getattr(request, "resolver_match", None)
            line = {
                "request_id": request_id,
                "method": request.method[:16],
                "route": match.view_name if match else getattr(request, "log_route", None),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            client_id, organization = _client_id(request), _organization(request)
            if client_id:
                line["client_id"] = client_id
            if organization:
                line["organization"] = organization
            log.info(json.dumps(line, separators=(",", ":")))
        return response
