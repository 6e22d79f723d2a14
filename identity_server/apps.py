from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class IdentityServerConfig(AppConfig):
    default = True
    name = "identity_server"
    verbose_name = "Identity server"

    def ready(self):
        from identity_server import checks  # noqa: F401  (registers the system checks)


class SuperuserAdminConfig(admin_apps.AdminConfig):
    """Django's admin at /django-admin/, for platform operators (superusers) only."""

    default = False
    default_site = "identity_server.admin.SuperuserAdminSite"
