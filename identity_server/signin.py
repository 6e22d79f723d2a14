"""What user sign-in decides about clients, redirect URIs, scopes and origins (SPEC §8).

The authorization endpoint (identity_server.authorize) and the validator's authorization
code and refresh grants (identity_server.validators) ask the same questions here, so there
is one answer to "may this client sign users in, at this redirect URI, with these scopes":

- RFC 6749 §3.1.2.3 / RFC 9700 §4.1.3: redirect URIs are compared exactly, except the
  official CLI's loopback redirect, whose port is any (RFC 8252 §7.3);
- RFC 7636 / RFC 9700 §2.1.1: public clients must send a PKCE S256 challenge;
- scopes are what the user asked for, the client holds as user scopes and the user's role
  allows (members only the `.Read` variants); unknown names are dropped, not refused, as the
  official CLI asks for scopes of services we do not serve.

Nothing here is on the client-credentials path.
"""

import base64
import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from identity_server.clients import CLIENT_ID_PATTERN, ClientSnapshot
from identity_server.models import CLI_CLIENT_ID, OAuthClient
from identity_server.scopes import CATALOGUE, OFFLINE_ACCESS
from tenants.models import Membership

# The Django session keys of the site session a sign-in comes from. `sid` is the OpenID
# Connect session id (the id_token's `sid`, recorded on codes and grants; what back-channel
# logout names); `amr` how the user authenticated (RFC 8176), password unless set.
SESSION_SID_KEY = "identity_sid"
SESSION_AMR_KEY = "identity_amr"

# OpenID Connect's own scopes: any sign-in may ask for them, whatever the client's scopes.
OPENID = "openid"
PROTOCOL_SCOPES = frozenset({OPENID, "profile", "email", OFFLINE_ACCESS})

# RFC 7636 §4.1 / §4.2: a verifier is 43 to 128 unreserved characters; an S256 challenge
# is the 43-character base64url of a SHA-256.
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
CLI_REDIRECT = re.compile(r"http://(?:localhost|127\.0\.0\.1|\[::1\]):(\d{1,5})/oidc/login")
LOOPBACK_ORIGIN = re.compile(r"http://(?:localhost|127\.0\.0\.1|\[::1\]):(\d{1,5})")


@dataclass(frozen=True)
class SignInClient:
    """A client that may sign users in: an external application with user scopes, or the
    official CLI (`application` None)."""

    client_id: str
    name: str
    confidential: bool
    application: OAuthClient | None
    organization_id: int | None  # None for the CLI: its users choose the organization
    user_scopes: frozenset[str]
    redirect_uris: tuple[str, ...]
    allowed_origins: tuple[str, ...]

    @property
    def is_cli(self) -> bool:
        return self.application is None


def cli_enabled() -> bool:
    return bool(settings.IDENTITY_UIPATH_CLI_CLIENT)


def _cli() -> SignInClient:
    # Platform-wide: every catalogue scope, which each user's role then cuts down.
    return SignInClient(
        client_id=CLI_CLIENT_ID,
        name="UiPath CLI",
        confidential=False,
        application=None,
        organization_id=None,
        user_scopes=frozenset(CATALOGUE),
        redirect_uris=(),
        allowed_origins=(),
    )


def cli_snapshot() -> ClientSnapshot:
    """The CLI as the validator's `request.client`: a public external application of no
    organization, with no client-credentials scopes."""
    return ClientSnapshot(
        pk=0,
        client_id=CLI_CLIENT_ID,
        kind=OAuthClient.Kind.EXTERNAL_APP,
        confidential=False,
        organization_global_id="",
        organization_slug="",
        tenant_global_id=None,
        tenant_name=None,
        scopes=(),
        secrets=(),
    )


