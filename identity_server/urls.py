"""Every route of SPEC §2.

`{org}` and `{tenant}` are names; `partitionGlobalId` is an organization's UUID. Under the
API prefixes, unknown routes and errors answer JSON (identity_server.errors).
"""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from federation import api as federation_api
from federation import sign_in_views as federation_sign_in
from federation import site_urls as federation_site
from identity_server import authorize, errors, recovery, signout, status
from identity_server import site_urls as identity_site
from identity_server import views as identity_views
from identity_server.authentication import BearerTokenAuthentication, SessionAuthentication
from machines import api as machines_api
from machines import robotsservice
from machines import site_urls as machines_site
from tenants import api as tenants_api
from tenants import site_urls as tenants_site
from tenants import views as tenants_views

handler400 = "identity_server.errors.bad_request"
handler403 = "identity_server.errors.permission_denied"
handler404 = "identity_server.errors.page_not_found"
handler500 = "identity_server.errors.server_error"

# The admin site: each app lists its pages in its site_urls.py (tenants/site_urls.py
# describes the layout); a new app's pages are one more module here.
SITE_PAGES = (tenants_site, machines_site, federation_site, identity_site)

token_view = identity_views.TokenView.as_view()
authorize_view = authorize.AuthorizeView.as_view()
endsession_view = signout.EndSessionView.as_view()
credentials = federation_api.FederatedCredentialViewSet


def external_client_routes(prefix: str, suffix: str) -> list:
    """External applications, their secrets and federated credentials (SPEC §2, seed 004),
    at `prefix` (the URL names end with `suffix`)."""
    base = f"{prefix}identity_/api/ExternalClient"
    app = f"{base}/<str:partition_global_id>/<str:client_id>"
    return [
        path(
            base,
            federation_api.ExternalClientCreateView.as_view(),
            name=f"external-clients-create{suffix}",
        ),
        path(
            f"{base}/GenerateSecret",
            federation_api.GenerateSecretView.as_view(),
            name=f"external-client-generate-secret{suffix}",
        ),
        path(
            f"{base}/<str:partition_global_id>",
            federation_api.ExternalClientListView.as_view(),
            name=f"external-clients{suffix}",
        ),
        path(
            f"{base}/<str:partition_global_id>/secrets/<int:secret_id>",
            federation_api.ExternalClientSecretDeleteView.as_view(),
            name=f"external-client-secret{suffix}",
        ),
        path(
            app, federation_api.ExternalClientDetailView.as_view(), name=f"external-client{suffix}"
        ),
        path(
            f"{app}/FederatedCredentials",
            credentials.as_view({"get": "list", "post": "create"}),
            name=f"federated-credentials{suffix}",
        ),
        path(
            f"{app}/FederatedCredentials/evaluate",
            credentials.as_view({"post": "evaluate"}),
            name=f"federated-credentials-evaluate{suffix}",
        ),
        path(
            f"{app}/FederatedCredentials/<str:credential_id>",
            credentials.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
            name=f"federated-credential{suffix}",
        ),
        # The application's own keys (SPEC §11).
        path(
            f"{app}/Keys",
            federation_api.AppKeyViewSet.as_view({"get": "list", "post": "create"}),
            name=f"app-keys{suffix}",
        ),
        path(
            f"{app}/Keys/<str:key_id>",
            federation_api.AppKeyViewSet.as_view({"delete": "destroy"}),
            name=f"app-key{suffix}",
        ),
    ]


