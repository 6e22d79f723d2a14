"""Every write of the identity core, each in one transaction with its audit event.

Changing a client or its secrets tells every process to drop its cached copy
(clients.client_changed); removing one puts the tokens it issued on the deny-list.
"""

import secrets
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from identity_server import denylist, ratelimit, shared_cache
from identity_server.clients import (
    CLIENT_ID_PATTERN,
    PREFIX_SHOWN,
    client_changed,
    secret_digest,
    secret_generate,
)
from identity_server.models import (
    AuthorizationCode,
    ClientSecret,
    OAuthClient,
    RefreshToken,
    Revocation,
    SigningKey,
    SignInGrant,
)
from identity_server.scopes import unknown_scopes
from identity_server.selectors import sign_in_grant_list
from identity_server.tokens import forget_loaded_keys, signing_key_generate, token_validity
from tenants.models import AuditEvent, Organization, Tenant
from tenants.services import Actor, AuditTarget, apply_changes, audit_record

DESCRIPTION_MAX_LENGTH = 512
# Enough for overlapping rotations on many hosts; a client with more has lost track of them.
SECRETS_PER_CLIENT = 20
ACTOR_KINDS = {OAuthClient.Kind.MACHINE: AuditEvent.ActorKind.ROBOT}

# Failed token requests are audited, but a flood must not fill the table: per window,
# each (client, reason, address) writes its 1st, 10th, 100th... failure with the count,
# and past FAILURE_KEYS_PER_WINDOW distinct keys everything is counted under one.
FAILURE_WINDOW_SECONDS = 60
FAILURE_KEYS_PER_WINDOW = 100


def client_actor(*, client_id: str, kind: str | None, http_request=None) -> Actor:
    """A client acting (robot or external application), seen from `http_request`."""
    base = Actor.from_request(http_request) if http_request is not None else Actor("system")
    return Actor(
        ACTOR_KINDS.get(kind, AuditEvent.ActorKind.APP) if kind else AuditEvent.ActorKind.ANONYMOUS,
        client_id,
        client_id,
        base.address,
        base.user_agent,
    )


def _client_target(client: OAuthClient) -> AuditTarget:
    return AuditTarget("oauth_client", client.client_id, client.name or client.client_id)


def _audit_client(action: str, client: OAuthClient, actor: Actor, details=None) -> None:
    """Audits a change to a client (or its secrets), and tells every process to drop its
    cached copy of the client."""
    audit_record(
        action=action,
        actor=actor,
        organization=client.organization,
        tenant=client.tenant,
        target=_client_target(client),
        details=details,
    )
    client_changed(client.client_id)


# SPEC §10: a client's optional quotas of issued tokens (identity_server.ratelimit).
QUOTA_FIELDS = ("quota_per_hour", "quota_per_day", "quota_enforced")
QUOTA_MAX = 1_000_000_000


def _clean_quota(changes: dict) -> None:
    """Checks the quota fields among `changes`: a whole number of tokens from 1 to
    QUOTA_MAX, or None for no quota; `quota_enforced` true or false."""
    errors = {}
    for field in ("quota_per_hour", "quota_per_day"):
        value = changes.get(field)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not (whole and 1 <= value <= QUOTA_MAX):
            errors[field] = f"A whole number of tokens from 1 to {QUOTA_MAX}, or null."
    enforced = changes.get("quota_enforced", True)
    if not isinstance(enforced, bool):
        errors["quota_enforced"] = "Either true or false."
    if errors:
        raise ValidationError(errors)


def _clean_scopes(scopes) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = unknown_scopes(scopes)
    if unknown:
        raise ValidationError({"scopes": f"Unknown scopes: {', '.join(unknown)}."})
    return scopes


@transaction.atomic
def client_create(
    *,
    organization: Organization,
    name: str,
    kind: str,
    scopes,
    actor: Actor,
    tenant: Tenant | None = None,
    confidential: bool = True,
    registration: dict | None = None,
) -> OAuthClient:
    """`registration`: the user sign-in fields as identity_server.registration's
    clean_registration answers them (already checked)."""
    if (kind == OAuthClient.Kind.MACHINE) != (tenant is not None):
        raise ValueError("Machine clients, and only they, belong to a tenant.")
    client = OAuthClient(
        organization=organization,
        tenant=tenant,
        name=name,
        kind=kind,
        scopes=_clean_scopes(scopes),
        client_type=(
            OAuthClient.CLIENT_CONFIDENTIAL if confidential else OAuthClient.CLIENT_PUBLIC
        ),
        **(registration or {}),
    )
    client.save()
    _audit_client(
        "client.create",
        client,
        actor,
        details={
            "kind": kind,
            "scopes": client.scopes,
            "confidential": confidential,
            **(registration or {}),
        },
    )
    return client


