"""Reads of the tenants app, each scoped to an organization or to a user's memberships."""

from typing import Any

from django.db.models import F, Q, QuerySet
from django.http import Http404

from tenants.models import (
    SETTING_DEFINITIONS,
    AuditEvent,
    Membership,
    Organization,
    Setting,
    Tenant,
)


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    """The user's organizations, each annotated with `role`, the user's role in it."""
    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(role=F("memberships__role"))
        .order_by("name")
    )


def tenant_list(*, organization: Organization) -> QuerySet[Tenant]:
    return Tenant.objects.filter(organization=organization).order_by("name")


def setting_values(*, tenant: Tenant) -> dict[str, Any]:
    """Every known setting of the tenant: its stored value, or the default."""
    stored = dict(Setting.objects.filter(tenant=tenant).values_list("key", "value"))
    return {key: stored.get(key, d.default) for key, d in SETTING_DEFINITIONS.items()}


def setting_get(*, tenant: Tenant, key: str) -> Any:
    stored = Setting.objects.filter(tenant=tenant, key=key).values_list("value", flat=True)
    return next(iter(stored), SETTING_DEFINITIONS[key].default)


def tenant_get(*, organization: Organization, tenant_id: int) -> Tenant:
    tenant = Tenant.objects.filter(organization=organization, pk=tenant_id).first()
    if tenant is None:
        raise Http404
    return tenant


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__username")
    )


def membership_get(*, organization: Organization, user_id: int) -> Membership:
    membership = membership_list(organization=organization).filter(user_id=user_id).first()
    if membership is None:
        raise Http404
    return membership


def audit_event_list(
    *, organization: Organization, tenant: Tenant | None = None, condition: Q | None = None
) -> QuerySet[AuditEvent]:
    """The organization's audit events (only the tenant's, with `tenant`) that match
    `condition`, newest first. The one read of the audit log: the OData AuditLogs API
    passes its `$filter`, the admin site its filter form (tenants.forms.AuditFilterForm)."""
    events = AuditEvent.objects.filter(organization=organization)
    if tenant is not None:
        events = events.filter(tenant=tenant)
    if condition is not None:
        events = events.filter(condition)
    return events.select_related("tenant").order_by("-occurred_at", "-id")


def audit_event_get(
    *, organization: Organization, tenant: Tenant | None = None, event_id: int
) -> AuditEvent:
    event = audit_event_list(organization=organization, tenant=tenant).filter(pk=event_id).first()
    if event is None:
        raise Http404
    return event


def audit_action_list(*, organization: Organization, tenant: Tenant | None = None) -> list[str]:
    """The actions that occur in the organization's (tenant's) audit log, for suggestions."""
    events = audit_event_list(organization=organization, tenant=tenant)
    return list(events.order_by("action").values_list("action", flat=True).distinct())
