from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class IdentityServerConfig(AppConfig):
    default = True
    name = "identity_server"
    verbose_name = "Identity server"

    def ready(self):
        from django.contrib import admin

        from identity_server import (
            checks,  # noqa: F401  (registers the system checks)
            openapi,  # noqa: F401  (registers the token scheme)
        )
        from identity_server.admin import register_identity_core

        register_identity_core(admin.site)


class SuperuserAdminConfig(admin_apps.AdminConfig):
    """Django's admin at /django-admin/, for platform operators (superusers) only."""

    default = False
    default_site = "identity_server.admin.SuperuserAdminSite"
