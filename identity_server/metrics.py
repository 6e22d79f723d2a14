"""Prometheus metrics (SPEC §10): the one module that imports prometheus_client.

Every series is defined here, and callers use the plain functions below rather than the
series themselves, so that label values stay few and known: no client ID, subject, address
or other request-supplied text is ever a label (each distinct value is a new series kept
for the life of the process). Values from a request are mapped onto a closed set first.

Recording is in memory only (a lock and an addition; in multiprocess mode a write to a
memory-mapped file): no I/O, no database, no cache, so the token endpoint's hot path can
afford it.

Processes. Under the server (identity_server.serve) each worker counts for itself; with
PROMETHEUS_MULTIPROC_DIR set in the environment before the workers start, prometheus_client
keeps each worker's values in files there and a scrape (`scrape()`) sums them across
workers. identity_server.serve sets the directory up (a fresh temporary one when metrics are
on and none is given); a scrape drops the live gauges of workers that have gone
(`_drop_gone_workers`), whichever server started them. Without the
variable (manage.py runserver, tests) the process's own registry is served.

Gauges of state that lives elsewhere (sessions by state, the signing key's age) are read
when scraped, and ages are computed then from recorded timestamps, so that a scrape shows
the age now rather than when something last happened.
"""

import os
import re
import time
from urllib.parse import urlsplit

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

# The `_created` series double every counter for a value nobody here alerts on.
disable_created_metrics()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# The grants the token endpoint may serve; anything else a client sends is `other`.
GRANTS = frozenset({"client_credentials", "authorization_code", "refresh_token"})
AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "private_key_jwt", "none"})
# Reason codes are ours (validators, federation.assertions) or oauthlib's error names:
# short snake_case words. Anything else becomes `other` rather than a new series.
_REASON = re.compile(r"[a-z][a-z0-9_]{0,47}")
_HOST = re.compile(r"[a-z0-9.-]{1,253}(:[0-9]{1,5})?")

