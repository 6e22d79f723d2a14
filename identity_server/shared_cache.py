"""One policy for every use of the shared cache (Redis in production; SPEC §10).

Every caller goes through the functions below, never through `django.core.cache` with its
own `except`, and each function says by its name what happens when the store is gone:

- Caches (`cache_get`, `cache_get_many`, `cache_set`, `cache_add`, `cache_delete`) fall
  back to this process: a read answers as a miss, a write is skipped, an add says None,
  and the caller serves (or reads from the database) what this process has.
- Throttles, rate limits and counters (`count`, `add_or_open`) fail open: a count is
  unknown (None) and an `add` succeeds, so nobody is refused because the store is gone.
- Replay protection (`claim`) fails closed: it raises `SharedCacheUnavailable`, and the
  caller refuses the request.
- Invalidations (`publish_on_commit`) are sent once the transaction has committed, and
  never raise there: a write whose rows are committed does not fail because other
  processes could not be told; they see the change when their own copy expires.

So no request answers 500 because the store is gone, and no service raises after its
transaction committed.

Each failure is logged as a warning (at most once every WARNING_SECONDS per operation, so
an outage does not flood the log) and counted in the metric. After a failure this process
leaves the store alone for RETRY_SECONDS: a store that times out rather than refuses would
otherwise cost every request one timeout per call. Calls also have short socket timeouts
(settings.CACHES, SHARED_CACHE_TIMEOUT_SECONDS).
"""

import logging
import threading
import time

from django.core.cache import cache
from django.db import transaction

from identity_server import metrics

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
WARNING_SECONDS = 60.0

# Operation names, for the log and the metric's `operation` label (a closed set).
REPLAY = "replay"
RATE_LIMIT = "rate_limit"
THROTTLE = "throttle"
COUNTER = "counter"
CACHE_GET = "cache_get"
CACHE_SET = "cache_set"
INVALIDATE = "invalidate"

_state = threading.local()
_down_until = 0.0
_warned_at: dict[str, float] = {}


class SharedCacheUnavailable(Exception):
    """The shared cache did not answer (raised by `claim` only: replay protection)."""


def forget_outage() -> None:
    """Between tests: the store is tried again at once, and warnings are logged again."""
    global _down_until
    _down_until = 0.0
    _warned_at.clear()


def _call(operation: str, function, *args, **kwargs):
    """`function(*args, **kwargs)` on the store, or SharedCacheUnavailable (logged and
    counted) when it fails or failed less than RETRY_SECONDS ago."""
    global _down_until
    if time.monotonic() < _down_until:
        _failed(operation, None)
        raise SharedCacheUnavailable(operation)
    try:
        return function(*args, **kwargs)
    except Exception as error:  # any client, any failure: the policy decides, not the caller
        _down_until = time.monotonic() + RETRY_SECONDS
        _failed(operation, error)
        raise SharedCacheUnavailable(operation) from error


def _failed(operation: str, error: Exception | None) -> None:
    metrics.shared_cache_error(operation)
    now = time.monotonic()
    if now - _warned_at.get(operation, -WARNING_SECONDS) >= WARNING_SECONDS:
        _warned_at[operation] = now
        # The error's class only: its text may name the store's address and password.
        log.warning(
            "shared cache unavailable (%s: %s); %s",
            operation,
            type(error).__name__ if error is not None else f"failed in the last {RETRY_SECONDS} s",
            _CONSEQUENCE.get(operation, "falling back to this process"),
        )


_CONSEQUENCE = {
    REPLAY: "assertions that need replay protection are refused",
    RATE_LIMIT: "rate limits are not enforced (failing open)",
    THROTTLE: "sign-in throttling is not enforced (failing open)",
    INVALIDATE: "other processes see the change when their copies expire",
}


# --- caches: fall back to this process ---------------------------------------------------


_DEFAULT = object()


