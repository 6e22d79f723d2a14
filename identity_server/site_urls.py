"""The admin site's pages of the identity core (tenants/site_urls.py describes the layout):
a member's sign-ins to applications, under the members page."""

from django.urls import path

from identity_server import grants_site

organization_pages = [
    path("members/<int:user_id>/grants/", grants_site.member_grants, name="org-members-grants"),
    path(
        "members/<int:user_id>/grants/revoke/",
        grants_site.member_grants_revoke,
        name="org-members-grants-revoke",
    ),
    path(
        "members/<int:user_id>/grants/<str:grant_id>/revoke/",
        grants_site.member_grant_revoke,
        name="org-members-grant-revoke",
    ),
]

tenant_pages: list = []
