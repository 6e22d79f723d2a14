"""Machines, robots and sessions (SPEC §6).

A machine (template or standard) of a tenant owns the `machine` OAuth client whose ID and
secrets its robots authenticate with. An unattended robot is a named account of the
tenant, run on a machine. A session is one host's connection of a machine's robot service,
written by the robot service calls (machines.robotsservice); whether a connected session
is unresponsive is computed when it is read (machines.selectors.session_unresponsive),
never stored.
"""

import uuid

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


class Robot(models.Model):
    """An unattended robot: the account it runs as (`username`) on a machine of its tenant.
    `key` is the `robotKey` of the robot service."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="robots")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # A robot outlives the machine it ran on; it connects from nowhere until given another.
    machine = models.ForeignKey(
        Machine, null=True, blank=True, on_delete=models.SET_NULL, related_name="robots"
    )
    username = models.CharField(max_length=256)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="robot_name_unique_in_tenant",
                violation_error_message="A robot with this name already exists.",
            )
        ]

    def __str__(self):
        return self.name


class Session(models.Model):
    """One host's connection of a machine's robot service: at most one per (machine, host).

    `state` is what the robot said last (connected, or disconnected when it ended
    gracefully); a connected session without a heartbeat for the tenant's threshold is
    unresponsive, which is computed at read time from `reporting_time`."""

    class State(models.TextChoices):
        CONNECTED = "Connected", "Connected"
        DISCONNECTED = "Disconnected", "Disconnected"

    HOST_NAME_MAX_LENGTH = 256
    VERSION_MAX_LENGTH = 64

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sessions")
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="sessions")
    robot = models.ForeignKey(
        Robot, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    host_name = models.CharField(max_length=HOST_NAME_MAX_LENGTH)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CONNECTED)
    # The last call of the robot service for this session: heartbeat, begin, end.
    reporting_time = models.DateTimeField()
    version = models.CharField(max_length=VERSION_MAX_LENGTH, blank=True)
    is_unattended = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "host_name"], name="session_unique_machine_host"
            )
        ]
        indexes = [models.Index(fields=["tenant", "reporting_time"], name="session_tenant_time")]

    def __str__(self):
        return f"{self.machine} on {self.host_name}"
