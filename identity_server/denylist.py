"""Early revocation of self-contained access tokens (SPEC §3, RFC 7009).

A token is refused when its `jti`, the secret that authenticated its client, or the client
itself is on the deny-list. Entries live in the database (the record) and in the shared
cache (a fast "yes, revoked"); each is kept only until the last token it covers expires.
Only our APIs and introspection consult it: the token endpoint never does.
"""

import contextlib
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from identity_server.models import Revocation
from identity_server.tokens import LEEWAY_SECONDS, token_validity

Kind = Revocation.Kind


def secret_entry(client_id: str, secret_id) -> str:
    """A secret's deny-list value. Its client's id makes it unique beyond one database
    (secret ids restart with a new database; a shared Redis may outlive it)."""
    return f"{client_id}:{secret_id}"


def _cache_key(kind: str, value: str) -> str:
    return f"identity:revoked:{kind}:{value}"


def covers_issued_tokens_until() -> datetime:
    """When every token issued until now will have expired (with the verification leeway)."""
    return timezone.now() + token_validity()


def covers_token_until(claims: dict) -> datetime:
    """When this one token will have expired (with the verification leeway)."""
    return datetime.fromtimestamp(claims["exp"], tz=UTC) + timedelta(seconds=LEEWAY_SECONDS)


def denylist_add(*, kind: str, value: str, until: datetime) -> None:
    """Call inside the transaction that removes what the entry covers."""
    now = timezone.now()
    Revocation.objects.filter(expires_at__lte=now).delete()
    Revocation.objects.update_or_create(kind=kind, value=value, defaults={"expires_at": until})
    # The database row is the record; the cache entry only answers faster.
    with contextlib.suppress(Exception):
        cache.set(_cache_key(kind, value), 1, timeout=max(1, int((until - now).total_seconds())))


def _entries(claims: dict) -> list[tuple[str, str]]:
    entries = [(Kind.TOKEN, str(claims.get("jti", ""))), (Kind.CLIENT, claims["client_id"])]
    if claims.get("grant_id"):  # a user's token: its sign-in grant (SPEC §8)
        entries.append((Kind.GRANT, str(claims["grant_id"])))
    if claims.get("secret_id") is not None:
        entries.append((Kind.SECRET, secret_entry(claims["client_id"], claims["secret_id"])))
    return entries


def is_revoked(claims: dict) -> bool:
    entries = _entries(claims)
    with contextlib.suppress(Exception):  # a cache outage falls through to the database
        if cache.get_many([_cache_key(kind, value) for kind, value in entries]):
            return True
    matches = Q()
    for kind, value in entries:
        matches |= Q(kind=kind, value=value)
    return Revocation.objects.filter(matches, expires_at__gt=timezone.now()).exists()
