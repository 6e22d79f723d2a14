"""Machines (SPEC §6): machine templates and standard machines of a tenant, each owning the
`machine` OAuth client whose ID and secrets its robots authenticate with."""

from django.db import models
from django.db.models.functions import Lower

from identity_server.models import OAuthClient
from tenants.models import Tenant

# As for other named objects of a tenant (federated credentials, SPEC §5).
NAME_MAX_LENGTH = 128
DESCRIPTION_MAX_LENGTH = 512


class Machine(models.Model):
    class Type(models.TextChoices):
        # Orchestrator's enum order: Standard is its default.
        STANDARD = "Standard", "Standard machine"
        TEMPLATE = "Template", "Machine template"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="machines")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.STANDARD)
    # Its client goes only with it (services.machine_delete revokes the client's tokens).
    # RESTRICT rather than PROTECT: deleting the whole tenant still cascades to both.
    client = models.OneToOneField(OAuthClient, on_delete=models.RESTRICT, related_name="machine")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="machine_name_unique_in_tenant",
                violation_error_message="A machine with this name already exists.",
            )
        ]

    def __str__(self):
        return self.name
