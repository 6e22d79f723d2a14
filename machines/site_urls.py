"""The admin site's pages of the machines app (machines, robots, sessions, credential
stores): see tenants/site_urls.py for the layout and naming of the site's URLs."""

from django.urls import path, reverse

from machines import views

organization_pages: list = []

tenant_pages = [
    path("machines/", views.machine_list, name="tenant-machines"),
    path("machines/new/", views.machine_create, name="tenant-machines-create"),
    path("machines/<int:machine_id>/", views.machine_detail, name="tenant-machines-detail"),
    path("machines/<int:machine_id>/edit/", views.machine_edit, name="tenant-machines-edit"),
    path("machines/<int:machine_id>/delete/", views.machine_delete, name="tenant-machines-delete"),
    path(
        "machines/<int:machine_id>/secrets/",
        views.machine_secret_create,
        name="tenant-machines-secret-create",
    ),
    path(
        "machines/<int:machine_id>/secrets/<int:secret_id>/delete/",
        views.machine_secret_delete,
        name="tenant-machines-secret-delete",
    ),
    path("robots/", views.robot_list, name="tenant-robots"),
    path("robots/new/", views.robot_create, name="tenant-robots-create"),
    path("robots/<int:robot_id>/", views.robot_detail, name="tenant-robots-detail"),
    path("robots/<int:robot_id>/edit/", views.robot_edit, name="tenant-robots-edit"),
    path("robots/<int:robot_id>/delete/", views.robot_delete, name="tenant-robots-delete"),
    path("sessions/", views.session_list, name="tenant-sessions"),
    path("credential-stores/", views.credential_store_list, name="tenant-credential-stores"),
    path(
        "credential-stores/new/",
        views.credential_store_create,
        name="tenant-credential-stores-create",
    ),
    path(
        "credential-stores/<int:store_id>/",
        views.credential_store_detail,
        name="tenant-credential-stores-detail",
    ),
    path(
        "credential-stores/<int:store_id>/edit/",
        views.credential_store_edit,
        name="tenant-credential-stores-edit",
    ),
    path(
        "credential-stores/<int:store_id>/test/",
        views.credential_store_test,
        name="tenant-credential-stores-test",
    ),
    path(
        "credential-stores/<int:store_id>/default/",
        views.credential_store_set_default,
        name="tenant-credential-stores-default",
    ),
    path(
        "credential-stores/<int:store_id>/delete/",
        views.credential_store_delete,
        name="tenant-credential-stores-delete",
    ),
]

# The page of each search result type of this app.
_SEARCH_RESULT_PAGES = {"machine": "tenant-machines-detail", "robot": "tenant-robots-detail"}


def search_result_url(*, organization, tenant, result) -> str | None:
    """The page of a search result of this app's types (settings.TENANT_SEARCH_PAGES)."""
    name = _SEARCH_RESULT_PAGES.get(result.type)
    if name is None:
        return None
    return reverse(name, args=[organization.slug, tenant.name, result.id])
