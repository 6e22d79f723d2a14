"""The admin site's pages of the tenants app (thin: tenants.access.site_page resolves the
organization or tenant for the signed-in user; a selector reads, a service writes)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.module_loading import import_string

from tenants.access import site_page
from tenants.search import MAX_LIMIT, search_types, tenant_search
from tenants.selectors import organization_list_for_user, tenant_list

# How each search result type is named on the search page.
SEARCH_TYPE_LABELS = {
    "machine": "Machine",
    "robot": "Robot",
    "external_app": "External application",
    "federated_credential": "Federated credential",
}


@login_required
def home(request):
    organizations = organization_list_for_user(user=request.user)
    return render(request, "tenants/home.html", {"organizations": organizations})


@site_page
def organization_detail(request, access):
    return render(
        request,
        "tenants/organization.html",
        {
            "organization": access.organization,
            "tenants": tenant_list(organization=access.organization),
        },
    )


@site_page
def tenant_home(request, access):
    return render(request, "tenants/tenant_home.html", {"tenant": access.tenant})


@site_page
def tenant_search_page(request, access):
    """The tenant's machines, robots, applications and credentials whose name contains
    `?q=`, of one `?type=` or all. Members read everything in their organization, so a
    signed-in member searches without the scopes a token would need (`scopes=None`)."""
    text = request.GET.get("q", "").strip()
    chosen = request.GET.get("type", "")
    types = [chosen] if chosen in search_types() else None
    results, error = [], ""
    if text:
        try:
            results = tenant_search(tenant=access.tenant, text=text, types=types, limit=MAX_LIMIT)
        except ValidationError as problem:
            error = " ".join(problem.messages)
    rows = [
        {
            "result": result,
            "label": SEARCH_TYPE_LABELS.get(result.type, result.type),
            "url": import_string(settings.TENANT_SEARCH_PAGES[result.type])(
                organization=access.organization, tenant=access.tenant, result=result
            ),
        }
        for result in results
    ]
    return render(
        request,
        "tenants/search.html",
        {
            "search_text": text,
            "chosen_type": chosen if types else "",
            "type_choices": [(t, SEARCH_TYPE_LABELS.get(t, t)) for t in search_types()],
            "rows": rows,
            "error": error,
            "limit": MAX_LIMIT,
        },
    )
