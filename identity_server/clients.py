"""Client secrets (SPEC §4) and the hot-path view of a client.

Secrets are 256 random bits behind a recognizable prefix, stored as HMAC-SHA256 under a
key derived from SECRET_KEY: a password hasher protects guessable passwords, and would
only make the token endpoint slow for random secrets.

A `ClientCache` serves what the token endpoint reads of a client from this process's
memory: `client_snapshot` the client with its secrets, and federation.assertions the client
with its federated credentials. Every change to a client, its secrets or its credentials
(identity_server.services, federation.services) drops this process's copies at once and
stores a new generation for the client in the shared cache; other processes compare their
copy's generation with it at most once every GENERATION_CHECK_SECONDS, and reload a copy
that is out of date or older than SNAPSHOT_SECONDS. Checking on every request would cost a
Redis round trip per token, a fifth of a warm request's time.

While the shared cache is down (identity_server.shared_cache), a process cannot read the
generations: it reads a client again from the database at most once every
GENERATION_CHECK_SECONDS, and cannot tell the others of a change, which they see the same
way.

So in another process a deleted secret or credential keeps authenticating for up to a
second; the tokens a deleted secret gets there are refused anyway, since the deny-list
covers every token of a deleted secret or client (identity_server.denylist). A refusal
always re-reads the client first, so a secret or credential created a moment ago in
another process works at once.

`last_used_mark` writes a secret's or credential's last use at most once a minute across
processes, the only write of the token endpoint.
"""

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from identity_server import shared_cache
from identity_server.models import ClientSecret, OAuthClient
from identity_server.ratelimit import TokenQuota

# Lets secret scanners recognize a leaked secret (SPEC §4).
SECRET_PREFIX = "idsec_"  # noqa: S105  (a prefix, not a secret)
SECRET_BYTES = 32
PREFIX_SHOWN = len(SECRET_PREFIX) + 4

SNAPSHOT_SECONDS = 10
GENERATION_CHECK_SECONDS = 1
SNAPSHOT_LIMIT = 10_000
LAST_USED_INTERVAL = 60
CLIENT_ID_MAX_LENGTH = 100
# Every client id we issue fits (UUIDs); anything else cannot be a client, and is not looked up.
CLIENT_ID_PATTERN = re.compile(rf"[A-Za-z0-9._~-]{{1,{CLIENT_ID_MAX_LENGTH}}}")


@dataclass(frozen=True)
class SecretDigest:
    id: int
    digest: bytes
    expires_at: datetime | None


@dataclass(frozen=True)
class ClientSnapshot:
    """What the token endpoint needs of a client; `request.client` in the validator."""

    pk: int
    client_id: str
    kind: str
    confidential: bool
    organization_global_id: str
    organization_slug: str
    tenant_global_id: str | None
    tenant_name: str | None
    scopes: tuple[str, ...]
    secrets: tuple[SecretDigest, ...]
    # Its issued-token quotas (identity_server.ratelimit); None, the usual, costs nothing.
    quota: TokenQuota | None = None


# A digest no secret has, so that an unknown client costs what a known one does.
_NO_SUCH_SECRET = SecretDigest(0, bytes(32), None)


@dataclass
class _Cached:
    loaded_at: float
    checked_at: float
    generation: str | None
    value: object


_caches: list["ClientCache"] = []
_last_used_marked: dict[str, float] = {}


class ClientCache:
    """What `load(client_id)` answers (None for no such client), kept in this process and in
    step with the client's shared generation (module docstring). One per kind of view."""

    def __init__(self, load: Callable[[str], object]):
        self._load = load
        self._entries: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        _caches.append(self)

    def get(self, client_id: str, *, recheck: bool = False):
        """The cached view of the client, or None if there is no such client. `recheck`
        compares the copy with the shared generation whatever its age."""
        if not CLIENT_ID_PATTERN.fullmatch(client_id or ""):
            return None
        now = time.monotonic()
        cached = self._entries.get(client_id)
        if cached is not None and now - cached.loaded_at < SNAPSHOT_SECONDS:
            if not recheck and now - cached.checked_at < GENERATION_CHECK_SECONDS:
                return cached.value
            generation = _generation(client_id)
            if generation == cached.generation:
                cached.checked_at = now
                return cached.value
        else:
            generation = _generation(client_id)
        value = self._load(client_id)
        with self._lock:
            if len(self._entries) >= SNAPSHOT_LIMIT:
                self._entries.clear()
            self._entries[client_id] = _Cached(now, now, generation, value)
        return value

    def forget(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)