@transaction.atomic
def client_update(*, client: OAuthClient, actor: Actor, **changes) -> OAuthClient:
    """Changes `name`, `scopes`, `confidential`, the user sign-in fields (already checked
    by identity_server.registration) or the quota fields (QUOTA_FIELDS); tokens already
    issued keep their scopes."""
    _clean_quota(changes)
    if "scopes" in changes:
        changes["scopes"] = _clean_scopes(changes["scopes"])
    if "confidential" in changes:
        confidential = changes.pop("confidential")
        changes["client_type"] = (
            OAuthClient.CLIENT_CONFIDENTIAL if confidential else OAuthClient.CLIENT_PUBLIC
        )
    diff = apply_changes(client, changes)
    if not diff:
        return client
    client.save(update_fields=[*diff, "updated"])
    _audit_client("client.update", client, actor, details=diff)
    return client


@transaction.atomic
def client_delete(*, client: OAuthClient, actor: Actor) -> None:
    """Deletes the client and its secrets, and revokes every token it holds."""
    denylist.denylist_add(
        kind=denylist.Kind.CLIENT,
        value=client.client_id,
        until=denylist.covers_issued_tokens_until(),
    )
    _audit_client("client.delete", client, actor)
    client.delete()


@transaction.atomic
def client_secret_create(
    *,
    client: OAuthClient,
    actor: Actor,
    description: str = "",
    expires_at: datetime | None = None,
) -> tuple[ClientSecret, str]:
    """A new secret for `client`; returns the row and the plaintext, which is never stored
    and cannot be shown again."""
    if not client.is_confidential:
        raise ValidationError("A public client has no secrets.", code="public_client")
    errors = {}
    if len(description or "") > DESCRIPTION_MAX_LENGTH:
        errors["description"] = f"At most {DESCRIPTION_MAX_LENGTH} characters."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expiryTime"] = "Must be in the future."
    # Locking the client row holds the limit under concurrent requests.
    OAuthClient.objects.select_for_update().only("pk").get(pk=client.pk)
    if ClientSecret.objects.filter(client=client).count() >= SECRETS_PER_CLIENT:
        errors["secret"] = f"A client has at most {SECRETS_PER_CLIENT} secrets; delete one first."
    if errors:
        raise ValidationError(errors)
    plaintext = secret_generate()
    secret = ClientSecret.objects.create(
        client=client,
        digest=secret_digest(plaintext).hex(),
        prefix=plaintext[:PREFIX_SHOWN],
        description=description or "",
        expires_at=expires_at,
    )
    _audit_client(
        "client_secret.create",
        client,
        actor,
        details={
            "secret_id": secret.pk,
            "description": secret.description,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return secret, plaintext


@transaction.atomic
def client_create_with_secret(
    *, actor: Actor, description: str = "", **client_fields
) -> tuple[OAuthClient, str]:
    """A confidential client and its first secret, together or not at all."""
    client = client_create(actor=actor, **client_fields)
    _secret, plaintext = client_secret_create(client=client, actor=actor, description=description)
    return client, plaintext


@transaction.atomic
def client_secret_delete(*, secret: ClientSecret, actor: Actor) -> None:
    """Seed 000: deleting a secret revokes access, so the tokens it issued go with it."""
    client = secret.client
    denylist.denylist_add(
        kind=denylist.Kind.SECRET,
        value=denylist.secret_entry(client.client_id, secret.pk),
        until=denylist.covers_issued_tokens_until(),
    )
    details = {"secret_id": secret.pk, "description": secret.description}
    secret.delete()
    _audit_client("client_secret.delete", client, actor, details=details)


@transaction.atomic
def token_revoke(*, claims: dict, http_request=None) -> None:
    """RFC 7009: the client revokes one of its own tokens, until it would have expired."""
    denylist.denylist_add(
        kind=denylist.Kind.TOKEN,
        value=claims["jti"],
        until=denylist.covers_token_until(claims),
    )
    client = OAuthClient.objects.filter(client_id=claims["client_id"]).first()
    audit_record(
        action="token.revoke",
        actor=client_actor(
            client_id=claims["client_id"],
            kind=client.kind if client else None,
            http_request=http_request,
        ),
        organization=client.organization if client else None,
        tenant=client.tenant if client else None,
        target=AuditTarget("access_token", claims["jti"], claims["client_id"]),
    )


@transaction.atomic
def signing_key_rotate(*, actor: Actor, revoke_previous: bool = False) -> SigningKey:
    """A new current signing key, for IDENTITY_SIGNING_ALGORITHM. The previous current keys
    (of every algorithm, so switching the algorithm and rotating leaves one signing key)
    stay published until their tokens have expired, and keys older than that are deleted;
    with `revoke_previous` (after a leak) every earlier key is deleted now, and the tokens
    they signed stop verifying."""
    now = timezone.now()
    previous = list(SigningKey.objects.select_for_update().values_list("kid", flat=True))
    if revoke_previous:
        SigningKey.objects.all().delete()
    else:
        SigningKey.objects.filter(current=True).update(current=None, retired_at=now)
        SigningKey.objects.filter(retired_at__lt=now - token_validity()).delete()
    key = signing_key_generate()
    key.save()
    audit_record(
        action="signing_key.rotate",
        actor=actor,
        target=AuditTarget("signing_key", key.kid, key.kid),
        details={"previous": previous, "revoke_previous": revoke_previous},
    )
    # This process signs with the new key at once; the others within CURRENT_KEY_RECHECK.
    forget_loaded_keys()
    transaction.on_commit(forget_loaded_keys)
    return key


def _counter(key: str) -> int:
    """Adds one to a counter of the current failure window, in the shared cache; 1 when
    the cache is down, so that every failure is audited rather than none."""
    return shared_cache.count(key, FAILURE_WINDOW_SECONDS * 2) or 1


def _worth_writing(count: int) -> bool:
    return count > 0 and str(count).rstrip("0") == "1"  # 1, 10, 100, ...


def token_failure_record(*, failure, error: str, http_request) -> None:
    """Audits a refused token, introspection or revocation request, rate-limited."""
    client = failure.client if failure else None
    reason = failure.reason if failure else error
    client_id = failure.client_id if failure else ""
    actor = client_actor(
        client_id=client_id, kind=client.kind if client else None, http_request=http_request
    )
    window = int(time.time() // FAILURE_WINDOW_SECONDS)
    key = f"identity:token-failure:{window}:{client_id}:{reason}:{actor.address}"
    count = _counter(key)
    if count == 1 and _counter(f"identity:token-failure:{window}:keys") > FAILURE_KEYS_PER_WINDOW:
        reason, client, count = "failure_flood", None, _counter(f"identity:token-failure:{window}")
    if not _worth_writing(count):
        return
    row = (
        OAuthClient.objects.select_related("organization", "tenant").filter(pk=client.pk).first()
        if client
        else None
    )
    audit_record(
        action="token.request",
        actor=actor,
        organization=row.organization if row else None,
        tenant=row.tenant if row else None,
        target=_client_target(row) if row else AuditTarget("oauth_client", client_id, client_id),
        outcome=AuditEvent.Outcome.FAILURE,
        reason_code=reason,
        details={
            "error": error,
            "path": http_request.path[:200],
            "count_in_window": count,
            "window_seconds": FAILURE_WINDOW_SECONDS,
        },
    )


def token_rate_limited_record(*, limited, client_id: str, http_request, refused: bool = True):
    """Audits a rate limit reached at the token, introspection or revocation endpoint, once
    per key and window (identity_server.ratelimit decides which request): `refused` says
    whether the request was answered 429 (an audit-only quota lets it through)."""
    row = (
        OAuthClient.objects.select_related("organization", "tenant")
        .filter(client_id=client_id)
        .first()
        if client_id and CLIENT_ID_PATTERN.fullmatch(client_id)
        else None
    )
    actor = client_actor(
        client_id=client_id, kind=row.kind if row else None, http_request=http_request
    )
    if row is not None:
        target = _client_target(row)
    elif client_id:
        target = AuditTarget("oauth_client", client_id, client_id)
    else:  # the address's own bucket
        target = AuditTarget("client_address", actor.address or "", actor.address or "")
    audit_record(
        action="token.request",
        actor=actor,
        organization=row.organization if row else None,
        tenant=row.tenant if row else None,
        target=target,
        outcome=AuditEvent.Outcome.FAILURE if refused else AuditEvent.Outcome.SUCCESS,
        reason_code=ratelimit.REASON,
        details={
            "limit": limited.limit,
            "maximum": limited.maximum,
            "window_seconds": limited.window_seconds,
            "retry_after": limited.retry_after,
            "refused": refused,
            "path": http_request.path[:200],
        },
    )


# --- users' sign-in grants (SPEC §8) ------------------------------------------------------

AUTHORIZATION_CODE_SECONDS = 60


@transaction.atomic
def authorization_code_create(
    *,
    client_id: str,
    application: OAuthClient | None,
    user,
    organization: Organization,
    redirect_uri: str,
    scopes,
    code_challenge: str,
    nonce: str,
    sid: str,
    auth_time: datetime,
    amr,
) -> str:
    """RFC 6749 §4.1.2: a single-use code valid AUTHORIZATION_CODE_SECONDS, bound to all of
    the above; returns the plaintext, of which only the keyed hash is kept."""
    plaintext = secrets.token_urlsafe(32)  # 256 bits
    AuthorizationCode.objects.filter(expires_at__lt=timezone.now() - timedelta(hours=1)).delete()
    AuthorizationCode.objects.create(
        digest=secret_digest(plaintext).hex(),
        client_id=client_id,
        application=application,
        user=user,
        organization=organization,
        redirect_uri=redirect_uri,
        scopes=list(scopes),
        code_challenge=code_challenge,
        nonce=nonce,
        sid=sid,
        auth_time=auth_time,
        amr=list(amr),
        expires_at=timezone.now() + timedelta(seconds=AUTHORIZATION_CODE_SECONDS),
    )
    return plaintext


@transaction.atomic
def sign_in_grant_create(
    *,
    client_id: str,
    application: OAuthClient | None,
    user,
    organization: Organization,
    sid: str,
    scopes,
    auth_time: datetime,
    amr,
    refresh_token: str | None,
    global_id: str | None = None,
    code: AuthorizationCode | None = None,
) -> SignInGrant:
    """The grant a code exchange creates, with its first refresh token (the plaintext given,
    only its keyed hash stored) when offline_access was granted; without one, the grant
    lives as long as its access token, so that it can still be revoked (code reuse,
    sign-out). `global_id` is the one the access token already carries."""
    now = timezone.now()
    sign_in_rows_prune(now=now)
    lifetime = (
        timedelta(days=settings.IDENTITY_REFRESH_TOKEN_MAX_DAYS)
        if refresh_token
        else token_validity()
    )
    grant = SignInGrant.objects.create(
        **({"global_id": global_id} if global_id else {}),
        client_id=client_id,
        application=application,
        user=user,
        organization=organization,
        sid=sid,
        scopes=list(scopes),
        auth_time=auth_time,
        amr=list(amr),
        expires_at=now + lifetime,
        last_used_at=now,
    )
    if code is not None:
        AuthorizationCode.objects.filter(pk=code.pk).update(issued_grant=grant)
        if Revocation.objects.filter(
            kind=Revocation.Kind.GRANT, value=str(grant.global_id)
        ).exists():
            # The code was used again while this exchange ran (code_reuse_revoke).
            grant.revoked_at, grant.revoked_reason = now, "code_reused"
            grant.save(update_fields=["revoked_at", "revoked_reason"])
    if refresh_token:
        refresh_token_store(grant=grant, refresh_token=refresh_token)
    return grant


def sign_in_rows_prune(*, now: datetime, batch: int = 500) -> None:
    """Deletes a batch of grants and refresh tokens that expired over a day ago (each sign-in
    prunes, so the tables stay the size of what is live). An expired refresh token can only
    be refused; kept a day, its reuse is still told apart from a forged one meanwhile."""
    horizon = now - timedelta(days=1)
    for model in (SignInGrant, RefreshToken):
        stale = list(
            model.objects.filter(expires_at__lt=horizon).values_list("pk", flat=True)[:batch]
        )
        if stale:
            model.objects.filter(pk__in=stale).delete()


def refresh_token_store(*, grant: SignInGrant, refresh_token: str) -> RefreshToken:
    """A new refresh token of `grant` (its keyed hash), sliding IDENTITY_REFRESH_TOKEN_DAYS
    from now, never past the grant's absolute cap."""
    now = timezone.now()
    expires_at = min(now + timedelta(days=settings.IDENTITY_REFRESH_TOKEN_DAYS), grant.expires_at)
    return RefreshToken.objects.create(
        grant=grant, digest=secret_digest(refresh_token).hex(), expires_at=expires_at
    )


def refresh_token_claim(*, token: RefreshToken) -> bool:
    """RFC 9700 §4.14.2: marks `token` exchanged, once; False if another request already
    did (which the caller treats as reuse)."""
    now = timezone.now()
    claimed = RefreshToken.objects.filter(pk=token.pk, rotated_at__isnull=True).update(
        rotated_at=now
    )
    if claimed:
        SignInGrant.objects.filter(pk=token.grant_id).update(last_used_at=now)
    return bool(claimed)


def code_grant_id(code: AuthorizationCode) -> str:
    """The global id of the grant a code's exchange creates, known from the code alone, so
    that a second use racing the first can revoke the grant before it exists."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"identity:code-grant:{code.digest}"))


@transaction.atomic
def code_reuse_revoke(*, code: AuthorizationCode, actor: Actor) -> None:
    """RFC 6749 §4.1.2: a code used again revokes what its first use issued: its grant, or,
    while the first exchange is still writing it, the grant's id on the deny-list, which
    sign_in_grant_create finds (and the access token's `grant_id` too)."""
    code = AuthorizationCode.objects.select_related("issued_grant").get(pk=code.pk)
    if code.issued_grant is not None:
        sign_in_grant_revoke(grant=code.issued_grant, actor=actor, reason="code_reused")
        return
    denylist.denylist_add(
        kind=denylist.Kind.GRANT,
        value=code_grant_id(code),
        until=timezone.now() + timedelta(days=settings.IDENTITY_REFRESH_TOKEN_MAX_DAYS),
    )


def authorization_code_claim(*, code: AuthorizationCode) -> bool:
    """Marks the code used, once (RFC 6749 §4.1.2); False if it already was."""
    return bool(
        AuthorizationCode.objects.filter(pk=code.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
    )


def _grant_target(grant: SignInGrant) -> AuditTarget:
    return AuditTarget("sign_in_grant", str(grant.global_id), f"{grant.user} → {grant.client_name}")


@transaction.atomic
def sign_in_grant_revoke(
    *, grant: SignInGrant, actor: Actor, reason: str = "revoked", details: dict | None = None
) -> bool:
    """Ends a user's grant to a client: its refresh tokens stop working at once and the
    access tokens issued from it are deny-listed until they expire. `reason` is the audit
    reason code (`revoked` by an admin or the user, `refresh_reused`, `code_reused`,
    `not_a_member`, ...). False, and nothing written, if it had already ended."""
    ended = SignInGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:64]
    )
    if not ended:
        return False
    denylist.denylist_add(
        kind=denylist.Kind.GRANT,
        value=str(grant.global_id),
        until=denylist.covers_issued_tokens_until(),
    )
    audit_record(
        action="sign_in_grant.revoke",
        actor=actor,
        organization=grant.organization,
        target=_grant_target(grant),
        reason_code=reason,
        details={"client_id": grant.client_id, "user_id": grant.user_id, **(details or {})},
    )
    return True


@transaction.atomic
def sign_in_grants_revoke(
    *,
    organization: Organization,
    user,
    actor: Actor,
    client_id: str | None = None,
    reason: str = "revoked",
) -> int:
    """Ends every active grant of `user` in the organization (to the OAuth `client_id` only,
    if given); returns how many ended."""
    grants = sign_in_grant_list(organization=organization, user=user, client_id=client_id)
    return sum(sign_in_grant_revoke(grant=grant, actor=actor, reason=reason) for grant in grants)