TOKEN_REQUESTS = Counter(
    "identity_token_requests_total",
    "Token endpoint requests, by grant type, client authentication method, outcome "
    "(issued or refused) and reason (the refusal's reason code; `ok` when issued).",
    ["grant", "auth_method", "outcome", "reason"],
)
TOKEN_DURATION = Histogram(
    "identity_token_request_duration_seconds",
    "Time to answer a token endpoint request, in the application, by outcome.",
    ["outcome"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JWKS_FETCHES = Counter(
    "identity_jwks_fetches_total",
    "Fetches of an identity provider's discovery document and keys, by issuer host and "
    "outcome (`ok`, or the reason the fetch was refused).",
    ["issuer_host", "outcome"],
)
JWKS_FETCHED_AT = Gauge(
    "identity_jwks_keys_fetched_timestamp_seconds",
    "When the oldest keys of an issuer host that a live process serves were fetched (Unix time).",
    ["issuer_host"],
    multiprocess_mode="livemin",
)
RATE_LIMITED = Counter(
    "identity_rate_limited_requests_total",
    "Requests answered 429, by endpoint and the limit that was reached.",
    ["endpoint", "limit"],
)
SHARED_CACHE_ERRORS = Counter(
    "identity_shared_cache_errors_total",
    "Calls to the shared cache (Redis) that failed, by operation (replay store, rate "
    "limit, throttle, cache read or write, invalidation).",
    ["operation"],
)


def _label(value: str, pattern: re.Pattern, allowed=None) -> str:
    if allowed is not None:
        return value if value in allowed else "other"
    return value if pattern.fullmatch(value or "") else "other"


# --- what callers record ------------------------------------------------------------------


# The token endpoint's children, by their (closed, already normalised) labels: `labels()`
# validates and locks on every call, a measurable part of a warm token request.
_token_children: dict[tuple, tuple] = {}


def token_request_observed(
    *, grant: str, auth_method: str, reason: str, duration: float, issued: bool
) -> None:
    """One answered token request. `reason` is the refusal's reason code (ignored when
    `issued`); `grant` and `auth_method` may be what the client sent, unchecked."""
    outcome = "issued" if issued else "refused"
    key = (
        _label(grant, _REASON, GRANTS) if grant else "none",
        _label(auth_method, _REASON, AUTH_METHODS),
        outcome,
        "ok" if issued else _label(reason, _REASON),
    )
    children = _token_children.get(key)
    if children is None:
        children = _token_children[key] = (
            TOKEN_REQUESTS.labels(*key),
            TOKEN_DURATION.labels(outcome),
        )
    requests, durations = children
    requests.inc()
    durations.observe(duration)


def rate_limited(*, limit: str, endpoint: str = "token") -> None:
    """A request answered 429: `limit` names the bucket (`address`, `client_address`,
    `quota_hour`, `quota_day`), `endpoint` the route (`token`, `introspect`, `revocation`)."""
    RATE_LIMITED.labels(_label(endpoint, _REASON), _label(limit, _REASON)).inc()


def shared_cache_error(operation: str) -> None:
    """A shared-cache call failed; `operation` names what it was for (`replay`,
    `rate_limit`, `throttle`, `cache_get`, `cache_set`, `invalidate`, ...)."""
    SHARED_CACHE_ERRORS.labels(_label(operation, _REASON)).inc()


def issuer_host(issuer: str) -> str:
    """The host (and port) of an issuer URL, the only part of it used as a label."""
    try:
        netloc = urlsplit(issuer).netloc.rpartition("@")[2].lower()
    except ValueError:
        return "other"
    return _label(netloc, _HOST)


def jwks_fetched(*, issuer: str, outcome: str) -> None:
    """A fetch of an issuer's keys ended: `ok` or the refusal's reason."""
    JWKS_FETCHES.labels(issuer_host(issuer), _label(outcome, _REASON)).inc()


def jwks_keys_cached(*, issuer: str, fetched_at: float) -> None:
    """This process now serves keys of `issuer` fetched at `fetched_at` (Unix time)."""
    JWKS_FETCHED_AT.labels(issuer_host(issuer)).set(fetched_at)


# --- processes ----------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def multiprocess_dir_prepare(path: str) -> None:
    """Empties `path` (created if missing) before any worker writes there: files of an
    earlier run would be summed into this one's counters. For the server's main process."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _drop_gone_workers(path: str) -> None:
    """Drops the live gauges of the processes that wrote them and are gone (a worker that
    exited or was replaced): what they said is no longer so."""
    pids = {int(m.group(1)) for m in map(_LIVE_GAUGE_FILE.fullmatch, os.listdir(path)) if m}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:  # alive, someone else's
            pass


# --- scraping -----------------------------------------------------------------------------


class _Recorded:
    """What the processes recorded: this process's registry, or every worker's files."""

    def __init__(self):
        path = multiprocess_dir()
        if path:
            _drop_gone_workers(path)
        self._source = multiprocess.MultiProcessCollector(None, path) if path else REGISTRY

    def collect(self):
        return self._source.collect()


class _Derived:
    """Series computed when scraped: ages from recorded timestamps, and state kept in the
    database (`state_gauges`)."""

    def __init__(self, recorded: list, state_gauges):
        self._recorded = recorded
        self._state_gauges = state_gauges

    def collect(self):
        now = time.time()
        ages = GaugeMetricFamily(
            "identity_jwks_cache_age_seconds",
            "Age of the oldest keys of an issuer host that a live process serves.",
            labels=["issuer_host"],
        )
        for family in self._recorded:
            if family.name == JWKS_FETCHED_AT._name:
                for sample in family.samples:
                    ages.add_metric([sample.labels["issuer_host"]], max(0.0, now - sample.value))
        yield ages
        yield from self._state_gauges(now)


def scrape(state_gauges=lambda now: ()) -> bytes:
    """The Prometheus text exposition of every series, for `GET /metrics`.
    `state_gauges(now)` yields metric families read at scrape time (the view passes the
    ones read from the database)."""
    recorded = list(_Recorded().collect())
    registry = CollectorRegistry(auto_describe=False)

    class _Snapshot:
        def collect(self):
            return recorded

    registry.register(_Snapshot())
    registry.register(_Derived(recorded, state_gauges))
    return generate_latest(registry)


def gauge_family(name: str, documentation: str, labels: list[str], values: dict) -> object:
    """A gauge read at scrape time: `values` maps label-value tuples to numbers."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family
