"""The admin site's page of a member's sign-ins (SPEC §8): the user's active grants
(refresh-token families, and sign-ins without a refresh token until their access token
expires), grouped by application, each revocable, or all of one application at once.
Administrators only: a grant says where and when a user signed in.

Thin, as every page: tenants.access.site_page resolves the organization, the member is
resolved in it (a user of another organization is the same 404 as a missing one), and
identity_server.selectors / services read and revoke, with the signed-in administrator as
the actor of the audit event.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from identity_server import selectors, services
from tenants.access import site_page
from tenants.selectors import membership_get
from tenants.services import Actor
from tenants.site import confirmation_page


def _grants_url(organization, user_id) -> str:
    return reverse("org-members-grants", args=[organization.slug, user_id])


def _applications(grants) -> list[dict]:
    """The grants by application, in the order of each application's newest grant."""
    groups: dict[str, dict] = {}
    for grant in grants:
        group = groups.setdefault(
            grant.client_id, {"client_id": grant.client_id, "name": grant.client_name, "grants": []}
        )
        group["grants"].append(grant)
    return list(groups.values())


@site_page(admin_only=True)
@require_safe
def member_grants(request, access, user_id):
    membership = membership_get(organization=access.organization, user_id=user_id)
    grants = selectors.sign_in_grant_list(organization=access.organization, user=membership.user)
    return render(
        request,
        "identity/member_grants.html",
        {"member": membership.user, "applications": _applications(grants)},
    )


@site_page(admin_only=True)
@require_POST
def member_grant_revoke(request, access, user_id, grant_id):
    """One grant: its refresh tokens stop at once, its access tokens are deny-listed."""
    membership = membership_get(organization=access.organization, user_id=user_id)
    grant = selectors.sign_in_grant_get(organization=access.organization, grant_id=grant_id)
    if grant.user_id != membership.user_id:
        raise Http404
    back = _grants_url(access.organization, user_id)
    page = confirmation_page(
        request,
        question=f"Revoke this sign-in of “{membership.user.get_username()}” to "
        f"“{grant.client_name}”?",
        detail="The application's refresh token and access tokens from it stop working now.",
        confirm_label="Revoke",
        cancel_url=back,
    )
    if page is not None:
        return page
    services.sign_in_grant_revoke(grant=grant, actor=Actor.from_request(request))
    messages.success(request, f"The sign-in to “{grant.client_name}” was revoked.")
    return redirect(back)


@site_page(admin_only=True)
@require_POST
def member_grants_revoke(request, access, user_id):
    """Every active grant of the member to one application (`client_id` in the form)."""
    membership = membership_get(organization=access.organization, user_id=user_id)
    client_id = request.POST.get("client_id", "")
    grants = selectors.sign_in_grant_list(
        organization=access.organization, user=membership.user, client_id=client_id
    )
    first = grants.first()
    if first is None:
        raise Http404
    back = _grants_url(access.organization, user_id)
    page = confirmation_page(
        request,
        question=f"Revoke every sign-in of “{membership.user.get_username()}” to "
        f"“{first.client_name}”?",
        detail="The application's refresh tokens and access tokens from them stop working now.",
        confirm_label="Revoke all",
        cancel_url=back,
    )
    if page is not None:
        return page
    count = services.sign_in_grants_revoke(
        organization=access.organization,
        user=membership.user,
        client_id=client_id,
        actor=Actor.from_request(request),
    )
    messages.success(request, f"{count} sign-in(s) to “{first.client_name}” revoked.")
    return redirect(back)
