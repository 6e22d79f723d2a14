"""Seeds the demo organization `demo`, its tenant `DefaultTenant`, an admin user and an
external application with API credentials.

Idempotent: running it again creates nothing twice. The admin's password comes from
DEMO_ADMIN_PASSWORD, or is generated and printed once, when the user is created; the
application's secret is printed once, when the application is created, with a curl command
that uses it.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from federation.models import ExternalApp
from federation.services import external_app_create
from identity_server.scopes import RESOURCES
from tenants import services
from tenants.models import Membership, Organization, Tenant

DEMO_ORGANIZATION_SLUG = "demo"
DEMO_ORGANIZATION_NAME = "Demo Organization"
DEMO_TENANT_NAME = services.DEFAULT_TENANT_NAME
DEMO_APP_NAME = "Demo automation"


class Command(BaseCommand):
    help = "Creates (once) the demo organization, its tenant and an admin user."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DEMO_ADMIN_USERNAME", "admin"))

    @transaction.atomic
    def handle(self, *args, username, **options):
        actor = services.Actor.system("seed_demo")
        user_model = get_user_model()
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or None
        user = user_model.objects.filter(username=username).first()
        new_admin = user is None
        organization = Organization.objects.filter(slug=DEMO_ORGANIZATION_SLUG).first()
        if organization is None:
            # Created as a platform operator's organization is (create_organization): with
            # its tenant and its admin, a new account or an existing one, whose password is
            # then reset below if DEMO_ADMIN_PASSWORD asks.
            organization, generated = services.organization_create(
                slug=DEMO_ORGANIZATION_SLUG,
                name=DEMO_ORGANIZATION_NAME,
                admin_username=username,
                password=None if user else password,
                actor=actor,
            )
            if new_admin:
                user, password = user_model.objects.get(username=username), generated or password
        elif not Tenant.objects.filter(organization=organization, name=DEMO_TENANT_NAME).exists():
            services.tenant_create(organization=organization, name=DEMO_TENANT_NAME, actor=actor)

        if user is None:  # the demo organization exists, without this admin
            password = password or secrets.token_urlsafe(12)
            user = user_model.objects.create_user(username=username, password=password)
        if new_admin:
            self.stdout.write(f"Demo admin: username {username!r}, password {password!r}")
            self.stdout.write("The password is shown only now; keep it.")
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Demo admin {username!r}: password set from DEMO_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                f"Demo admin {username!r} exists; its password is unchanged "
                "(set DEMO_ADMIN_PASSWORD to reset it)."
            )
        services.membership_set(
            organization=organization, user=user, role=Membership.Role.ADMIN, actor=actor
        )
        self.stdout.write(
            f"Organization {organization.slug!r} (partitionGlobalId {organization.global_id}) "
            f"with tenant {DEMO_TENANT_NAME!r} is ready."
        )
        self._seed_app(organization, actor)

    def _seed_app(self, organization, actor):
        existing = ExternalApp.objects.filter(organization=organization, name=DEMO_APP_NAME)
        if existing.exists():
            self.stdout.write(
                f"Demo app {DEMO_APP_NAME!r} exists (client_id "
                f"{existing.get().client.client_id}); its secret was shown when it was "
                "created. `manage.py create_client` makes another."
            )
            return
        scopes = [scope for resources in RESOURCES.values() for scope in resources]
        external_app, secret = external_app_create(
            organization=organization, name=DEMO_APP_NAME, scopes=scopes, actor=actor
        )
        app = external_app.client
        self.stdout.write(
            f"Demo app {DEMO_APP_NAME!r}: client_id {app.client_id!r}, "
            f"client_secret {secret!r} (shown only now; keep it). Get a token with:"
        )
        self.stdout.write(
            f"  curl -s {settings.IDENTITY_ISSUER}/connect/token "
            f"-d grant_type=client_credentials -d client_id={app.client_id} "
            f"-d client_secret={secret}"
        )
