"""Rate limits at the token, introspection and revocation endpoints (SPEC §10).

Failure buckets. Refused requests (any 4xx but a 429) are counted per client address
(settings.TOKEN_FAILURES_PER_ADDRESS, default 60) and per (client ID, address)
(TOKEN_FAILURES_PER_CLIENT_ADDRESS, default 10) in fixed windows of
TOKEN_FAILURE_WINDOW_SECONDS (60), so that a robot elsewhere is not locked out by an
attacker guessing its secret. Once a count reaches its limit, every request of that key
(the right secret too) answers 429 until the window ends, checked before anything is read,
hashed or parsed: a limited request costs no database query and no round trip.

Counters live in the shared cache (atomic INCR with expiry, shared_cache.count) and are
written only when a request is refused, never on a success; a key found at its limit is
remembered in this process until its window ends, and that memory is what every request
consults. So a warm success costs no round trip for the buckets, and while this process
remembers no limited key, not even the reading of its address.

What a deployment of several processes gets: the counts are exact across processes, but
each process enforces a key only from its own first refusal of it at the limit (its INCR
answers the count). Per key and window, at most one more failed request per process than
the limit is processed, and a process that has seen none of the key's failures still
serves its successes until then.

Quotas. A client may carry quotas of issued tokens per hour and per day (OAuthClient
`quota_per_hour`, `quota_per_day`; `quota_enforced` refuses past them,
otherwise they are audit-only). They are in the client's snapshot (identity_server.clients),
so a client without one costs nothing; one with one costs one round trip per token (both
counters in one script), after it has authenticated and its scopes are granted, so that
nobody else can use up its quota. Enforced: past the quota, 429 until the window ends,
remembered here too. Windows are the clock's hours and days (UTC).

A 429 says `Retry-After` (the seconds left in the window), `Cache-Control: no-store` and
`{"error": "rate_limited", "error_description": ...}`. It is audited once per key and window
(`token.request`, reason `rate_limited`): the first 429 of a bucket's key (across processes,
by an atomic add in the shared cache), the first token past a quota (the count says which).
If the shared cache is down, nothing is counted and nobody is limited (fail open, with a
warning and a metric: identity_server.shared_cache); keys already remembered stay limited.
"""

import base64
import binascii
import hashlib
import math
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.conf import settings

from identity_server import shared_cache
from tenants.services import client_address

# The reason code of a limited request, in the audit log and the metrics.
REASON = "rate_limited"
# Bucket names: the audit log's and the metric's `limit`.
ADDRESS, CLIENT_ADDRESS, QUOTA_HOUR, QUOTA_DAY = (
    "address",
    "client_address",
    "quota_hour",
    "quota_day",
)
_BLOCKED_LIMIT = 100_000
# Longer is no client ID of ours (identity_server.clients), and would only cost memory.
CLIENT_ID_MAX_LENGTH = 100

# key -> when (time.time()) its window ends: keys at their limit, in this process. The
# failure buckets' apart, so that a request finds it empty (the usual) at no cost.
_blocked: dict[tuple, float] = {}
_blocked_quotas: dict[tuple, float] = {}
# (key, window end) of the buckets whose 429 this process has audited, or seen audited.
_audited: set[tuple[tuple, float]] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Limited:
    limit: str  # the bucket
    maximum: int
    window_seconds: int
    retry_after: int  # seconds
    description: str


@dataclass(frozen=True)
class RequestKey:
    """Who a request is from, as far as the buckets can tell before reading anything."""

    address: str
    client_id: str

    @classmethod
    def of(cls, http_request, *, client_id: str | None = None) -> "RequestKey":
        """`client_id` when the form cannot be read again (validators.form_refusal's)."""
        if client_id is None:
            client_id = _client_id(http_request)
        return cls(client_address(http_request) or "unknown", client_id)


