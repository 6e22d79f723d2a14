"""Reads of the identity core, each scoped to one client or organization: a secret or grant
id from a request never reaches another client's or organization's, and a foreign id is the
same 404 as a missing one."""

import uuid

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from identity_server.models import ClientSecret, OAuthClient, SignInGrant


def client_secret_list(*, client: OAuthClient) -> QuerySet[ClientSecret]:
    """The client's secrets, oldest first: their metadata only (plaintexts are never kept)."""
    return ClientSecret.objects.filter(client=client).order_by("created_at", "id")


def client_secret_get(*, client: OAuthClient, secret_id: int) -> ClientSecret:
    secret = client_secret_list(client=client).filter(pk=secret_id).first()
    if secret is None:
        raise Http404
    secret.client = client  # already loaded, with what the audit event needs
    return secret


def sign_in_grant_list(
    *, organization, user=None, client_id: str | None = None
) -> QuerySet[SignInGrant]:
    """The organization's active sign-in grants (refresh-token families, and the access
    tokens of a sign-in without offline_access until they expire), newest first; of one
    user and/or one OAuth `client_id` when given. `application` and `user` come loaded;
    `grant.client_name` names the client on a page."""
    grants = SignInGrant.objects.filter(
        organization=organization, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    if user is not None:
        grants = grants.filter(user=user)
    if client_id is not None:
        grants = grants.filter(client_id=client_id)
    return grants.select_related("application", "user").order_by("-created_at", "-id")


def sign_in_grant_get(*, organization, grant_id) -> SignInGrant:
    """One active grant of the organization by its `global_id`; Http404 for a missing,
    foreign, malformed or ended one."""
    try:
        global_id = uuid.UUID(str(grant_id))
    except ValueError:
        raise Http404 from None
    grant = sign_in_grant_list(organization=organization).filter(global_id=global_id).first()
    if grant is None:
        raise Http404
    return grant


def sign_in_grants_of_session(*, sid: str) -> QuerySet[SignInGrant]:
    """Every grant (active or not) that came from the site session `sid`, with its client:
    whom back-channel logout notifies when that session ends."""
    if not sid:
        return SignInGrant.objects.none()
    return SignInGrant.objects.filter(sid=sid).select_related("application", "organization")
