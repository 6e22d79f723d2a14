"""Organizations, their tenants and members, per-tenant settings and the audit log."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenants.validators import validate_display_name

# Names that are first path segments of our own routes, so no organization may take them.
RESERVED_ORGANIZATION_SLUGS = frozenset(
    {"accounts", "admin", "api", "django-admin", "identity", "static", "media", "health"}
)


def validate_organization_slug(value: str) -> None:
    if value in RESERVED_ORGANIZATION_SLUGS:
        raise ValidationError(f"“{value}” is reserved.", code="reserved")


organization_slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
    "Use 1 to 64 lowercase letters, digits and inner hyphens.",
    code="invalid_slug",
)
tenant_name_validator = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_-]{0,31}$",
    "Start with a letter; use up to 32 letters, digits, hyphens and underscores.",
    code="invalid_name",
)


class Organization(models.Model):
    """An organization; `global_id` is the `partitionGlobalId` of the public API."""

    global_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=128, validators=[validate_display_name])
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[organization_slug_validator, validate_organization_slug],
        help_text="The {org} segment of URLs.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Tenant(models.Model):
    """A tenant of an organization; its name is the {tenant} URL segment, any case."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tenants")
    global_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=32, validators=[tenant_name_validator])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                name="tenant_name_unique_in_organization",
                violation_error_message="A tenant with this name already exists.",
            )
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Administrator"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_unique_user_organization"
            )
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


@dataclass(frozen=True)
class SettingDefinition:
    """A known tenant setting: its type, default and bounds."""

    key: str
    type: type
    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None

    def clean(self, value: Any) -> Any:
        """The value as this setting's type, accepting the string forms APIs send."""
        if self.type is bool:
            if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
                return value.strip().lower() == "true"
            if isinstance(value, bool):
                return value
            raise ValidationError("Must be true or false.", code="invalid_type")
        if self.type is int:
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError("Must be a whole number.", code="invalid_type")
            if self.minimum is not None and value < self.minimum:
                raise ValidationError(f"Must be at least {self.minimum}.", code="min_value")
            if self.maximum is not None and value > self.maximum:
                raise ValidationError(f"Must be at most {self.maximum}.", code="max_value")
            return value
        raise TypeError(f"unsupported setting type {self.type!r}")


SETTING_DEFINITIONS = {
    d.key: d
    for d in (
        SettingDefinition(
            "Scalability.Heartbeat.PeriodSeconds",
            int,
            30,
            "Seconds between two heartbeats of a robot.",
            minimum=1,
            maximum=3600,
        ),
        SettingDefinition(
            "Scalability.Heartbeat.FailureThreshold",
            int,
            4,
            "Missed heartbeats after which a session is unresponsive.",
            minimum=1,
            maximum=100,
        ),
        SettingDefinition(
            "Auth.UnattendedRobot.ForceClientCredentials",
            bool,
            True,
            "Unattended robots must authenticate with client credentials.",
        ),
    )
}


class Setting(models.Model):
    """A tenant's value for one of SETTING_DEFINITIONS (services.setting_set checks the key
    and type); absent rows mean the default."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="settings")
    key = models.CharField(max_length=128)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="setting_unique_tenant_key")
        ]

    def __str__(self):
        return f"{self.key}={self.value!r}"


class AuditEventImmutableError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditEventImmutableError("Audit events cannot be updated.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditEventImmutableError("Audit events cannot be updated.")

    def delete(self):
        raise AuditEventImmutableError("Audit events cannot be deleted.")

    delete.queryset_only = True


class AuditEvent(models.Model):
    """One append-only record: who did what to which target, from where, and how it ended.

    Rows are only ever inserted (by services.audit_record). The model and its queryset refuse
    updates and deletes; on PostgreSQL a trigger refuses them in the database as well.
    """

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        APP = "app", "External application"
        ROBOT = "robot", "Robot"
        SYSTEM = "system", "System"
        ANONYMOUS = "anonymous", "Anonymous"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=64)
    target_kind = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    reason_code = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # The X-Request-Id of the request that caused the event (SPEC §10), to find its log line.
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-occurred_at"], name="audit_org_time"),
            models.Index(fields=["tenant", "-occurred_at"], name="audit_tenant_time"),
            models.Index(fields=["action"], name="audit_action"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEventImmutableError("Audit events cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEventImmutableError("Audit events cannot be deleted.")
