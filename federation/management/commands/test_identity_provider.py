"""Serves the test identity provider (tests/idp.py) in the foreground, for the demo.

For demos and tests only: it mints a token for anyone who asks, and its CA is thrown away
when it stops. It needs the dev dependencies (trustme).
"""

import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Serves a throwaway HTTPS identity provider on loopback (GitHub Actions, Entra ID, "
        "GCP and Kubernetes issuers) that mints tokens on request. Demos and tests only."
    )
    # It reads no setting and touches no database: the deployment checks are not its concern.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=8443, help="Loopback port (default 8443; 0: any)."
        )

    def handle(self, *args, port: int, **options):
        try:
            from tests.idp import SHAPES, IdentityProvider
        except ImportError as error:
            raise CommandError(
                f"The test identity provider needs the dev dependencies ({error.name} is "
                "missing): pip install --require-hashes -r requirements-dev.lock"
            ) from error
        try:
            provider = IdentityProvider(port=port).start()
        except OSError as error:
            raise CommandError(f"Cannot listen on 127.0.0.1:{port}: {error}") from error
        write = self.stdout.write
        write(f"Test identity provider on {provider.base_url} (demos and tests only).")
        for shape in SHAPES:
            write(f"  {shape:<7} issuer {provider.issuer(shape)}")
        write("Let the identity server fetch from it, in its environment:")
        for name, value in provider.env.items():
            write(f"  export {name}={value}")
        write("Mint a token (shape github, entra, gcp or k8s; sub and aud as in the credential):")
        write(
            f"  curl -s --cacert {provider.ca_bundle} '{provider.base_url}/mint?shape=github"
            "&sub=repo:octo-org/octo-repo:ref:refs/heads/main&aud=https://id.example.com'"
        )
        write("Ctrl+C to stop.")
        self.stdout.flush()
        # Stopped by a supervisor as by Ctrl+C: either way the throwaway CA file goes.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            provider.stop()
