"""Django's admin site, restricted to superusers: platform operators, not org admins."""

from django.contrib import admin


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Identity server: platform administration"
    site_title = "Identity server"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_superuser
