"""Creates an OAuth client and its first secret from the command line.

How an operator (and a test, and the benchmark) gets the first API credentials without
the browser. The secret is printed once and stored only as a keyed hash. An external
application's client comes with its ExternalApp (federation), as through the API, so that
it is listed, managed and given federated credentials like any other.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation.services import external_app_create
from identity_server import services
from identity_server.models import OAuthClient
from tenants.models import Organization, Tenant
from tenants.services import Actor


class Command(BaseCommand):
    help = "Creates an OAuth client (machine or external application) and prints its secret."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", choices=OAuthClient.Kind.values, default="external_app")
        parser.add_argument("--tenant", help="The tenant's name (machine clients only).")
        parser.add_argument("--scopes", default="", help="Space-separated granted scopes.")
        parser.add_argument("--description", default="", help="The secret's description.")
        parser.add_argument("--json", action="store_true", help="Print JSON only.")

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["org"].lower()).first()
        if organization is None:
            raise CommandError(f"No organization with slug {options['org']!r}.")
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(
                organization=organization, name__iexact=options["tenant"]
            ).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r} in {organization.slug!r}.")
        actor = Actor.system("create_client")
        fields = {
            "organization": organization,
            "name": options["name"],
            "scopes": options["scopes"].split(),
            "actor": actor,
        }
        try:
            if options["kind"] == OAuthClient.Kind.EXTERNAL_APP and tenant is None:
                app, secret = external_app_create(**fields)
                client = app.client
            else:
                client, secret = services.client_create_with_secret(
                    **fields,
                    tenant=tenant,
                    kind=options["kind"],
                    description=options["description"],
                )
        except (ValidationError, ValueError) as error:
            raise CommandError("; ".join(getattr(error, "messages", [str(error)]))) from None
        credentials = {
            "client_id": client.client_id,
            "client_secret": secret,
            "partition_global_id": str(organization.global_id),
        }
        if options["json"]:
            self.stdout.write(json.dumps(credentials))
            return
        self.stdout.write(f"Client {client.name!r} ({client.kind}) in {organization.slug!r}")
        for name, value in credentials.items():
            self.stdout.write(f"  {name}: {value}")
        self.stdout.write("The secret is shown only now; keep it.")
