"""Django's admin site, restricted to superusers: platform operators, not org admins."""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from identity_server.models import ClientSecret, OAuthClient


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Identity server: platform administration"
    site_title = "Identity server"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_superuser

    def login(self, request, extra_context=None):
        """The site's one sign-in page instead of the admin's own form, which would let a
        password past the sign-in throttle and past an organization's "sign-in through
        this provider only" (SPEC §9); then back to the admin."""
        return redirect_to_login(request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"))


# --- what platform operators see of the identity core ----------------------------------
# Every change to a client goes through identity_server.services, which audits it, drops
# cached copies and deny-lists tokens; the admin therefore only shows clients. DOT's token,
# grant and ID-token tables hold nothing here (tokens are self-contained JWTs).


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClientSecretInline(ReadOnly, admin.TabularInline):
    model = ClientSecret
    extra = 0
    fields = ["prefix", "description", "created_at", "expires_at", "last_used_at"]
    readonly_fields = fields


class OAuthClientAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "client_id", "kind", "organization", "tenant", "client_type"]
    list_filter = ["kind", "client_type"]
    search_fields = ["name", "client_id"]
    fields = ["name", "client_id", "kind", "organization", "tenant", "client_type", "scopes"]
    inlines = [ClientSecretInline]


def register_identity_core(site: admin.AdminSite) -> None:
    """Called from IdentityServerConfig.ready(), after every app's admin module (DOT's
    included) has registered: replaces DOT's editable Application admin and drops its
    token tables."""
    for model in (get_access_token_model(), get_grant_model(), get_id_token_model(),
                  get_refresh_token_model(), OAuthClient):  # fmt: skip
        if site.is_registered(model):
            site.unregister(model)
    site.register(OAuthClient, OAuthClientAdmin)
