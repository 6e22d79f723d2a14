"""Routes for operators (SPEC §10): `/healthz`, `/readyz` and `/metrics`.

They are answered by `OperationsMiddleware`, early in the middleware chain, rather than by
the URL configuration: load balancers and scrapers call a backend by its address, over
plain HTTP, with a Host header ALLOWED_HOSTS does not name, and need neither sessions nor
CSRF. Their answers depend on nothing in the request but the scraper's credentials.

- `/healthz`: the process answers (no I/O at all).
- `/readyz`: the database and the shared cache answer; 503 otherwise. The body says only
  ready or not; which part failed goes to the log, for operators.
- `/metrics`: off (404) unless METRICS_BEARER_TOKEN or METRICS_ALLOWED_ADDRESSES is set;
  then refused (403) from an address outside the allowlist and (401) without the bearer
  token, when each is set. The series are identity_server.metrics's, plus gauges read from
  the database when scraped (sessions by state, the signing key's age).
"""

import hmac
import ipaddress
import logging
import os

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import HttpResponse, JsonResponse

from identity_server import metrics
from tenants.services import client_address

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}
METRICS_CHALLENGE = 'Bearer realm="metrics"'
# A key nobody writes: reading it shows the shared cache answers.
READY_PROBE_KEY = "identity:readyz"


def _json(body: dict, status: int = 200, **headers) -> JsonResponse:
    return JsonResponse(body, status=status, headers={**NO_STORE, **headers})


def healthz(request):
    return _json({"status": "ok"})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def _shared_cache_answers() -> bool:
    try:
        cache.get(READY_PROBE_KEY)
    except Exception:  # any failure of the cache client means not ready; nothing is retried
        return False
    return True


def readyz(request):
    down = [
        name
        for name, answers in (
            ("database", _database_answers),
            ("shared cache", _shared_cache_answers),
        )
        if not answers()
    ]
    if down:
        log.warning("Not ready: the %s did not answer.", " and the ".join(down))
        return _json({"status": "unavailable"}, status=503)
    return _json({"status": "ready"})


def _address_allowed(request) -> bool:
    address = client_address(request)
    if address is None:
        return False
    address = ipaddress.ip_address(address)
    return any(address in network for network in settings.METRICS_ALLOWED_ADDRESSES)


def _token_presented(request) -> bool:
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        offered.strip().encode(), settings.METRICS_BEARER_TOKEN.encode()
    )


def _state_gauges(now: float):
    """Gauges of state kept in the database, read when scraped."""
    try:
        session = apps.get_model("machines", "Session")
        counts = dict.fromkeys(session.State.values, 0)
        for row in session.objects.order_by().values("state").annotate(count=Count("id")):
            counts[row["state"]] = row["count"]
        key_created = _signing_key_created()
    except (DatabaseError, OSError) as error:
        log.warning("Metrics read from the database are left out: %s", type(error).__name__)
        return
    yield metrics.gauge_family(
        "identity_sessions",
        "Robot sessions by their last reported state.",
        ["state"],
        {(state,): count for state, count in counts.items()},
    )
    if key_created is not None:
        yield metrics.gauge_family(
            "identity_signing_key_age_seconds",
            "Age of the key that signs new access tokens.",
            [],
            {(): max(0.0, now - key_created)},
        )


def _signing_key_created() -> float | None:
    if settings.IDENTITY_SIGNING_KEY_FILE:
        return os.stat(settings.IDENTITY_SIGNING_KEY_FILE).st_mtime
    created = (
        apps.get_model("identity_server", "SigningKey")
        .objects.filter(algorithm=settings.IDENTITY_SIGNING_ALGORITHM, current=True)
        .values_list("created_at", flat=True)
        .first()
    )
    return created.timestamp() if created else None


def metrics_endpoint(request):
    if not settings.METRICS_BEARER_TOKEN and not settings.METRICS_ALLOWED_ADDRESSES:
        return _json({"detail": "Not found."}, status=404)
    if settings.METRICS_ALLOWED_ADDRESSES and not _address_allowed(request):
        return _json({"detail": "Not allowed from this address."}, status=403)
    if settings.METRICS_BEARER_TOKEN and not _token_presented(request):
        return _json(
            {"detail": "Send the metrics bearer token."},
            status=401,
            **{"WWW-Authenticate": METRICS_CHALLENGE},
        )
    body = metrics.scrape(_state_gauges)
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE, headers=NO_STORE)


ROUTES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_endpoint}


class OperationsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ROUTES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        request.log_route = request.path_info.lstrip("/")
        if request.method not in ("GET", "HEAD"):
            return _json(
                {"detail": f'Method "{request.method[:16]}" not allowed.'}, 405, Allow="GET, HEAD"
            )
        response = view(request)
        if request.method == "HEAD":
            response.content = b""
        return response