def sign_in_client(client_id: str) -> SignInClient | None:
    """The client `client_id` if it may sign users in (one query), else None: unknown,
    a machine, an application without user scopes, or the CLI while it is disabled."""
    if client_id == CLI_CLIENT_ID:
        return _cli() if cli_enabled() else None
    if not CLIENT_ID_PATTERN.fullmatch(client_id or ""):
        return None
    application = (
        OAuthClient.objects.filter(client_id=client_id, kind=OAuthClient.Kind.EXTERNAL_APP)
        .select_related("organization")
        .first()
    )
    if application is None or not application.user_scopes:
        return None
    return SignInClient(
        client_id=application.client_id,
        name=application.name or application.client_id,
        confidential=application.is_confidential,
        application=application,
        organization_id=application.organization_id,
        user_scopes=frozenset(application.user_scopes),
        redirect_uris=tuple(application.redirect_uris.split()),
        allowed_origins=tuple(application.allowed_origins.split()),
    )


def redirect_uri_allowed(client: SignInClient, redirect_uri: str) -> bool:
    """RFC 6749 §3.1.2.3: exactly one of the registered URIs; for the CLI, its loopback
    redirect on any port (RFC 8252 §7.3)."""
    if client.is_cli:
        match = CLI_REDIRECT.fullmatch(redirect_uri or "")
        return match is not None and 0 < int(match.group(1)) < 65536
    return redirect_uri in client.redirect_uris


def origin_allowed(client_id: str, origin: str) -> bool:
    """May a page at `origin` call the token endpoint for this client (CORS)? The CLI's
    loopback origins, or another client's listed ones; one query for the latter."""
    if not origin:
        return False
    if client_id == CLI_CLIENT_ID:
        match = LOOPBACK_ORIGIN.fullmatch(origin)
        return cli_enabled() and match is not None and 0 < int(match.group(1)) < 65536
    client = sign_in_client(client_id)
    return client is not None and origin in client.allowed_origins


def origin_allowed_for_any(origin: str) -> bool:
    """A CORS preflight names no client: is `origin` one some client may use?"""
    if not origin or len(origin) > 300:
        return False
    if LOOPBACK_ORIGIN.fullmatch(origin) and cli_enabled():
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.path or parts.query:
        return False
    candidates = OAuthClient.objects.filter(allowed_origins__contains=origin).values_list(
        "allowed_origins", flat=True
    )
    return any(origin in listed.split() for listed in candidates)


def scopes_granted(*, client: SignInClient, requested, role: str) -> list[str]:
    """SPEC §8: requested ∩ the client's user scopes ∩ what the role allows, in the order
    asked; protocol scopes (openid, profile, email, offline_access) pass, unknown names are
    dropped. A member gets `X.Read` for a requested `X` or `X.Read`, nothing that writes."""
    granted: list[str] = []
    for name in requested:
        if name in PROTOCOL_SCOPES:
            candidate = name
        elif role == Membership.Role.ADMIN:
            candidate = name if name in client.user_scopes else None
        else:
            candidate = _read_variant(name, client.user_scopes)
        if candidate and candidate not in granted:
            granted.append(candidate)
    return granted


def _read_variant(name: str, held) -> str | None:
    """What a member gets for `name`: its `.Read` variant, if the client holds it or the
    whole resource."""
    base = name.removesuffix(".Read")
    if name.endswith(".Write") or f"{base}.Read" not in CATALOGUE:
        return None
    return f"{base}.Read" if (f"{base}.Read" in held or base in held) else None


def pkce_s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def membership_role(*, user, organization_id: int) -> str | None:
    """The user's role in the organization, or None if no (active) member."""
    if not user.is_active:
        return None
    return (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .values_list("role", flat=True)
        .first()
    )


def email_verified(user) -> bool:
    """OpenID Connect Core §5.1 `email_verified` of an account (SPEC §9): true when an
    organization's identity provider that signed the account in said this very address was
    verified (federation's ExternalIdentity, through its reverse relation: identity_server
    does not import federation); addresses typed in by an administrator are not."""
    if not user.email:
        return False
    return user.external_identities.filter(email__iexact=user.email, email_verified=True).exists()
