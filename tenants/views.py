"""The admin site's pages of the tenants app (thin: tenants.access.site_page resolves the
organization or tenant for the signed-in user; a selector reads, a service writes)."""

import json
from datetime import UTC

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_POST

from tenants import mail, services
from tenants.access import site_page
from tenants.forms import (
    AuditFilterForm,
    MemberAddForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationForm,
    TenantNameForm,
    TenantSettingsForm,
)
from tenants.models import Membership
from tenants.search import MAX_LIMIT, search_types, tenant_search
from tenants.selectors import (
    audit_action_list,
    audit_event_get,
    audit_event_list,
    membership_get,
    membership_list,
    organization_list_for_user,
    setting_values,
    tenant_get,
    tenant_list,
)
from tenants.services import DEFAULT_TENANT_NAME, Actor
from tenants.site import (
    confirmation_page,
    form_data,
    paginate,
    redirect_with_secret_once,
    render_secret_once,
    secret_once_take,
    stream_csv,
    submit_form,
)

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


@login_required
def organization_new(request):
    """Platform operators (superusers) create an organization, with its tenant and first
    administrator, as `manage.py create_organization` does. To everyone else the page is
    missing: the same 404 as any address that is not a page. The POST answers a 303 back
    here (Post/Redirect/Get), which shows a new administrator's password once: the
    operator is not a member of the new organization, so its own pages would be a 404."""
    if not request.user.is_superuser:
        raise Http404
    form = OrganizationCreateForm(form_data(request))
    created = submit_form(
        request,
        form,
        lambda data: services.organization_create(**data, actor=Actor.from_request(request)),
    )
    page_url = reverse("organization-new")
    if created is not None:
        organization, password = created
        # The account's name as stored (Django normalises it, NFKC), which is what signs in.
        admin = get_user_model().normalize_username(form.cleaned_data["admin_username"].strip())
        messages.success(
            request,
            f"Organization “{organization.name}” created: URL name {organization.slug}, "
            f"partitionGlobalId {organization.global_id}, tenant {DEFAULT_TENANT_NAME}; "
            f"“{admin}” is its administrator.",
        )
        if password is None:
            return HttpResponseRedirect(page_url, status=303)
        return redirect_with_secret_once(request, page_url, password, about=admin)
    context = {"form": form}
    if request.method == "GET" and (kept := secret_once_take(request)) is not None:
        context.update(new_account=kept.about, password=kept.secret)
        return render_secret_once(request, "tenants/organization_new.html", context)
    return render(request, "tenants/organization_new.html", context)


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


# --- the organization: tenants, members, settings ----------------------------------------


@site_page
def tenants_page(request, access):
    """The organization's tenants; administrators create them here."""
    organization = access.organization
    form = TenantNameForm(form_data(request))
    tenant = submit_form(
        request,
        form,
        lambda data: services.tenant_create(
            organization=organization, name=data["name"], actor=Actor.from_request(request)
        ),
        other_field="name",
    )
    if tenant is not None:
        messages.success(request, f"Tenant “{tenant.name}” created.")
        return redirect("org-tenants", organization.slug)
    return render(
        request,
        "tenants/tenants.html",
        {"tenants": tenant_list(organization=organization), "form": form},
    )


@site_page(admin_only=True)
def tenant_rename_page(request, access, tenant_id):
    organization = access.organization
    tenant = tenant_get(organization=organization, tenant_id=tenant_id)
    form = TenantNameForm(form_data(request), initial={"name": tenant.name})
    renamed = submit_form(
        request,
        form,
        lambda data: services.tenant_rename(
            tenant=tenant, name=data["name"], actor=Actor.from_request(request)
        ),
        other_field="name",
    )
    if renamed is not None:
        messages.success(request, f"Tenant “{tenant.name}” renamed to “{renamed.name}”.")
        return redirect("org-tenants", organization.slug)
    return render(request, "tenants/tenant_rename.html", {"tenant": tenant, "form": form})


@site_page
def members_page(request, access):
    """The organization's members and their roles; administrators add members here (a new
    account is invited by email when the server sends mail; otherwise its password is
    shown once, after the redirect: tenants.site's Post/Redirect/Get)."""
    organization = access.organization
    form = MemberAddForm(form_data(request))
    added = submit_form(
        request,
        form,
        lambda data: services.member_add(
            organization=organization,
            **data,
            site_url=request.build_absolute_uri("/"),
            actor=Actor.from_request(request),
        ),
    )
    if added is not None:
        membership, password, invited = added
        username = membership.user.get_username()
        if invited:
            messages.success(
                request, f"“{username}” added; an invitation to set a password was sent."
            )
        else:
            messages.success(request, f"“{username}” added.")
        page_url = reverse("org-members", args=[organization.slug])
        if password is None:
            return redirect(page_url)
        return redirect_with_secret_once(request, page_url, password, about=username)
    memberships = list(membership_list(organization=organization))
    for membership in memberships:
        membership.invitation_pending = services.invitation_pending(membership.user)
    context = {
        "memberships": memberships,
        "form": form,
        "role_choices": Membership.Role.choices,
        "mail_configured": mail.mail_configured(),
    }
    if request.method == "GET" and (kept := secret_once_take(request)) is not None:
        context.update(new_account=kept.about, password=kept.secret)
        return render_secret_once(request, "tenants/members.html", context)
    return render(request, "tenants/members.html", context)


