"""Sign-in throttling (OWASP Authentication Cheat Sheet, "Login Throttling"): failed
sign-ins are counted per username and per client address in the shared cache, so every
process sees the same counts.

A window opens with the first failure and lasts WINDOW_SECONDS. Once either count reaches
its limit, sign-in for that username, or from that address, is refused for the rest of the
window without the password being checked (so it cannot be guessed meanwhile). The address
limit is higher than the username limit: several people behind one NAT address mistype
passwords too. A successful sign-in clears its username's count, never its address's (one
known account would otherwise reset an attacker's address).

Reason codes in the audit log: `wrong_credentials` (a failure counted), `throttled` (a
refusal of the limit, audited once per username or address and window).
"""

import hashlib

from django.core.cache import cache

WINDOW_SECONDS = 15 * 60
USERNAME_LIMIT = 5
ADDRESS_LIMIT = 20


def _username_key(username: str) -> str:
    # A hash: usernames are arbitrary text, and the cache is no place to keep them.
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return f"signin-failures:user:{name}"


def _keys(*, username: str, address: str | None) -> dict[str, int]:
    """The failure counters of a sign-in, each with its limit."""
    return {
        _username_key(username): USERNAME_LIMIT,
        f"signin-failures:address:{address or 'unknown'}": ADDRESS_LIMIT,
    }


def is_throttled(*, username: str, address: str | None) -> bool:
    limits = _keys(username=username, address=address)
    counts = cache.get_many(list(limits))
    return any(counts.get(key, 0) >= limit for key, limit in limits.items())


def first_refusal(*, username: str, address: str | None) -> bool:
    """Whether this is the first refusal of the window for this username and address (the
    one that is audited)."""
    key = "signin-refused:" + "|".join(_keys(username=username, address=address))
    return cache.add(hashlib.sha256(key.encode()).hexdigest(), 1, WINDOW_SECONDS)


def record_failure(*, username: str, address: str | None) -> None:
    for key in _keys(username=username, address=address):
        cache.add(key, 0, WINDOW_SECONDS)  # opens the window; no-op when it is open
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, WINDOW_SECONDS)


def clear_username(*, username: str) -> None:
    cache.delete(_username_key(username))
