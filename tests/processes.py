"""Running the project in a separate process, as an operator would, with a chosen environment."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from django.conf import settings

# Variables the project reads; a child process starts without the test run's values for them.
CONFIGURATION = {
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "ALLOWED_HOSTS",
    "IDENTITY_ISSUER",
    "IDENTITY_AUDIENCE",
    "IDENTITY_SIGNING_KEY_FILE",
    "IDENTITY_SIGNING_KEY_PREVIOUS_FILES",
    "IDENTITY_SIGNING_ALGORITHM",
    "CACHE_KEY_PREFIX",
    "DATABASE_URL",
    "REDIS_URL",
    "FEDERATION_OUTBOUND_ALLOWLIST",
    "FEDERATION_CA_BUNDLE",
    "FEDERATION_FETCH_TIMEOUT_SECONDS",
    "FEDERATION_ASSERTION_REPLAY_PROTECTION",
    "DEMO_ADMIN_PASSWORD",
    "NUM_PROXIES",
    "METRICS_BEARER_TOKEN",
    "METRICS_ALLOWED_ADDRESSES",
    "PROMETHEUS_MULTIPROC_DIR",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
}


def project_env(**env: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    return {**inherited, "DJANGO_SETTINGS_MODULE": "identity_server.settings", **env}


def free_port() -> int:
    """A loopback port nobody listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


# A client's secrets changed by another process, as an admin's request on another worker
# would: the project's services, through the configured database and shared cache.
_CREATE_SECRET = """
import django, json, sys
django.setup()
from identity_server import services
from identity_server.models import OAuthClient
from tenants.services import Actor
client = OAuthClient.objects.get(client_id=sys.argv[1])
row, secret = services.client_secret_create(client=client, actor=Actor.system("test"))
print(json.dumps({"id": row.pk, "secret": secret}))
"""

_DELETE_SECRET = """
import django, sys
django.setup()
from identity_server import services
from identity_server.models import ClientSecret
from tenants.services import Actor
secret = ClientSecret.objects.get(pk=sys.argv[1])
services.client_secret_delete(secret=secret, actor=Actor.system("test"))
"""


def python_ok(*args: str, **env: str) -> str:
    """run_python's output; the test fails with its stderr if it did not succeed."""
    result = run_python(*args, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def secret_created_elsewhere(client_id: str, **env: str) -> dict:
    """A new secret of the client, created in another process: {"id", "secret"}."""
    return json.loads(python_ok("-c", _CREATE_SECRET, client_id, **env))


def secret_deleted_elsewhere(secret_id: int, **env: str) -> None:
    """Deletes the secret in another process."""
    python_ok("-c", _DELETE_SECRET, str(secret_id), **env)


@contextmanager
def served_project(**env: str) -> Iterator[str]:
    """Migrates and seeds the configured database, then serves the project with its server
    (identity_server.serve, 2 workers) on a free loopback port; yields its base URL and
    stops it afterwards."""
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        python_ok("manage.py", *command, **env)
    with project_serving(env) as (base, _server):
        yield base


@contextmanager
def project_serving(env: dict[str, str], *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The project's server (identity_server.serve: 2 workers, and `options`) serving the
    project, as it is configured, on a free loopback port, once it answers; yields its base
    URL and process, stops it after."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "identity_server.serve",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            *options,
        ],
        env=project_env(**env),
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):  # still booting, on a busy host
            time.sleep(0.2)
    try:
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=10)
