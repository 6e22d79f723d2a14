"""The identity core's rows: OAuth clients, their secrets, signing keys, the deny-list, and
users' sign-in grants, refresh tokens and authorization codes (SPEC §8).

Access tokens have no rows (SPEC §3): they are self-contained JWTs, and what revokes them
early is a `Revocation`, kept only until the tokens it covers have expired.
"""

import uuid

from django.conf import settings
from django.db import models
from oauth2_provider.models import AbstractApplication

from tenants.models import Organization, Tenant


def _new_client_id() -> str:
    return str(uuid.uuid4())


class OAuthClient(AbstractApplication):
    """DOT's Application, swapped in (settings.OAUTH2_PROVIDER_APPLICATION_MODEL).

    DOT's own `client_secret` stays empty and is never read: clients authenticate with a
    `ClientSecret` (identity_server.clients) or, later, a federated credential.
    """

    class Kind(models.TextChoices):
        MACHINE = "machine", "Machine"
        EXTERNAL_APP = "external_app", "External application"

    client_id = models.CharField(max_length=100, unique=True, default=_new_client_id)
    client_secret = models.CharField(max_length=255, blank=True, default="", editable=False)
    hash_client_secret = models.BooleanField(default=False, editable=False)
    authorization_grant_type = models.CharField(
        max_length=64,
        choices=AbstractApplication.GRANT_TYPES,
        default=AbstractApplication.GRANT_CLIENT_CREDENTIALS,
    )
    client_type = models.CharField(
        max_length=32,
        choices=AbstractApplication.CLIENT_TYPES,
        default=AbstractApplication.CLIENT_CONFIDENTIAL,
    )

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="oauth_clients"
    )
    # Set for machine clients: their tokens carry the tenant (SPEC §3).
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="oauth_clients"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    scopes = models.JSONField(default=list, blank=True, help_text="Granted scopes.")
    # SPEC §8: scopes a signed-in user may grant this client (UiPath's `type: "user"`
    # scopes); `scopes` above stay the application (client credentials) scopes. DOT's own
    # redirect_uris, post_logout_redirect_uris and allowed_origins (space-separated) hold
    # the rest of a user-facing client's registration.
    user_scopes = models.JSONField(default=list, blank=True, help_text="User (sign-in) scopes.")
    # OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed.
    backchannel_logout_uri = models.CharField(max_length=2048, blank=True, default="")
    # SPEC §10: optional quotas of issued tokens (identity_server.ratelimit); none when null.
    quota_per_hour = models.PositiveIntegerField(null=True, blank=True)
    quota_per_day = models.PositiveIntegerField(null=True, blank=True)
    # Past a quota: refuse tokens (429), or only audit it.
    quota_enforced = models.BooleanField(default=True)

    class Meta(AbstractApplication.Meta):
        verbose_name = "OAuth client"

    def __str__(self):
        return self.name or self.client_id

    @property
    def is_confidential(self) -> bool:
        return self.client_type == self.CLIENT_CONFIDENTIAL


class ClientSecret(models.Model):
    """One of a client's secrets (SPEC §4). Only its keyed hash is stored."""

    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="secrets")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the secret, so an admin can tell which one a robot uses.
    prefix = models.CharField(max_length=16, editable=False)
    description = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.prefix}… ({self.description or 'no description'})"


class SigningKey(models.Model):
    """A key that signs our tokens: RSA 2048 for RS256, EC P-256 for ES256
    (settings.IDENTITY_SIGNING_ALGORITHM). The private half is stored encrypted
    (identity_server.tokens); retired keys stay published until their tokens expire."""

    kid = models.CharField(max_length=64, unique=True)
    # RFC 7518 §3.1 `alg`; the key verifies tokens of this algorithm only.
    algorithm = models.CharField(max_length=8, default="RS256", editable=False)
    private_key = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    # True for the one key of its algorithm that signs; NULL once retired (NULLs never
    # collide in UNIQUE). One per algorithm, so processes configured differently (a rolling
    # switch of IDENTITY_SIGNING_ALGORITHM) never take each other's key away.
    current = models.BooleanField(null=True, default=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["algorithm", "current"], name="signing_key_one_current_per_algorithm"
            )
        ]

    def __str__(self):
        return self.kid


