"""Sign-in throttling (OWASP Authentication Cheat Sheet, "Login Throttling"): failed
sign-ins are counted per username and per client address in the shared cache, so every
process sees the same counts.

A window opens with the first failure and lasts WINDOW_SECONDS. Once either count reaches
its limit, sign-in for that username, or from that address, is refused for the rest of the
window without the password being checked (so it cannot be guessed meanwhile). The address
limit is higher than the username limit: several people behind one NAT address mistype
passwords too. A successful sign-in clears its username's count, never its address's (one
known account would otherwise reset an attacker's address).

When the shared cache is gone, throttling fails open (identity_server.shared_cache): people
can still sign in, a warning is logged, and nothing is counted until it is back.

Reason codes in the audit log: `wrong_credentials` (a failure counted), `throttled` (a
refusal of the limit, audited once per username or address and window).

Password reset requests (identity_server.recovery) are throttled the same way, with their
own counters: every request counts (one for an address without an account as well, so the
throttle tells nothing about which have one), per email address, so that nobody can flood
someone's mailbox, and per client address, over the same window.

Refused answers at an identity provider's callback (federation.sign_in_views: a state no
sign-in is waiting for, an answer that fails its checks) are counted per client address
too, so that anonymous requests with made-up states cannot fill the audit log: beyond the
limit, the address's callbacks are refused without being checked, audited once per window.
"""

import hashlib

from identity_server import shared_cache

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
    counts = shared_cache.cache_get_many(list(limits), operation=shared_cache.THROTTLE)
    return any(counts.get(key, 0) >= limit for key, limit in limits.items())


def first_refusal(*, username: str, address: str | None) -> bool:
    """Whether this is the first refusal of the window for this username and address (the
    one that is audited)."""
    key = "signin-refused:" + "|".join(_keys(username=username, address=address))
    return shared_cache.add_or_open(hashlib.sha256(key.encode()).hexdigest(), 1, WINDOW_SECONDS)


def record_failure(*, username: str, address: str | None) -> None:
    for key in _keys(username=username, address=address):
        # The first failure opens the window, which the later ones do not extend.
        shared_cache.count(key, WINDOW_SECONDS, operation=shared_cache.THROTTLE)


def clear_username(*, username: str) -> None:
    shared_cache.cache_delete(_username_key(username), operation=shared_cache.THROTTLE)


# --- password reset requests --------------------------------------------------------------

RESET_EMAIL_LIMIT = 3
RESET_ADDRESS_LIMIT = 20


def _reset_keys(*, email: str, address: str | None) -> dict[str, int]:
    name = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return {
        f"reset-requests:email:{name}": RESET_EMAIL_LIMIT,
        f"reset-requests:address:{address or 'unknown'}": RESET_ADDRESS_LIMIT,
    }


def reset_request_throttled(*, email: str, address: str | None) -> bool:
    """Counts a password reset request; True when it is beyond either limit of the window
    (False when the shared cache is gone: fails open)."""
    limits = _reset_keys(email=email, address=address)
    counts = shared_cache.count_many(
        [(key, WINDOW_SECONDS) for key in limits], operation=shared_cache.THROTTLE
    )
    if counts is None:
        return False
    return any(count > limit for count, limit in zip(counts, limits.values(), strict=True))


def reset_first_refusal(*, email: str, address: str | None) -> bool:
    """Whether this is the window's first refused reset request for this email and address
    (the one that is audited)."""
    key = "reset-refused:" + "|".join(_reset_keys(email=email, address=address))
    return shared_cache.add_or_open(hashlib.sha256(key.encode()).hexdigest(), 1, WINDOW_SECONDS)


# --- identity-provider callbacks ----------------------------------------------------------

CALLBACK_ADDRESS_LIMIT = 20


def _callback_key(address: str | None) -> str:
    return f"idp-callback-refusals:address:{address or 'unknown'}"


def callback_throttled(*, address: str | None) -> bool:
    count = shared_cache.cache_get_many([_callback_key(address)], operation=shared_cache.THROTTLE)
    return count.get(_callback_key(address), 0) >= CALLBACK_ADDRESS_LIMIT


def callback_first_refusal(*, address: str | None) -> bool:
    """Whether this is the window's first throttled callback from this address (audited)."""
    key = hashlib.sha256(("idp-callback-refused:" + _callback_key(address)).encode()).hexdigest()
    return shared_cache.add_or_open(key, 1, WINDOW_SECONDS)


def callback_refusal_record(*, address: str | None) -> None:
    shared_cache.count(_callback_key(address), WINDOW_SECONDS, operation=shared_cache.THROTTLE)
