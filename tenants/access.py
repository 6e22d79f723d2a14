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
    """Filter arguments (one join) for "`user` is a member (an admin) of the organization".

    A caller holding an access token (identity_server.authentication.TokenPrincipal) is
    bound to the one organization of its token instead; what it may do there is for its
    scopes to say.
    """
    if not user.is_authenticated:
        raise Http404
    token_organization = getattr(user, "organization_global_id", None)
    if token_organization is not None:
        try:
            return {f"{prefix}global_id": uuid.UUID(token_organization)}
        except ValueError:
            raise Http404 from None
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
    # Two filters: a token's caller is matched on `global_id` too (_member_filter).
    organizations = Organization.objects.filter(**lookup).filter(
        **_member_filter("", user, admin_only)
    )
    try:
        return organizations.get()
    except Organization.DoesNotExist:
        raise Http404 from None


def _tenants_named(org_slug: str, tenant_name: str):
    return (
        Tenant.objects.select_related("organization")
        .alias(name_ci=Lower("name"))
        .filter(name_ci=tenant_name.lower(), organization__slug=org_slug.lower())
    )


def access_tenant(*, user, org_slug: str, tenant_name: str, admin_only: bool = False) -> Tenant:
    """The tenant `{org}/{tenant}` (names matched in any case), if `user` is a member of its
    organization; Http404 otherwise. A machine's token reaches its own tenant only."""
    token_tenant = getattr(user, "tenant_global_id", None)
    tenants = _tenants_named(org_slug, tenant_name).filter(
        **_member_filter("organization__", user, admin_only)
    )
    if token_tenant is not None:
        tenants = tenants.filter(global_id=token_tenant)
    try:
        return tenants.get()
    except Tenant.DoesNotExist:
        raise Http404 from None


def access_tenant_anonymously(*, org_slug: str, tenant_name: str) -> Tenant:
    """The tenant `{org}/{tenant}` for an anonymous caller, or Http404: only for what a
    tenant publishes to anyone (the robot service's GetConnectionData)."""
    try:
        return _tenants_named(org_slug, tenant_name).get()
    except Tenant.DoesNotExist:
        raise Http404 from None
