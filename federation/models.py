"""External applications and their federated credentials (SPEC §2, §5; seeds 001, 003, 004).

An external application belongs to an organization and owns one `external_app` OAuth
client: its `id` in the API is that client's ID, and its scopes, confidentiality,
secrets and what it registers for user sign-in (redirect URIs and the rest, SPEC §8) live
on the client (identity_server), where the authorization endpoint reads them. A federated
credential lets a workload authenticate as the application with a JWT from its own
identity provider: the token's `iss`, `sub` and `aud` must match the credential's issuer,
subject and audience exactly.
"""

import uuid

from django.db import models
from django.db.models import F
from django.db.models.functions import MD5, Lower

from identity_server.models import OAuthClient
from tenants.models import Organization
from tenants.validators import validate_display_name, validate_display_text

NAME_MAX_LENGTH = 128  # seed 004, for credentials; the same for applications
DESCRIPTION_MAX_LENGTH = 512  # seed 004
# Seed 004 sets no limit on these; ours are far above any real provider's values.
ISSUER_MAX_LENGTH = 1024
AUDIENCE_MAX_LENGTH = 512
SUBJECT_MAX_LENGTH = 512
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
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
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
            # three values can together pass PostgreSQL's 2,704-byte limit on an index row;
            # MD5 is built into PostgreSQL (a collision could only refuse a credential).
            models.UniqueConstraint(
                F("app"),
                MD5("issuer"),
                MD5("subject"),
                MD5("audience"),
                name="federated_credential_claims_unique_in_app",
                violation_error_message=(
                    "A federated credential with this issuer, subject and audience already exists."
                ),
            ),
        ]

    def __str__(self):
        return self.name
