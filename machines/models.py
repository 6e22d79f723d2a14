"""Machines, robots and sessions (SPEC §6).

A machine (template or standard) of a tenant owns the `machine` OAuth client whose ID and
secrets its robots authenticate with. An unattended robot is a named account of the
tenant, run on a machine. A session is one host's connection of a machine's robot service,
written by the robot service calls (machines.robotsservice); whether a connected session
is unresponsive is computed when it is read (machines.selectors.session_unresponsive),
never stored.

A tenant's credential stores (SPEC §12) keep its robots' passwords: the built-in database
store (one per tenant, always present) or a vault (machines.vaults). A robot names its
store and, for a read-write store, the generated name its password was written under
(`secret_name`); for a read-only store, the name the vault's admins gave it
(`external_name`). The value itself is never in the robot's row.
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


class CredentialStore(models.Model):
    """A place the tenant's robots' passwords live in. `fields` holds the kind's
    non-secret settings (snake_case keys, machines.credential_stores.KINDS);
    `secrets_encrypted` its secret ones, a JSON object encrypted at rest
    (identity_server.encryption), never answered by any API or page."""

    class Type(models.TextChoices):
        # UiPath's type names, as GetAvailableCredentialStoreTypes answers them.
        DATABASE = "Database", "Orchestrator database"
        HASHICORP = "HashiCorpVault", "HashiCorp Vault"
        HASHICORP_READ_ONLY = "HashiCorpVaultReadOnly", "HashiCorp Vault (read-only)"
        AWS = "AWSSecretsManager", "AWS Secrets Manager"
        AWS_READ_ONLY = "AWSSecretsManagerReadOnly", "AWS Secrets Manager (read-only)"
        AZURE = "AzureKeyVault", "Azure Key Vault"
        AZURE_READ_ONLY = "AzureKeyVaultReadOnly", "Azure Key Vault (read-only)"
        CYBERARK_CCP = "CyberArkCCP", "CyberArk CCP (read-only)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="credential_stores")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    type = models.CharField(max_length=32, choices=Type.choices)
    fields = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True)
    # PEM: CAs that replace the system's for this store, and a client certificate.
    ca_pem = models.TextField(blank=True)
    client_cert_pem = models.TextField(blank=True)
    # The store new robots' credentials go to (resource type RobotCredentials); none set
    # means the database store.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                "tenant",
                Lower("name"),
                name="credentialstore_name_unique_in_tenant",
                violation_error_message="A credential store with this name already exists.",
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(type="Database"),
                name="credentialstore_one_database_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_default=True),
                name="credentialstore_one_default_per_tenant",
            ),
        ]

    def __str__(self):
        return self.name


class StoredSecret(models.Model):
    """A secret kept by a database store, encrypted at rest: what a vault holds, for the
    store that is no vault."""

    store = models.ForeignKey(CredentialStore, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=256)
    value_encrypted = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="storedsecret_unique_name")
        ]

    def __str__(self):
        return self.name


class Robot(models.Model):
    """An unattended robot: the account it runs as (`username`) on a machine of its tenant.
    `key` is the `robotKey` of the robot service."""

    class CredentialType(models.TextChoices):
        # Orchestrator's enum; only Default is a password this server keeps.
        DEFAULT = "Default", "Password"
        SMART_CARD = "SmartCard", "Smart card"
        NCIPHER = "NCipher", "nCipher"
        SAFENET = "SafeNet", "SafeNet"
        NO_CREDENTIAL = "NoCredential", "No credential"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="robots")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # A robot outlives the machine it ran on; it connects from nowhere until given another.
    machine = models.ForeignKey(
        Machine, null=True, blank=True, on_delete=models.SET_NULL, related_name="robots"
    )
    username = models.CharField(max_length=256)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True)
    # Where its password is (SPEC §12). A deleted store leaves robots without a credential.
    credential_store = models.ForeignKey(
        CredentialStore, null=True, blank=True, on_delete=models.SET_NULL, related_name="robots"
    )
    credential_type = models.CharField(
        max_length=16, choices=CredentialType.choices, default=CredentialType.DEFAULT
    )
    # Read-only stores: the secret's name in the vault, as its admins named it.
    external_name = models.CharField(max_length=256, blank=True)
    # Read-write stores: the name we wrote the password under (blank: none written).
    secret_name = models.CharField(max_length=256, blank=True, editable=False)
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
