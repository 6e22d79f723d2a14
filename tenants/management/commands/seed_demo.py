"""Seeds the demo organization `demo`, its tenant `DefaultTenant` and an admin user.

Idempotent: running it again creates nothing twice. The admin's password comes from
DEMO_ADMIN_PASSWORD, or is generated and printed once, when the user is created.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants import services
from tenants.models import Membership, Organization, Tenant

DEMO_ORGANIZATION_SLUG = "demo"
DEMO_ORGANIZATION_NAME = "Demo Organization"
DEMO_TENANT_NAME = "DefaultTenant"


class Command(BaseCommand):
    help = "Creates (once) the demo organization, its tenant and an admin user."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DEMO_ADMIN_USERNAME", "admin"))

    @transaction.atomic
    def handle(self, *args, username, **options):
        actor = services.Actor.system("seed_demo")
        organization = Organization.objects.filter(slug=DEMO_ORGANIZATION_SLUG).first()
        if organization is None:
            organization = services.organization_create(
                name=DEMO_ORGANIZATION_NAME, slug=DEMO_ORGANIZATION_SLUG, actor=actor
            )
        if not Tenant.objects.filter(organization=organization, name=DEMO_TENANT_NAME).exists():
            services.tenant_create(organization=organization, name=DEMO_TENANT_NAME, actor=actor)

        user_model = get_user_model()
        password = os.environ.get("DEMO_ADMIN_PASSWORD")
        user = user_model.objects.filter(username=username).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            user = user_model.objects.create_user(username=username, password=password)
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
