"""Request ids and the request log (SPEC §10): one JSON line per request.

`RequestLogMiddleware` runs first. It takes the request's id from the proxy's `X-Request-Id`
(only behind a proxy, NUM_PROXIES > 0, since a client could otherwise choose what ties its
request to the audit log; and only a short id of safe characters) or makes one, returns it
in the response's `X-Request-Id`, has every audit event written while answering record it
(tenants.services.current_request_id), and writes one line on the `identity_server.requests`
logger: id, method, route name, status, duration, the client ID when one is known and the
organization; and for a token issued, the token's facts (`token`: its `jti`, `exp`, `scope`,
`prt_id` and the secret or credential that authenticated the client), which the validator
leaves on the request (`request_token_issued`): one line per request, the token's included.

What a line never holds: the query string or the path (either may carry a code, a token or
a secret a client put in the wrong place: the route name says which page it was), a header
other than the id, or anything from the body. The client ID is logged only once the client
is known to exist (`request_client_known`), since an unknown one is whatever was typed,
sometimes a secret pasted into the wrong field.

Cost: a clock read, a contextvar, 16 random bytes and one log call; the line is put
together from its few known fields, each string escaped by json's C escaper (no dict, no
encoder walk); no I/O besides the log handler, no database or cache (the signed-in user is
not loaded for it).
"""

import json
import logging
import re
import secrets
import time
from json.encoder import encode_basestring as _string  # a JSON string: quoted, escaped

from django.utils.functional import empty
from rest_framework.settings import api_settings

from tenants.services import current_request_id

log = logging.getLogger("identity_server.requests")

HEADER = "X-Request-Id"
# Long enough for a UUID or a trace id with its parent, short enough for the audit column.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
# URL keywords that name the organization, by name or by UUID.
_ORGANIZATION_KWARGS = ("org", "partition_global_id")
# Built once: json.dumps with options builds an encoder on every call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _value(value) -> str:
    """A JSON value of what a line holds: strings, numbers, null and lists of strings."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if type(value) is int or type(value) is float:
        return repr(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[" + ",".join(map(_string, value)) + "]"
    return _encode(value)


def request_id_from(request) -> str:
    """The proxy's id when there is a proxy and the id is acceptable, else a new one."""
    if api_settings.NUM_PROXIES:
        offered = request.headers.get(HEADER, "")
        if _ACCEPTED_ID.fullmatch(offered):
            return offered
    return secrets.token_hex(16)


def request_client_known(request, *, client_id: str, organization: str = "") -> None:
    """Names the client (and its organization) in this request's log line: only a client
    that exists, authenticated or not."""
    request.log_client_id = client_id
    if organization:
        request.log_organization = organization


def request_token_issued(request, facts: dict) -> None:
    """Adds an issued token's facts to this request's log line (`token`): never the token."""
    request.log_token = facts


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
            log.info(_line(request, response, started))
        return response


def _line(request, response, started: float) -> str:
    match = getattr(request, "resolver_match", None)
    route = match.view_name if match else getattr(request, "log_route", None)
    line = (
        f'{{"request_id":{_string(request.request_id)},"method":{_string(request.method[:16])}'
        f',"route":{_value(route)},"status":{int(response.status_code)}'
        f',"duration_ms":{round((time.perf_counter() - started) * 1000, 2)!r}'
    )
    client_id, organization = _client_id(request), _organization(request)
    if client_id:
        line += f',"client_id":{_string(client_id)}'
    if organization:
        line += f',"organization":{_string(organization)}'
    token = getattr(request, "log_token", None)
    if token:
        fields = ",".join(f"{_string(name)}:{_value(value)}" for name, value in token.items())
        line += f',"token":{{{fields}}}'
    return line + "}"