@site_page
@require_POST
def member_role(request, access, user_id):
    organization = access.organization
    membership = membership_get(organization=organization, user_id=user_id)
    form = MemberRoleForm(request.POST)
    username = membership.user.get_username()
    if not form.is_valid():
        messages.error(request, "Choose Administrator or Member.")
    else:
        try:
            services.membership_set(
                organization=organization,
                user=membership.user,
                role=form.cleaned_data["role"],
                actor=Actor.from_request(request),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            role = Membership.Role(form.cleaned_data["role"]).label
            messages.success(request, f"“{username}” is now {role.lower()}.")
    # Members read the members page too, so an admin who demoted themselves lands there.
    return redirect("org-members", organization.slug)


@site_page
@require_POST
def member_invite(request, access, user_id):
    """A new invitation for a member still waiting for their first password (the last one
    expired or was lost); the earlier links keep working until they expire."""
    organization = access.organization
    membership = membership_get(organization=organization, user_id=user_id)
    username = membership.user.get_username()
    try:
        services.invitation_send(
            user=membership.user,
            organization=organization,
            site_url=request.build_absolute_uri("/"),
            actor=Actor.from_request(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"A new invitation was sent to “{username}”.")
    return redirect("org-members", organization.slug)


@site_page
@require_POST
def member_remove(request, access, user_id):
    organization = access.organization
    membership = membership_get(organization=organization, user_id=user_id)
    username = membership.user.get_username()
    members_url = reverse("org-members", args=[organization.slug])
    confirm = confirmation_page(
        request,
        question=f"Remove “{username}” from {organization.name}?",
        detail="They lose access to the organization's pages; their account stays.",
        confirm_label="Remove",
        cancel_url=members_url,
    )
    if confirm is not None:
        return confirm
    try:
        services.membership_remove(
            organization=organization, user=membership.user, actor=Actor.from_request(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(members_url)
    messages.success(request, f"“{username}” removed from {organization.name}.")
    if membership.user == request.user:
        return redirect("home")
    return redirect(members_url)


@site_page
def organization_settings(request, access):
    organization = access.organization
    form = OrganizationForm(form_data(request), initial={"name": organization.name})
    saved = submit_form(
        request,
        form,
        lambda data: services.organization_rename(
            organization=organization, name=data["name"], actor=Actor.from_request(request)
        ),
        other_field="name",
    )
    if saved is not None:
        messages.success(request, "Organization settings saved.")
        return redirect("org-settings", organization.slug)
    return render(request, "tenants/organization_settings.html", {"form": form})


# --- a tenant's settings -----------------------------------------------------------------


@site_page
def tenant_settings(request, access):
    """Every known setting of the tenant, typed; the values are checked by
    services.setting_set, as for the OData Settings PUT."""
    tenant = access.tenant
    current = setting_values(tenant=tenant)
    form = TenantSettingsForm(form_data(request), initial=current)
    changed = submit_form(
        request,
        form,
        lambda data: services.settings_update(
            tenant=tenant, values=data, actor=Actor.from_request(request)
        ),
    )
    if changed is not None:
        messages.success(request, "Settings saved." if changed else "Nothing changed.")
        return redirect("tenant-settings", access.organization.slug, tenant.name)
    return render(request, "tenants/tenant_settings.html", {"form": form, "current": current})


# --- the audit log -----------------------------------------------------------------------

AUDIT_CSV_HEADER = [
    "Time (UTC)",
    "Tenant",
    "Actor kind",
    "Actor id",
    "Actor",
    "Action",
    "Target kind",
    "Target id",
    "Target",
    "Outcome",
    "Reason code",
    "Client address",
    "User agent",
    "Request id",
    "Details",
]


def _audit_filtered(request, access):
    """The filter form of the audit pages and the events it selects (None while the form
    is invalid). The organization's log has a tenant filter; a tenant's is that tenant's."""
    tenants = None if access.tenant else list(tenant_list(organization=access.organization))
    form = AuditFilterForm(request.GET or None, tenants=tenants)
    if form.is_bound and not form.is_valid():
        return form, None
    condition = form.condition() if form.is_bound else None
    events = audit_event_list(
        organization=access.organization, tenant=access.tenant, condition=condition
    )
    return form, events


@site_page
def audit_log(request, access):
    form, events = _audit_filtered(request, access)
    return render(
        request,
        "tenants/audit_log.html",
        {
            "form": form,
            "page": paginate(request, events) if events is not None else None,
            "actions": audit_action_list(organization=access.organization, tenant=access.tenant),
        },
    )


@site_page
def audit_detail(request, access, event_id):
    event = audit_event_get(
        organization=access.organization, tenant=access.tenant, event_id=event_id
    )
    return render(
        request,
        "tenants/audit_detail.html",
        {"event": event, "details": json.dumps(event.details, indent=2, sort_keys=True)},
    )


@site_page
def audit_export(request, access):
    """The filtered events as CSV, newest first, streamed."""
    _form, events = _audit_filtered(request, access)
    if events is None:  # the list page shows what is wrong with the filters
        args = [access.organization.slug] + ([access.tenant.name] if access.tenant else [])
        name = "tenant-audit" if access.tenant else "org-audit"
        return redirect(f"{reverse(name, args=args)}?{request.GET.urlencode()}")
    scope = access.organization.slug + (f"-{access.tenant.name}" if access.tenant else "")
    rows = (
        [
            event.occurred_at.astimezone(UTC).isoformat(),
            event.tenant.name if event.tenant else "",
            event.actor_kind,
            event.actor_id,
            event.actor_name,
            event.action,
            event.target_kind,
            event.target_id,
            event.target_name,
            event.outcome,
            event.reason_code,
            event.client_address,
            event.user_agent,
            event.request_id,
            json.dumps(event.details, sort_keys=True) if event.details else "",
        ]
        for event in events.iterator(chunk_size=500)
    )
    return stream_csv(filename=f"audit-{scope}.csv", header=AUDIT_CSV_HEADER, rows=rows)