@cache
def _digest_keys() -> tuple[bytes, ...]:
    """The key that hashes new secrets, then those derived from SECRET_KEY_FALLBACKS, so
    that secrets stored before a SECRET_KEY rotation keep working."""
    return tuple(
        salted_hmac(
            "identity_server.clients.secret-digest", "v1", secret=key, algorithm="sha256"
        ).digest()
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def secret_digest(secret: str, key: bytes | None = None) -> bytes:
    return hmac.new(key or _digest_keys()[0], secret.encode(), hashlib.sha256).digest()


def _generation_key(client_id: str) -> str:
    return f"identity:client-generation:{client_id}"


# What `_generation` answers while the shared cache is down: never equal to a copy's, so
# the copy is read again from the database, at most once every GENERATION_CHECK_SECONDS.
_UNKNOWN = object()


def _generation(client_id: str) -> str | None:
    generation = shared_cache.cache_get(_generation_key(client_id), unavailable=_UNKNOWN)
    return uuid.uuid4().hex if generation is _UNKNOWN else generation


def client_changed(client_id: str) -> None:
    """Every process drops its snapshot of this client once the transaction commits (and
    this process at once, so that nothing here reuses the old one meanwhile)."""

    def forget():
        for client_cache in _caches:
            client_cache.forget(client_id)

    forget()
    transaction.on_commit(forget)
    # If the shared cache cannot be told, other processes reload the client when their copy
    # is SNAPSHOT_SECONDS old (at most GENERATION_CHECK_SECONDS while they cannot read it).
    shared_cache.publish_on_commit(_generation_key(client_id), uuid.uuid4().hex, 86_400)


# What every view of a client reads of its row (`client_values` builds the snapshot).
CLIENT_FIELDS = (
    "pk",
    "client_id",
    "kind",
    "client_type",
    "scopes",
    "organization__global_id",
    "organization__slug",
    "tenant__global_id",
    "tenant__name",
    "quota_per_hour",
    "quota_per_day",
    "quota_enforced",
)


def client_values(row: dict, secrets=()) -> ClientSnapshot:
    """The snapshot of a client from a `.values(*CLIENT_FIELDS, ...)` row."""
    return ClientSnapshot(
        pk=row["pk"],
        client_id=row["client_id"],
        kind=row["kind"],
        confidential=row["client_type"] == OAuthClient.CLIENT_CONFIDENTIAL,
        organization_global_id=str(row["organization__global_id"]),
        organization_slug=row["organization__slug"],
        tenant_global_id=str(row["tenant__global_id"]) if row["tenant__name"] else None,
        tenant_name=row["tenant__name"],
        scopes=tuple(row["scopes"]),
        secrets=tuple(secrets),
        quota=TokenQuota.of(row["quota_per_hour"], row["quota_per_day"], row["quota_enforced"]),
    )


def _load(client_id: str) -> ClientSnapshot | None:
    """One query, a row per secret (or one row for a client without secrets), so that a
    known client costs what an unknown one does."""
    rows = list(
        OAuthClient.objects.filter(client_id=client_id).values(
            *CLIENT_FIELDS, "secrets__id", "secrets__digest", "secrets__expires_at"
        )
    )
    if not rows:
        return None
    return client_values(
        rows[0],
        secrets=(
            SecretDigest(
                row["secrets__id"],
                bytes.fromhex(row["secrets__digest"]),
                row["secrets__expires_at"],
            )
            for row in rows
            if row["secrets__id"] is not None
        ),
    )


_client_snapshots = ClientCache(_load)


def client_snapshot(client_id: str, *, recheck: bool = False) -> ClientSnapshot | None:
    """The client with its secrets, or None if there is no such client. `recheck` compares
    the copy with the shared generation whatever its age."""
    return _client_snapshots.get(client_id, recheck=recheck)


def forget_snapshots() -> None:
    """Between tests: this process's snapshots, last-used marks and digest keys."""
    for client_cache in _caches:
        client_cache.forget()
    _last_used_marked.clear()
    _digest_keys.cache_clear()


@dataclass(frozen=True)
class SecretCheck:
    client: ClientSnapshot | None
    secret_id: int | None
    reason: str  # empty on success; otherwise a stable reason code for the audit log

    @property
    def authenticated_by(self) -> dict:
        """What the access token says authenticated the client (identity_server.tokens)."""
        return {"secret_id": self.secret_id}


def client_authenticate_secret(client_id: str, secret: str) -> SecretCheck:
    """RFC 6749 §2.3.1: authenticates `client_id` with one of its active secrets.

    Unknown clients and wrong secrets cost the same: the presented secret is hashed under
    each key and compared, in constant time, with every stored digest (a dummy one for an
    unknown client), and every refusal re-reads the client before it is final.
    """
    presented = [secret_digest(secret, key) for key in _digest_keys()]
    check = _check(client_snapshot(client_id), presented)
    if check.reason:
        check = _check(client_snapshot(client_id, recheck=True), presented)
    if not check.reason:
        last_used_mark(ClientSecret, check.secret_id)
    return check


def _check(client: ClientSnapshot | None, presented: list[bytes]) -> SecretCheck:
    matched = None
    for candidate in client.secrets if client and client.secrets else (_NO_SUCH_SECRET,):
        for digest in presented:
            if hmac.compare_digest(candidate.digest, digest) and candidate.id:
                matched = candidate
    if client is None:
        return SecretCheck(None, None, "unknown_client")
    if not client.confidential:
        return SecretCheck(client, None, "public_client_secret")
    if not client.secrets:
        return SecretCheck(client, None, "no_active_secret")
    if matched is None:
        return SecretCheck(client, None, "wrong_secret")
    if matched.expires_at is not None and matched.expires_at <= timezone.now():
        return SecretCheck(client, None, "expired_secret")
    return SecretCheck(client, matched.id, "")


def last_used_mark(model, pk) -> None:
    """Writes the `last_used_at` of the `model` row `pk` (a secret or a federated
    credential) at most once every LAST_USED_INTERVAL, across processes: this process
    remembers when it last did, and the shared cache lets one process of all write."""
    key = f"identity:last-used:{model._meta.label_lower}:{pk}"
    now = time.monotonic()
    if now - _last_used_marked.get(key, -LAST_USED_INTERVAL) < LAST_USED_INTERVAL:
        return
    _last_used_marked[key] = now
    if shared_cache.add_or_open(key, 1, LAST_USED_INTERVAL, operation=shared_cache.COUNTER):
        model.objects.filter(pk=pk).update(last_used_at=timezone.now())
