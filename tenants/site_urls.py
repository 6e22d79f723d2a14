"""The admin site's pages of the tenants app.

How the site's URLs are laid out (every app's site_urls.py follows it; identity_server/
urls.py mounts them all):

- organization pages: `/{org}/portal_/<page>/`, listed in `organization_pages`, named
  `org-<page>` (`org-members`, `org-audit`); the organization's landing page is
  `/{org}/portal_/`, named `organization`;
- tenant pages: `/{org}/{tenant}/portal_/<page>/`, listed in `tenant_pages`, named
  `tenant-<page>` (`tenant-settings`, `tenant-search`); the tenant's landing page is
  `/{org}/{tenant}/portal_/`, named `tenant-home`;
- a page below another is named after it: `tenant-machines-detail` under `tenant-machines`
  (the navigation marks `tenant-machines` current on both).

`{org}` is the organization's slug and `{tenant}` the tenant's name (any case). Every view
is wrapped in tenants.access.site_page, which resolves both for the signed-in user. Pages
are HTML (errors too); only `/{partitionGlobalId}/portal_/api/…` answers JSON.
"""

from django.urls import path

from tenants import views

organization_pages = [
    path("", views.organization_detail, name="organization"),
    path("tenants/", views.tenants_page, name="org-tenants"),
    path("tenants/<int:tenant_id>/rename/", views.tenant_rename_page, name="org-tenants-rename"),
    path("members/", views.members_page, name="org-members"),
    path("members/<int:user_id>/role/", views.member_role, name="org-members-role"),
    path("members/<int:user_id>/remove/", views.member_remove, name="org-members-remove"),
    path("members/<int:user_id>/invite/", views.member_invite, name="org-members-invite"),
    path("settings/", views.organization_settings, name="org-settings"),
    path("audit/", views.audit_log, name="org-audit"),
    path("audit/<int:event_id>/", views.audit_detail, name="org-audit-detail"),
    path("audit/export.csv", views.audit_export, name="org-audit-export"),
]

tenant_pages = [
    path("", views.tenant_home, name="tenant-home"),
    path("settings/", views.tenant_settings, name="tenant-settings"),
    path("audit/", views.audit_log, name="tenant-audit"),
    path("audit/<int:event_id>/", views.audit_detail, name="tenant-audit-detail"),
    path("audit/export.csv", views.audit_export, name="tenant-audit-export"),
    path("search/", views.tenant_search_page, name="tenant-search"),
]
