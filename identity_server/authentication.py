"""Authentication classes for our REST APIs (wired in settings.REST_FRAMEWORK or per view)."""

import uuid
from dataclasses import dataclass

from rest_framework import authentication, exceptions

from identity_server import denylist
from identity_server.tokens import InvalidAccessToken, access_token_decode
from tenants.models import AuditEvent, Membership


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, answering 401 (not 403) to an anonymous caller.

    DRF only sends 401 when the first authenticator names a challenge.
    """

    def authenticate_header(self, request):
        return 'Session realm="identity"'


@dataclass(frozen=True)
class TokenPrincipal:
    """The client behind a valid access token, standing in for `request.user`.

    tenants.access reads `organization_global_id` and `tenant_global_id` to keep the
    caller inside its organization (and its tenant, for a machine's token).
    """

    client_id: str
    organization_global_id: str
    tenant_global_id: str | None
    scopes: frozenset[str]
    audit_actor_kind: str
    # A user's token (SPEC §8): the account, still a member of the token's organization.
    account: object = None

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> str:
        return str(self.account.pk) if self.account is not None else self.client_id

    def get_username(self) -> str:
        return self.account.get_username() if self.account is not None else self.client_id


BEARER_REALM = 'Bearer realm="identity"'


def _member_account(claims: dict):
    """The token's user if still active and a member of its organization (one query)."""
    sub = str(claims.get("sub", ""))
    try:
        organization = uuid.UUID(str(claims.get("prt_id", "")))
    except ValueError:
        return None
    if not sub.isdigit():
        return None
    membership = (
        Membership.objects.filter(
            user_id=int(sub), user__is_active=True, organization__global_id=organization
        )
        .select_related("user")
        .first()
    )
    return membership.user if membership else None


def token_refuse(request, description: str):
    """A bearer token that is not accepted (RFC 6750 §3.1 `invalid_token`): a 401 whose
    challenge and body say why. `description` is ours, never the request's (it goes into a
    header)."""
    request.bearer_token_refused = description
    raise exceptions.AuthenticationFailed(description)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """RFC 6750 §2.1: one of our access tokens in the Authorization header; signature,
    issuer, audience and lifetime are checked, then the deny-list.

    The 401's challenge (§3): without a token, the scheme alone (§3.1: no error when the
    request had no authentication); with a refused token, `error="invalid_token"` and the
    same description as the body."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        try:
            claims = access_token_decode(token)
        except InvalidAccessToken:
            token_refuse(request, "The access token is invalid or expired.")
        if denylist.is_revoked(claims):
            token_refuse(request, "The access token has been revoked.")
        account = None
        if claims.get("sub_type") == "user":
            # SPEC §8: a user's token works only while its user is an active member.
            account = _member_account(claims)
            if account is None:
                token_refuse(request, "The user is no longer a member of this organization.")
        principal = TokenPrincipal(
            account=account,
            client_id=claims["client_id"],
            organization_global_id=str(claims.get("prt_id", "")),
            tenant_global_id=claims.get("tenant_id"),
            scopes=frozenset(claims["scope"]),
            audit_actor_kind={
                "robot": AuditEvent.ActorKind.ROBOT,
                "user": AuditEvent.ActorKind.USER,
            }.get(claims.get("sub_type"), AuditEvent.ActorKind.APP),
        )
        return principal, claims

    def authenticate_header(self, request):
        description = getattr(request, "bearer_token_refused", None)
        if description is None:
            return BEARER_REALM
        return f'{BEARER_REALM}, error="invalid_token", error_description="{description}"'