def _client_id(http_request) -> str:
    """The client ID the request names, from the form or HTTP Basic, unchecked; "" if
    none (an assertion without `client_id` counts per address only)."""
    client_id = http_request.POST.get("client_id", "")[:CLIENT_ID_MAX_LENGTH]
    if client_id:
        return client_id
    scheme, _, basic = http_request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(basic.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return unquote_plus(decoded.partition(":")[0])[:CLIENT_ID_MAX_LENGTH]


def forget_limits() -> None:
    """Between tests: what this process remembers of keys at their limit."""
    with _lock:
        _blocked.clear()
        _blocked_quotas.clear()
        _audited.clear()


def _hashed(*parts: str) -> str:
    # Client IDs and addresses come from the request: hashed, they make safe, short keys.
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _window(seconds: int, now: float) -> tuple[int, float]:
    """The fixed window `now` is in (its number) and when it ends."""
    number = int(now // seconds)
    return number, (number + 1) * seconds


def _retry_after(ends: float, now: float) -> int:
    return max(1, math.ceil(ends - now))


def _block(blocked: dict, key: tuple, ends: float) -> None:
    with _lock:
        if len(blocked) >= _BLOCKED_LIMIT:
            now = time.time()
            for stale in [k for k, until in blocked.items() if until <= now]:
                del blocked[stale]
            _audited.difference_update([a for a in _audited if a[1] <= now])
            if len(blocked) >= _BLOCKED_LIMIT:  # a flood of live keys: forget, fail open
                blocked.clear()
        blocked[key] = ends


def _blocked_until(blocked: dict, key: tuple, now: float) -> float | None:
    ends = blocked.get(key)
    return ends if ends is not None and now < ends else None


# --- failure buckets ------------------------------------------------------------------------


def _failure_buckets(key: RequestKey) -> list[tuple[str, tuple, int]]:
    """(bucket, this process's key, limit) of the request's failure buckets: plain tuples,
    since every request looks them up (hashed only for the shared cache)."""
    buckets = [(ADDRESS, (ADDRESS, key.address), settings.TOKEN_FAILURES_PER_ADDRESS)]
    if key.client_id:
        buckets.append(
            (
                CLIENT_ADDRESS,
                (CLIENT_ADDRESS, key.client_id, key.address),
                settings.TOKEN_FAILURES_PER_CLIENT_ADDRESS,
            )
        )
    return buckets


@dataclass(frozen=True)
class FailuresLimited:
    limited: Limited
    first: bool  # the first 429 of this key and window: the one audited
    client_id: str  # the limited client ID ("" when the address itself is limited)


def failures_limited(http_request, *, client_id: str | None = None) -> FailuresLimited | None:
    """Whether the request's address, or its client ID from its address, is at its limit
    of failures: from this process's memory (module docstring), where nothing at all is
    done while no key is limited; a round trip only for the first 429 of a key and window
    in this process, to audit it once across processes. `client_id`: RequestKey.of's."""
    if not _blocked:
        return None
    key = RequestKey.of(http_request, client_id=client_id)
    now = time.time()
    seconds = settings.TOKEN_FAILURE_WINDOW_SECONDS
    for bucket, local, limit in _failure_buckets(key):
        ends = _blocked_until(_blocked, local, now)
        if ends is None:
            continue
        limited = Limited(
            bucket,
            limit,
            seconds,
            _retry_after(ends, now),
            "Too many failed requests from this address"
            + (" for this client" if bucket == CLIENT_ADDRESS else "")
            + "; retry after the time in the Retry-After header.",
        )
        first = False
        with _lock:
            if (local, ends) not in _audited:
                _audited.add((local, ends))
                first = True
        if first:
            number = _window(seconds, now)[0]
            first = shared_cache.add_or_open(
                f"identity:rate-audited:{_hashed(*local)}:{number}",
                1,
                seconds,
                operation=shared_cache.RATE_LIMIT,
            )
        return FailuresLimited(limited, first, key.client_id if bucket == CLIENT_ADDRESS else "")
    return None


def failure_record(http_request, *, client_id: str | None = None) -> None:
    """Counts a refused request in its buckets; a bucket at its limit is remembered here
    until its window ends. `client_id`: RequestKey.of's."""
    key = RequestKey.of(http_request, client_id=client_id)
    seconds = settings.TOKEN_FAILURE_WINDOW_SECONDS
    number, ends = _window(seconds, time.time())
    buckets = _failure_buckets(key)
    counts = shared_cache.count_many(
        [(f"identity:rate:{_hashed(*local)}:{number}", seconds) for _, local, _ in buckets],
        operation=shared_cache.RATE_LIMIT,
    )
    if counts is None:  # the shared cache is down: fail open
        return
    for (_, local, limit), count in zip(buckets, counts, strict=True):
        if count >= limit:
            _block(_blocked, local, ends)


# --- quotas -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenQuota:
    """A client's quotas of issued tokens (None: no quota of that period)."""

    per_hour: int | None
    per_day: int | None
    enforced: bool

    @classmethod
    def of(cls, per_hour, per_day, enforced) -> "TokenQuota | None":
        if per_hour is None and per_day is None:
            return None
        return cls(per_hour, per_day, bool(enforced))


@dataclass(frozen=True)
class QuotaCheck:
    limited: Limited | None  # set when the token is refused
    passed: tuple[Limited, ...]  # the quotas this token is the first past (to be audited)


def quota_check(client_id: str, quota: TokenQuota) -> QuotaCheck:
    """Counts one token about to be issued to `client_id` against its quotas."""
    now = time.time()
    periods = [
        (QUOTA_HOUR, quota.per_hour, settings.TOKEN_QUOTA_HOUR_SECONDS),
        (QUOTA_DAY, quota.per_day, settings.TOKEN_QUOTA_DAY_SECONDS),
    ]
    periods = [(bucket, limit, seconds) for bucket, limit, seconds in periods if limit]
    windows = [_window(seconds, now) for _, _, seconds in periods]
    blocked_keys = [
        (bucket, client_id, limit, number)
        for (bucket, limit, _), (number, _) in zip(periods, windows, strict=True)
    ]
    if quota.enforced:
        for (bucket, limit, seconds), key in zip(periods, blocked_keys, strict=True):
            ends = _blocked_until(_blocked_quotas, key, now)
            if ends is not None:
                return QuotaCheck(_quota_limited(bucket, limit, seconds, ends, now), ())
    counts = shared_cache.count_many(
        [
            (f"identity:quota:{_hashed(bucket, client_id)}:{number}", seconds)
            for (bucket, _, seconds), (number, _) in zip(periods, windows, strict=True)
        ],
        operation=shared_cache.RATE_LIMIT,
    )
    if counts is None:  # the shared cache is down: fail open
        return QuotaCheck(None, ())
    limited, passed = None, []
    for (bucket, limit, seconds), (_, ends), key, count in zip(
        periods, windows, blocked_keys, counts, strict=True
    ):
        if count <= limit:
            continue
        over = _quota_limited(bucket, limit, seconds, ends, now)
        if count == limit + 1:
            passed.append(over)
        if quota.enforced:
            _block(_blocked_quotas, key, ends)
            limited = limited or over
    return QuotaCheck(limited, tuple(passed))


def _quota_limited(bucket: str, limit: int, seconds: int, ends: float, now: float) -> Limited:
    period = "hour" if bucket == QUOTA_HOUR else "day"
    return Limited(
        bucket,
        limit,
        seconds,
        _retry_after(ends, now),
        f"This client's quota of {limit} tokens per {period} is used up; retry after the "
        "time in the Retry-After header.",
    )
