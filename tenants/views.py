"""The admin site's organization pages (thin: resolve through tenants.access, render)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenants.access import access_organization
from tenants.selectors import organization_list_for_user, tenant_list


@login_required
def home(request):
    organizations = organization_list_for_user(user=request.user)
    return render(request, "tenants/home.html", {"organizations": organizations})


@login_required
def organization_detail(request, org):
    organization = access_organization(user=request.user, slug=org)
    return render(
        request,
        "tenants/organization.html",
        {"organization": organization, "tenants": tenant_list(organization=organization)},
    )
