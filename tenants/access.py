"""Access helpers: the one place that turns an organization or tenant named in a request
into a row the caller may see.

Each resolves the object and the caller's membership in a single query and raises the same
Http404 whether the object does not exist, is malformed, or belongs to an organization the
caller is not a member of, so responses never reveal what exists elsewhere.
"""

import uuid

from django.db.models.functions import Lower
from django.http import Http404

from tenants.models import Membership, Organization, Tenant


def _member_filter(prefix: str, user, admin_only: bool) -> dict:
    """Filter arguments (one join) for "`user` is a member (an admin) of the organization"."""
    if not user.is_authenticated:
        raise Http404
    conditions = {f"{prefix}memberships__user": user}
    if admin_only:
        conditions[f"{prefix}memberships__role"] = Membership.Role.ADMIN
    return conditions


def access_organization(
    *, user, global_id: str | None = None, slug: str | None = None, admin_only: bool = False
) -> Organization:
    """The organization with this `partitionGlobalId` or slug, if `user` is a member
    (an admin, with `admin_only`); Http404 otherwise."""
    lookup = {}
    if global_id is not None:
        try:
            lookup["global_id"] = uuid.UUID(str(global_id))
        except ValueError:
            raise Http404 from None
    if slug is not None:
        lookup["slug"] = slug.lower()
    if not lookup:
        raise ValueError("access_organization needs global_id or slug")
    organizations = Organization.objects.filter(**lookup, **_member_filter("", user, admin_only))
    try:
        return organizations.get()
    except Organization.DoesNotExist:
        raise Http404 from None


def access_tenant(*, user, org_slug: str, tenant_name: str, admin_only: bool = False) -> Tenant:
    """The tenant `{org}/{tenant}` (names matched in any case), if `user` is a member of its
    organization; Http404 otherwise."""
    tenants = (
        Tenant.objects.select_related("organization")
        .alias(name_ci=Lower("name"))
        .filter(
            name_ci=tenant_name.lower(),
            organization__slug=org_slug.lower(),
            **_member_filter("organization__", user, admin_only),
        )
    )
    try:
        return tenants.get()
    except Tenant.DoesNotExist:
        raise Http404 from None
