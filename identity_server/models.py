"""The identity core's rows: OAuth clients, their secrets, signing keys and the deny-list.

Access tokens have no rows (SPEC §3): they are self-contained JWTs, and what revokes them
early is a `Revocation`, kept only until the tokens it covers have expired.
"""

import uuid

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
    """An RSA key that signs access tokens. The private half is stored encrypted
    (identity_server.tokens); retired keys stay published until their tokens expire."""

    kid = models.CharField(max_length=64, unique=True)
    private_key = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    # True for the one key that signs; NULL once retired (NULLs never collide in UNIQUE).
    current = models.BooleanField(null=True, default=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.kid


class Revocation(models.Model):
    """A deny-list entry: a token, or every token of a secret or client, refused early."""

    class Kind(models.TextChoices):
        TOKEN = "token", "Token (jti)"
        SECRET = "secret", "Client secret"
        CLIENT = "client", "Client"

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
