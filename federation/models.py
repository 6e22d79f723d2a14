"""External applications and their federated credentials (SPEC §2, §5; seeds 001, 003, 004).

An external application belongs to an organization and owns one `external_app` OAuth
client: its `id` in the API is that client's ID, and its scopes, confidentiality,
secrets and what it registers for user sign-in (redirect URIs and the rest, SPEC §8) live
on the client (identity_server), where the authorization endpoint reads them. A federated
credential lets a workload authenticate as the application with a JWT from its own
identity provider: the token's `iss` and `aud` must match the credential's issuer and
audience exactly, and its `sub` either the credential's subject exactly or, instead, the
token's claims its claims-matching expression (federation.expressions, SPEC §11). Its
trust-policy tests are sample claim sets that must match (`must_match`) or must not
(`must_not_match`); every save runs them.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import MD5, Lower

from federation.expressions import expression_parse
from identity_server.models import OAuthClient
from tenants.models import Organization
from tenants.validators import validate_display_name, validate_display_text

NAME_MAX_LENGTH = 128  # seed 004, for credentials; the same for applications
DESCRIPTION_MAX_LENGTH = 512  # seed 004
# Seed 004 sets no limit on these; ours are far above any real provider's values.
ISSUER_MAX_LENGTH = 1024
AUDIENCE_MAX_LENGTH = 512
SUBJECT_MAX_LENGTH = 512
EXPRESSION_MAX_LENGTH = 1024  # SPEC §11
# Seed 004: "Each application supports a maximum of 20 federated credentials."
CREDENTIALS_PER_APP = 20


class ExternalApp(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="external_apps"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_display_name])
    # Its client goes only with it (services.external_app_delete revokes the client's
    # tokens). RESTRICT rather than PROTECT: deleting the organization cascades to both.
    client = models.OneToOneField(
        OAuthClient, on_delete=models.RESTRICT, related_name="external_app"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    @property
    def matcher(self):
        """The compiled claims-matching expression (federation.expressions), or None for a
        credential with a subject."""
        value = self.claims_matching_expression
        return expression_parse(value) if value else None


class FederatedCredential(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(
        ExternalApp, on_delete=models.CASCADE, related_name="federated_credentials"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_display_name])
    description = models.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, blank=True, validators=[validate_display_text]
    )
    issuer = models.CharField(max_length=ISSUER_MAX_LENGTH)
    audience = models.CharField(max_length=AUDIENCE_MAX_LENGTH)
    # Exactly one of the two is set (the check constraint below); the other is empty.
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH, blank=True)
    claims_matching_expression = models.CharField(max_length=EXPRESSION_MAX_LENGTH, blank=True)
    # Trust-policy tests: lists of sample claim sets (JSON objects).
    must_match = models.JSONField(default=list, blank=True)
    must_not_match = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Any case: two credentials called "GitHub" and "github" would only confuse.
            models.UniqueConstraint(
                "app",
                Lower("name"),
                name="federated_credential_name_unique_in_app",
                violation_error_message="A federated credential with this name already exists.",
            ),
            # Two credentials that accept the same tokens would make which one was used
            # (last_used_at, the audit log) a matter of chance. On digests, because the
            # values can together pass PostgreSQL's 2,704-byte limit on an index row;
            # MD5 is built into PostgreSQL (a collision could only refuse a credential).
            # Expressions that differ only in spelling may still overlap: the token path
            # then takes the older one (first match wins), which is at least stable.
            models.UniqueConstraint(
                F("app"),
                MD5("issuer"),
                MD5("subject"),
                MD5("audience"),
                MD5("claims_matching_expression"),
                name="federated_credential_claims_unique_in_app",
                violation_error_message=(
                    "A federated credential with this issuer, subject and audience already exists."
                ),
            ),
            models.CheckConstraint(
                condition=(Q(subject="") & ~Q(claims_matching_expression=""))
                | (~Q(subject="") & Q(claims_matching_expression="")),
                name="federated_credential_subject_or_expression",
                violation_error_message=(
                    "A federated credential has a subject or a claims-matching expression."
                ),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def matcher(self):
        """The compiled claims-matching expression (federation.expressions), or None for a
        credential with a subject."""
        value = self.claims_matching_expression
        return expression_parse(value) if value else None


# SPEC §11: "at most 5" public keys of an application's own.
KEYS_PER_APP = 5
PEM_MAX_LENGTH = 16 * 1024  # a 4096-bit RSA certificate with a long chain of names fits
JWKS_URI_MAX_LENGTH = 1024


class AppKey(models.Model):
    """A public key of the application's own (SPEC §11, RFC 7523 §2.2 as `private_key_jwt`
    is commonly meant): the application signs its assertions with the private half, which
    this server never sees. One of three kinds: a PEM public key, a PEM certificate (its
    public key is what counts), or a JWKS URL fetched through the guarded fetcher.

    For the PEM kinds `jwk` is the public key as a JWK (RFC 7517) with its RFC 7638
    thumbprint as `kid`, computed once at registration, so the token path builds the key
    from it without parsing PEM."""

    class Kind(models.TextChoices):
        PUBLIC_KEY = "publicKey", "Public key (PEM)"
        CERTIFICATE = "certificate", "Certificate (PEM)"
        JWKS_URI = "jwksUri", "JWKS URL"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(ExternalApp, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_display_name])
    kind = models.CharField(max_length=16, choices=Kind.choices)
    pem = models.TextField(max_length=PEM_MAX_LENGTH, blank=True)
    jwks_uri = models.CharField(max_length=JWKS_URI_MAX_LENGTH, blank=True)
    jwk = models.JSONField(null=True, blank=True, editable=False)
    # What the key is ("RSA 2048", "EC P-256"), for the lists; empty for a JWKS URL.
    description = models.CharField(max_length=64, blank=True, editable=False)
    # A certificate's notAfter: the key stops authenticating then.
    expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                "app",
                Lower("name"),
                name="app_key_name_unique_in_app",
                violation_error_message="A key with this name already exists.",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def thumbprint(self) -> str:
        return (self.jwk or {}).get("kid", "")


# --- the organization's sign-in identity providers (SPEC §9) ------------------------------

IDP_NAME_MAX_LENGTH = 100
# Kept well under PostgreSQL's limit on an index row with the subject (OIDC Core §2: a
# `sub` is at most 255 ASCII characters), for the (issuer, subject) uniqueness.
IDP_ISSUER_MAX_LENGTH = 512
IDP_SUBJECT_MAX_LENGTH = 255
IDP_CLIENT_ID_MAX_LENGTH = 255
IDP_SCOPES_MAX_LENGTH = 512
IDP_CLAIM_MAX_LENGTH = 64
IDP_DEFAULT_SCOPES = "openid email profile"


def _no_domains() -> list:
    return []


class IdentityProvider(models.Model):
    """An OpenID Connect provider the organization's people sign in through (SPEC §9): the
    site is its relying party (federation.relying_party). `client_secret_encrypted` holds
    the secret the provider gave for this site, encrypted at rest (identity_server.encryption,
    purpose IDP_SECRET_PURPOSE in federation.services); it is write-only: no page or API
    renders it.

    `enforced` ("sign-in through this provider only"): the organization's members may not
    sign in with a local password, except `break_glass_user`, one administrator of the
    organization whose every sign-in is audited and shown to the other administrators. At
    most one provider of an organization is enforced."""

    class Kind(models.TextChoices):
        GENERIC = "generic", "OpenID Connect"
        ENTRA = "entra", "Microsoft Entra ID"
        GOOGLE = "google", "Google"
        OKTA = "okta", "Okta"
        KEYCLOAK = "keycloak", "Keycloak"

    class Provisioning(models.TextChoices):
        LINK_ONLY = "link_only", "Existing members only"
        JIT_MEMBER = "jit_member", "New accounts become members"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="identity_providers"
    )
    name = models.CharField(max_length=IDP_NAME_MAX_LENGTH, validators=[validate_display_name])
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.GENERIC)
    issuer = models.CharField(max_length=IDP_ISSUER_MAX_LENGTH)
    client_id = models.CharField(max_length=IDP_CLIENT_ID_MAX_LENGTH)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    scopes = models.CharField(max_length=IDP_SCOPES_MAX_LENGTH, default=IDP_DEFAULT_SCOPES)
    # Lower-case domain names; empty: any domain.
    allowed_email_domains = models.JSONField(default=_no_domains, blank=True)
    subject_claim = models.CharField(max_length=IDP_CLAIM_MAX_LENGTH, default="sub")
    email_claim = models.CharField(max_length=IDP_CLAIM_MAX_LENGTH, default="email")
    name_claim = models.CharField(max_length=IDP_CLAIM_MAX_LENGTH, default="name")
    provisioning = models.CharField(
        max_length=16, choices=Provisioning.choices, default=Provisioning.LINK_ONLY
    )
    enforced = models.BooleanField(default=False)
    break_glass_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                name="identity_provider_name_unique_in_org",
                violation_error_message="An identity provider with this name already exists.",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(enforced=True),
                name="identity_provider_one_enforced_per_org",
                violation_error_message=(
                    "Another identity provider of this organization is already the only "
                    "way to sign in."
                ),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class ExternalIdentity(models.Model):
    """An account's binding to a person at an identity provider (SPEC §9): the provider's
    issuer and the subject it names them by (the provider's `subject_claim`). Bound on the
    first sign-in; from then on the binding alone, never the email, finds the account."""

    issuer = models.CharField(max_length=IDP_ISSUER_MAX_LENGTH)
    subject = models.CharField(max_length=IDP_SUBJECT_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    # The provider it was bound through; a deleted provider leaves the binding (a provider
    # registered again with the same issuer finds its people again).
    provider = models.ForeignKey(
        IdentityProvider,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="external_identities",
    )
    # The email the provider sent at the last sign-in, and whether it said the email was
    # verified (OpenID Connect Core §5.1 `email_verified`): our own userinfo and id_tokens
    # then call the account's email verified when it is that one.
    email = models.CharField(max_length=254, blank=True)
    email_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="external_identity_unique_issuer_subject"
            )
        ]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