class Revocation(models.Model):
    """A deny-list entry: a token, or every token of a secret or client, refused early."""

    class Kind(models.TextChoices):
        TOKEN = "token", "Token (jti)"
        SECRET = "secret", "Client secret"
        CLIENT = "client", "Client"
        # A user's sign-in grant (SignInGrant.global_id): the access tokens issued from it.
        GRANT = "grant", "Sign-in grant"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=128)
    # Once every token it covers has expired, the entry is useless and gets pruned.
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="revocation_unique_kind_value")
        ]

    def __str__(self):
        return f"{self.kind}:{self.value}"


# --- user sign-in (SPEC §8) ---------------------------------------------------------------

# What the official `uipath` CLI hard-codes: a platform-wide public client with no row,
# enabled by IDENTITY_UIPATH_CLI_CLIENT (identity_server.signin).
CLI_CLIENT_ID = "36dea5b8-e8bb-423d-8e7b-c808df8f1c00"
#
# Our own tables rather than DOT's Grant / RefreshToken / IDToken: DOT's store codes and
# refresh tokens in clear text (SPEC §8 wants only hashes at rest), its refresh tokens point
# at an AccessToken row (ours are self-contained JWTs with no rows, SPEC §3), and they know
# no organization or site session (`sid`), which back-channel logout and the grants page
# need. oauthlib still runs the protocol; identity_server.validators reads these tables.


class SignInGrant(models.Model):
    """A user's grant to one client in one organization: the refresh-token family of RFC 6749
    §10.4 / RFC 9700 §4.14. Every refresh token rotated from the first one belongs to it;
    revoking it ends them all, and (through the deny-list) the access tokens issued from it.

    `sid` is the site session the user signed in with (the id_token's `sid`), so that signing
    out of the site finds the clients to notify (OIDC Back-Channel Logout)."""

    global_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The OAuth client_id, and the registered client when there is a row: the official CLI
    # (identity_server.signin.CLI_CLIENT_ID) is platform-wide and has none. Deleting an
    # application deletes its grants.
    client_id = models.CharField(max_length=100, db_index=True)
    application = models.ForeignKey(
        OAuthClient, null=True, blank=True, on_delete=models.CASCADE, related_name="sign_in_grants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_grants"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sign_in_grants"
    )
    sid = models.CharField(max_length=64, db_index=True)
    scopes = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    amr = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # The absolute cap (IDENTITY_REFRESH_TOKEN_MAX_DAYS): no refresh past it, however used.
    # A grant without offline_access has no refresh token and ends with its access token.
    expires_at = models.DateTimeField(db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "user", "client_id"], name="signin_grant_owner"),
        ]

    def __str__(self):
        return f"{self.user} → {self.client_name} ({self.organization})"

    @property
    def client_name(self) -> str:
        """What an admin page calls the client (the CLI has no row to name it)."""
        if self.application_id is None:
            return "UiPath CLI" if self.client_id == CLI_CLIENT_ID else self.client_id
        return self.application.name or self.client_id


class RefreshToken(models.Model):
    """One refresh token of a grant, only its keyed hash stored. `rotated_at` is set when it
    is exchanged; presenting it again is reuse (RFC 9700 §4.14.2) and revokes the grant."""

    grant = models.ForeignKey(SignInGrant, on_delete=models.CASCADE, related_name="refresh_tokens")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Sliding: IDENTITY_REFRESH_TOKEN_DAYS after issuance, never past the grant's cap.
    expires_at = models.DateTimeField(db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"refresh token {self.pk} of {self.grant_id}"


class AuthorizationCode(models.Model):
    """An authorization code (RFC 6749 §4.1.2): 256 random bits, only the keyed hash stored,
    single use, bound to everything its exchange must match. `grant` is what its first use
    issued, revoked if the code is presented again (§4.1.2, §10.5)."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    client_id = models.CharField(max_length=100)
    application = models.ForeignKey(
        OAuthClient, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=2048)
    scopes = models.JSONField(default=list)
    code_challenge = models.CharField(max_length=128, blank=True)
    nonce = models.CharField(max_length=512, blank=True)
    sid = models.CharField(max_length=64, db_index=True)
    auth_time = models.DateTimeField()
    amr = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # The access tokens issued from this code carry this id (`grant_id` claim) whether or not
    # a refresh token came with them, so revoking it reaches them through the deny-list.
    issued_grant = models.ForeignKey(
        SignInGrant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"code {self.pk} for {self.client_id}"
