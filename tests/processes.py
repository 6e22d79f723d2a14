"""Running the project in a separate process, as an operator would, with a chosen environment."""

import os
import subprocess
import sys

from django.conf import settings

# Variables the project reads; a child process starts without the test run's values for them.
CONFIGURATION = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "IDENTITY_ISSUER",
    "DATABASE_URL",
    "REDIS_URL",
    "FEDERATION_OUTBOUND_ALLOWLIST",
    "FEDERATION_CA_BUNDLE",
    "DEMO_ADMIN_PASSWORD",
}


def project_env(**env: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    return {**inherited, "DJANGO_SETTINGS_MODULE": "identity_server.settings", **env}


def run_python(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python *args` in the project folder with only `env` configured; never raises on exit."""
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        env=project_env(**env),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