urlpatterns = [
    path("identity_/connect/token", token_view, name="token"),
    path("<str:org>/identity_/connect/token", token_view, name="token-org"),
    path("<str:org>/<str:tenant>/identity_/connect/token", token_view, name="token-tenant"),
    # User sign-in (SPEC §8).
    path("identity_/connect/authorize", authorize_view, name="authorize"),
    path("<str:org>/identity_/connect/authorize", authorize_view, name="authorize-org"),
    path(
        "<str:org>/<str:tenant>/identity_/connect/authorize",
        authorize_view,
        name="authorize-tenant",
    ),
    path("identity_/connect/userinfo", authorize.UserInfoView.as_view(), name="userinfo"),
    # Sign-out (SPEC §8): RP-Initiated Logout, then back-channel logout to the clients.
    path("identity_/connect/endsession", endsession_view, name="endsession"),
    path("<str:org>/identity_/connect/endsession", endsession_view, name="endsession-org"),
    path(
        "<str:org>/<str:tenant>/identity_/connect/endsession",
        endsession_view,
        name="endsession-tenant",
    ),
    path(
        "identity_/connect/introspect", identity_views.IntrospectView.as_view(), name="introspect"
    ),
    path("identity_/connect/revocation", identity_views.RevokeView.as_view(), name="revocation"),
    path(
        "identity_/.well-known/openid-configuration",
        identity_views.OpenIDConfiguration.as_view(),
        name="openid-configuration",
    ),
    # RFC 8414 §3: the well-known part goes between the host and the issuer's path.
    path(
        ".well-known/oauth-authorization-server/identity_",
        identity_views.OpenIDConfiguration.as_view(),
        name="oauth-authorization-server",
    ),
    path(
        "identity_/.well-known/openid-configuration/jwks",
        identity_views.JWKS.as_view(),
        name="jwks",
    ),
    # Machines and their client secrets (SPEC §6, §4); `Machines(5)` is OData's key syntax.
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/Machines",
        machines_api.MachineListView.as_view(),
        name="machines",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/Machines\((?P<machine_id>\d+)\)$",
        machines_api.MachineDetailView.as_view(),
        name="machine",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/api/Machines/<int:machine_id>/ClientSecrets",
        machines_api.MachineClientSecretListView.as_view(),
        name="machine-client-secrets",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/api/Machines/<int:machine_id>/ClientSecrets/<int:secret_id>",
        machines_api.MachineClientSecretDetailView.as_view(),
        name="machine-client-secret",
    ),
    # Robots, sessions, settings, audit and search of a tenant (SPEC §6, §7).
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/Robots",
        machines_api.RobotListView.as_view(),
        name="robots",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/Robots\((?P<robot_id>\d+)\)$",
        machines_api.RobotDetailView.as_view(),
        name="robot",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/Sessions",
        machines_api.SessionListView.as_view(),
        name="sessions",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/Sessions/"
        "UiPath.Server.Configuration.OData.DeleteInactiveUnattendedSessions",
        machines_api.DeleteInactiveSessionsView.as_view(),
        name="sessions-delete-inactive",
    ),
    # Robot credential stores (SPEC §12) and their UiPath actions.
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/CredentialStores",
        machines_api.CredentialStoreListView.as_view(),
        name="credential-stores",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/CredentialStores\((?P<store_id>\d+)\)$",
        machines_api.CredentialStoreDetailView.as_view(),
        name="credential-store",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/CredentialStores/"
        "UiPath.Server.Configuration.OData.GetAvailableCredentialStoreTypes()",
        machines_api.CredentialStoreTypesView.as_view(),
        name="credential-store-types",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/CredentialStores/"
        r"UiPath\.Server\.Configuration\.OData\.GetDefaultStoreForResourceType"
        r"\(resourceType='(?P<resource_type>[^'/]{1,64})'\)$",
        machines_api.CredentialStoreDefaultView.as_view(),
        name="credential-store-default",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/CredentialStores\((?P<store_id>\d+)\)/"
        r"UiPath\.Server\.Configuration\.OData\.SetDefaultStoreForResourceType$",
        machines_api.CredentialStoreSetDefaultView.as_view(),
        name="credential-store-set-default",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/CredentialStores\((?P<store_id>\d+)\)/"
        r"UiPath\.Server\.Configuration\.OData\.TestConnection$",
        machines_api.CredentialStoreTestView.as_view(),
        name="credential-store-test",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/Settings",
        machines_api.SettingListView.as_view(),
        name="settings",
    ),
    re_path(
        r"^(?P<org>[^/]+)/(?P<tenant>[^/]+)/orchestrator_/odata/Settings\('(?P<key>[^'/]{1,128})'\)$",
        machines_api.SettingDetailView.as_view(),
        name="setting",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/odata/AuditLogs",
        machines_api.AuditLogListView.as_view(),
        name="audit-logs",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/api/Search",
        machines_api.SearchView.as_view(),
        name="search",
    ),
    path(
        "<str:org>/<str:tenant>/orchestrator_/api/robotsservice/<str:action>",
        robotsservice.robot_service,
        name="robot-service",
    ),
    # What the `uipath` CLI probes on hosts other than UiPath's cloud (SPEC §8).
    path("orchestrator_/api/status/version", status.VersionView.as_view(), name="version"),
    path(
        "<str:org>/<str:tenant>/orchestrator_/api/status/version",
        status.VersionView.as_view(),
        name="version-tenant",
    ),
    path("identity_/api/schema", SpectacularAPIView.as_view(), name="openapi-schema"),
    path(
        "identity_/api/schema/docs",
        # The split view serves its start-up script as a file: no inline script, so the
        # page works under the site's Content-Security-Policy.
        SpectacularSwaggerSplitView.as_view(url_name="openapi-schema"),
        name="openapi-docs",
    ),
    *external_client_routes("", ""),
    *external_client_routes("<str:org>/", "-org"),
    # The organization's sign-in identity providers (SPEC §9).
    path(
        "<str:org>/identity_/api/IdentityProvider",
        federation_api.IdentityProviderViewSet.as_view({"get": "list", "post": "create"}),
        name="identity-providers",
    ),
    path(
        "<str:org>/identity_/api/IdentityProvider/<str:provider_id>",
        federation_api.IdentityProviderViewSet.as_view(
            {
                "get": "retrieve",
                "put": "update",
                "patch": "partial_update",
                "delete": "destroy",
            }
        ),
        name="identity-provider",
    ),
    path("django-admin/", admin.site.urls),
    path("accounts/login/", identity_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", signout.SiteLogoutView.as_view(), name="logout"),
    # Local accounts (SPEC §9): password recovery, and the page of an invitation's link.
    path(
        "accounts/password/reset/",
        recovery.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        recovery.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/done/",
        recovery.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        recovery.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/invitation/done/",
        recovery.InvitationCompleteView.as_view(),
        name="invitation-complete",
    ),
    path(
        "accounts/invitation/<uidb64>/<token>/",
        recovery.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    # SPEC §9: signing in through the organization's own identity provider.
    path("accounts/idp/<str:provider_id>/start", federation_sign_in.idp_start, name="idp-start"),
    path(
        "accounts/idp/<str:provider_id>/callback",
        federation_sign_in.idp_callback,
        name="idp-callback",
    ),
    path("accounts/idp/<str:provider_id>/test", federation_sign_in.idp_test, name="idp-test"),
    path("", tenants_views.home, name="home"),
    # Platform operators' pages (superusers; a 404 to everyone else): beside the home page,
    # under no organization. No organization slug can be `portal_`.
    path("portal_/organizations/new/", tenants_views.organization_new, name="organization-new"),
    path(
        "<str:partition_global_id>/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo",
        # Bearer first: its challenge is the one a 401 carries (RFC 6750 §3).
        tenants_api.TenantsAndOrganizationInfo.as_view(
            authentication_classes=[BearerTokenAuthentication, SessionAuthentication]
        ),
        name="tenants-and-organization-info",
    ),
    path(
        "<str:org>/portal_/",
        include([page for module in SITE_PAGES for page in module.organization_pages]),
    ),
    path(
        "<str:org>/<str:tenant>/portal_/",
        include([page for module in SITE_PAGES for page in module.tenant_pages]),
    ),
    # Last: anything else under an API prefix is a JSON 404.
    *(re_path(pattern, errors.api_not_found) for pattern in errors.API_PATH_PATTERNS),
]
