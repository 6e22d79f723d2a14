"""Creates an organization, its tenant DefaultTenant and its first administrator.

How a platform operator starts a real organization without Django's admin (SPEC §9); the
page /portal_/organizations/new/ does the same for superusers. Everything is
tenants.services.organization_create's: this command only reads the options and prints.
The administrator is a new account, whose generated password is printed once (or read
from the first line of stdin with --password-stdin, and never printed), or an existing
account, which keeps its password and only becomes the administrator.
"""

import json
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import DEFAULT_TENANT_NAME, Actor, organization_create

# The service's argument names as this command's options, for its error messages.
OPTION_NAMES = {
    "slug": "--slug",
    "name": "--name",
    "admin_username": "--admin",
    "email": "--email",
    "password": "--password-stdin",
}


class Command(BaseCommand):
    help = "Creates an organization with its tenant DefaultTenant and its administrator."
    # call_command(..., stdin=io.StringIO("...")) feeds --password-stdin, as for
    # Django's createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="The {org} of URLs, in lowercase.")
        parser.add_argument("--name", required=True, help="The display name.")
        parser.add_argument(
            "--admin",
            required=True,
            metavar="USERNAME",
            help="The administrator: a new account, or an existing one (its password stays).",
        )
        parser.add_argument("--email", default="", help="The new administrator's email.")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the new administrator's password from the first line of stdin "
            "instead of generating one.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON only.")

    def handle(self, *args, **options):
        password = None
        if options["password_stdin"]:
            password = options.get("stdin", sys.stdin).readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: no password on the first line of stdin.")
        try:
            organization, generated = organization_create(
                slug=options["slug"],
                name=options["name"],
                admin_username=options["admin"],
                email=options["email"],
                password=password,
                actor=Actor.system("create_organization"),
            )
        except ValidationError as error:
            raise CommandError(_problems(error)) from None
        # The account's name as stored (Django normalises it, NFKC), which is what signs in.
        admin = get_user_model().normalize_username(options["admin"].strip())
        if options["json"]:
            created = {
                "slug": organization.slug,
                "name": organization.name,
                "partitionGlobalId": str(organization.global_id),
                "defaultTenant": DEFAULT_TENANT_NAME,
                "admin": admin,
                "password": generated,
            }
            self.stdout.write(json.dumps(created))
            return
        self.stdout.write(
            f"Organization {organization.slug!r} ({organization.name}) created: "
            f"partitionGlobalId {organization.global_id}, tenant {DEFAULT_TENANT_NAME!r}."
        )
        if generated is not None:
            self.stdout.write(f"Administrator {admin!r}: new account, password {generated!r}")
            self.stdout.write("The password is shown only now; keep it.")
        elif password is not None:
            self.stdout.write(f"Administrator {admin!r}: new account, password from stdin.")
        else:
            self.stdout.write(f"Administrator {admin!r}: an existing account, password unchanged.")


def _problems(error: ValidationError) -> str:
    """The service's messages, each after the option it concerns."""
    if not hasattr(error, "error_dict"):
        return "; ".join(error.messages)
    return "; ".join(
        f"{OPTION_NAMES.get(field, field)}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    )