def cache_get(key: str, default=None, *, unavailable=_DEFAULT, operation: str = CACHE_GET):
    """The cached value, `default` when there is none, and `unavailable` (by default
    `default`) when the store is gone."""
    try:
        return _call(operation, cache.get, key, default)
    except SharedCacheUnavailable:
        return default if unavailable is _DEFAULT else unavailable


def cache_get_many(keys: list[str], *, operation: str = CACHE_GET) -> dict:
    try:
        return _call(operation, cache.get_many, keys)
    except SharedCacheUnavailable:
        return {}


def cache_set(key: str, value, timeout: float, *, operation: str = CACHE_SET) -> bool:
    """Whether the value was stored."""
    try:
        _call(operation, cache.set, key, value, timeout)
    except SharedCacheUnavailable:
        return False
    return True


def cache_add(key: str, value, timeout: float, *, operation: str = CACHE_SET) -> bool | None:
    """`cache.add`: True when the key was absent and is now set, False when it was there,
    None when the store is gone (the caller falls back to something of this process)."""
    try:
        return _call(operation, cache.add, key, value, timeout)
    except SharedCacheUnavailable:
        return None


def cache_delete(key: str, *, operation: str = CACHE_SET) -> bool:
    try:
        _call(operation, cache.delete, key)
    except SharedCacheUnavailable:
        return False
    return True


def publish_on_commit(key: str, value, timeout: float) -> None:
    """Stores `key` once the current transaction commits (at once outside one), for other
    processes to see; never raises, so a committed write never reports a failure."""
    transaction.on_commit(lambda: cache_set(key, value, timeout, operation=INVALIDATE))


# --- throttles, rate limits, counters: fail open -----------------------------------------


def add_or_open(key: str, value, timeout: float, *, operation: str = THROTTLE) -> bool:
    """`cache.add` (True when the key was absent and is now set); True when the store is
    gone, so that a "first time?" question is answered yes rather than never."""
    try:
        return _call(operation, cache.add, key, value, timeout)
    except SharedCacheUnavailable:
        return True


def count(key: str, timeout: int, *, operation: str = COUNTER) -> int | None:
    """Adds one to the counter `key`, created with `timeout` seconds to live, atomically
    across processes; its new value, or None when the store is gone."""
    counts = count_many([(key, timeout)], operation=operation)
    return counts[0] if counts is not None else None


def count_many(keys: list[tuple[str, int]], *, operation: str = COUNTER) -> list[int] | None:
    """`count` of several (key, timeout), in one round trip; None when the store is gone."""
    try:
        return _call(operation, _incr, keys)
    except SharedCacheUnavailable:
        return None


# INCR creates a key at 1; its expiry is set then only, so a window is never extended.
# One round trip for every key, atomic, on any Redis since 2.6.
_INCR_WITH_EXPIRY = """
local values = {}
for i, key in ipairs(KEYS) do
  values[i] = redis.call('INCR', key)
  if values[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return values
"""


def _incr(keys: list[tuple[str, int]]) -> list[int]:
    client = _redis_client()
    if client is not None:
        full_keys = [cache.make_and_validate_key(key) for key, _ in keys]
        timeouts = [max(1, int(timeout)) for _, timeout in keys]
        return [int(v) for v in client.eval(_INCR_WITH_EXPIRY, len(keys), *full_keys, *timeouts)]
    values = []
    for key, timeout in keys:  # another backend (tests, development): not shared anyway
        cache.add(key, 0, timeout)
        try:
            values.append(cache.incr(key))
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout)
            values.append(1)
    return values


def _redis_client():
    """The redis-py client of the default cache when it is Django's Redis backend."""
    backend = getattr(cache, "_cache", None)
    get_client = getattr(backend, "get_client", None)
    return get_client(write=True) if get_client is not None else None


# --- replay protection: fail closed ------------------------------------------------------


def claim(key: str, timeout: float) -> bool:
    """Records `key` for `timeout` seconds if nobody has (True), or False if somebody has.
    Raises SharedCacheUnavailable when the store cannot say: the caller refuses."""
    return _call(REPLAY, cache.add, key, 1, timeout)
