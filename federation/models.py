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
