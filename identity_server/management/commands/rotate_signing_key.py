"""Rotates the key that signs access tokens (SPEC §3).

The new key signs from now on (every process picks it up within
tokens.CURRENT_KEY_RECHECK seconds); the previous one stays in the JWKS until the tokens
it signed have expired, and keys retired longer ago than that are deleted. After a leak,
`--revoke-previous` deletes every earlier key at once instead.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from identity_server import services
from tenants.services import Actor


class Command(BaseCommand):
    help = "Makes a new signing key current; the old one stays published until its tokens expire."

    def add_arguments(self, parser):
        parser.add_argument(
            "--revoke-previous",
            action="store_true",
            help="After a key leak: delete every earlier key now, so that the tokens they "
            "signed stop verifying (in every process within 30 seconds).",
        )

    def handle(self, *args, revoke_previous=False, **options):
        if settings.IDENTITY_SIGNING_KEY_FILE:
            raise CommandError(
                "The signing key comes from IDENTITY_SIGNING_KEY_FILE: mount the new key there "
                "and list the old file in IDENTITY_SIGNING_KEY_PREVIOUS_FILES instead."
            )
        key = services.signing_key_rotate(
            actor=Actor.system("rotate_signing_key"), revoke_previous=revoke_previous
        )
        self.stdout.write(f"New signing key {key.kid} is current.")
