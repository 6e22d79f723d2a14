"""The admin site's layout context: `access` (tenants.access.SiteAccess) on the pages of an
organization or tenant, and the entries of the organization and tenant switchers."""

from django.urls import NoReverseMatch, reverse

from tenants.selectors import organization_list_for_user, tenant_list


def _same_page_in(request, organization, tenant) -> str:
    """The current page in another tenant when it names nothing inside the tenant (a list,
    the settings), else that tenant's overview."""
    match = request.resolver_match
    if match and set(match.kwargs) == {"org", "tenant"}:
        try:
            return reverse(match.url_name, args=[organization.slug, tenant.name])
        except NoReverseMatch:
            pass
    return reverse("tenant-home", args=[organization.slug, tenant.name])


def site(request) -> dict:
    access = getattr(request, "site_access", None)
    if access is None:
        return {}
    organization = access.organization
    return {
        "access": access,
        "switcher_organizations": organization_list_for_user(user=request.user),
        "switcher_tenants": [
            (tenant, _same_page_in(request, organization, tenant))
            for tenant in tenant_list(organization=organization)
        ],
    }
