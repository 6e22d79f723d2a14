"""The admin site's pages of the federation app (external applications, their secrets and
federated credentials; the organization's sign-in identity providers): see
tenants/site_urls.py for the layout and naming of the site's URLs. Applications and
identity providers belong to the organization, so their pages are organization pages,
`/{org}/portal_/apps/…` (an application named by its client ID) and
`/{org}/portal_/identity-providers/…` (a provider by its id)."""

from django.http import Http404
from django.urls import path, reverse

from federation import selectors, views

_APP = "apps/<str:client_id>/"
_CREDENTIAL = f"{_APP}credentials/<str:credential_id>/"
_PROVIDER = "identity-providers/<str:provider_id>/"

organization_pages = [
    path("apps/", views.app_list, name="org-apps"),
    path("apps/new/", views.app_create, name="org-apps-create"),
    path(_APP, views.app_detail, name="org-apps-detail"),
    path(f"{_APP}edit/", views.app_edit, name="org-apps-edit"),
    path(f"{_APP}delete/", views.app_delete, name="org-apps-delete"),
    path(f"{_APP}secrets/", views.app_secret_create, name="org-apps-secret-create"),
    path(
        f"{_APP}secrets/<int:secret_id>/delete/",
        views.app_secret_delete,
        name="org-apps-secret-delete",
    ),
    path(f"{_APP}credentials/", views.credential_list, name="org-apps-credentials"),
    path(f"{_APP}credentials/new/", views.credential_create, name="org-apps-credential-create"),
    path(
        f"{_APP}credentials/evaluate/",
        views.credential_evaluate,
        name="org-apps-credentials-evaluate",
    ),
    path(f"{_CREDENTIAL}edit/", views.credential_edit, name="org-apps-credential-edit"),
    path(f"{_CREDENTIAL}delete/", views.credential_delete, name="org-apps-credential-delete"),
    path(f"{_APP}keys/", views.app_key_create, name="org-apps-key-create"),
    path(f"{_APP}keys/<str:key_id>/delete/", views.app_key_delete, name="org-apps-key-delete"),
    # The organization's sign-in identity providers (SPEC §9), administrators only.
    path("identity-providers/", views.identity_provider_list, name="org-identity-providers"),
    path(
        "identity-providers/new/",
        views.identity_provider_create,
        name="org-identity-providers-create",
    ),
    path(
        f"{_PROVIDER}",
        views.identity_provider_detail,
        name="org-identity-providers-detail",
    ),
    path(f"{_PROVIDER}edit/", views.identity_provider_edit, name="org-identity-providers-edit"),
    path(
        f"{_PROVIDER}delete/",
        views.identity_provider_delete,
        name="org-identity-providers-delete",
    ),
]

tenant_pages: list = []


def search_result_url(*, organization, tenant, result) -> str | None:
    """The page of a search result of this app's types (settings.TENANT_SEARCH_PAGES): an
    application's page, or the credentials page of a credential's application."""
    if result.type == "external_app":
        return reverse("org-apps-detail", args=[organization.slug, result.id])
    try:
        credential = selectors.federated_credential_find(
            organization=organization, credential_id=result.id
        )
    except Http404:
        return None
    url = reverse("org-apps-credentials", args=[organization.slug, credential.app.client.client_id])
    return f"{url}#credential-{credential.pk}"
