"""Reads of the tenants app, each scoped to an organization or to a user's memberships."""

from typing import Any

from django.db.models import F, QuerySet

from tenants.models import SETTING_DEFINITIONS, Organization, Setting, Tenant


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
