"""Access helpers: the one place that turns an organization or tenant named in a request
into a row the caller may see.

Each resolves the object and the caller's membership in a single query and raises the same
Http404 whether the object does not exist, is malformed, or belongs to an organization the
caller is not a member of, so responses never reveal what exists elsewhere.

The admin site's pages go through `site_page` (a view decorator), which applies the site's
one rule of roles:

- not signed in: sent to the sign-in page, whether or not the organization exists;
- signed in but not a member of the organization (or it, or the tenant, does not exist):
  the same 404 page, byte for byte;
- a member: reads every page of the organization and its tenants, but every write (any
  method other than GET, HEAD, OPTIONS) is refused with 403, and templates hide the write
  controls (`access.can_write`);
- an administrator: reads and writes.
"""

import functools
import uuid
from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import F
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


# --- the admin site ---------------------------------------------------------------------

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SiteAccess:
    """What one page of the admin site acts on, resolved for the signed-in user: the
    organization, the tenant (None on organization pages) and the user's role there."""

    organization: Organization
    tenant: Tenant | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Membership.Role.ADMIN

    @property
    def can_write(self) -> bool:
        """Whether write controls are shown (and writes accepted): administrators only."""
        return self.is_admin


def access_site(*, user, org_slug: str, tenant_name: str | None = None) -> SiteAccess:
    """The organization `{org}` (and tenant `{tenant}`, names in any case) with the user's
    role, in one query, if `user` is a member; Http404 otherwise, the same for a missing
    object and for another organization's."""
    if not user.is_authenticated or getattr(user, "organization_global_id", None) is not None:
        raise Http404  # the site is for signed-in people, never for a token's caller
    if tenant_name is None:
        row = (
            Membership.objects.select_related("organization")
            .filter(user=user, organization__slug=org_slug.lower())
            .first()
        )
        if row is None:
            raise Http404
        return SiteAccess(row.organization, None, row.role)
    tenant = (
        _tenants_named(org_slug, tenant_name)
        .filter(organization__memberships__user=user)
        .annotate(role=F("organization__memberships__role"))
        .first()
    )
    if tenant is None:
        raise Http404
    return SiteAccess(tenant.organization, tenant, tenant.role)


def site_page(view=None, *, admin_only: bool = False):
    """Decorator of an admin site view routed under `/{org}/portal_/` or
    `/{org}/{tenant}/portal_/` (tenants/site_urls.py). The view receives `access`
    (SiteAccess) instead of the `org` and `tenant` URL arguments; templates get the same
    object as `access` (request.site_access, read by tenants.context_processors.site).

    Anonymous visitors are sent to sign in; non-members get Http404; members who are not
    administrators get 403 for every write, and for every method when `admin_only`.
    """
    if view is None:
        return functools.partial(site_page, admin_only=admin_only)

    @functools.wraps(view)
    def wrapper(request, *args, org, tenant=None, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        access = access_site(user=request.user, org_slug=org, tenant_name=tenant)
        if not access.is_admin and (admin_only or request.method not in SAFE_METHODS):
            raise PermissionDenied("Only the organization's administrators may do this.")
        request.site_access = access
        return view(request, *args, access=access, **kwargs)

    return wrapper
