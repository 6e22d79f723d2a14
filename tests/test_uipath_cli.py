"""The official `uipath` CLI (PyPI `uipath`), unchanged, signs in to a live server of ours
with client credentials (SPEC §2, issue 13).

`uipath auth --client-id … --client-secret … --base-url {server}/{org}/{tenant}`:
1. POSTs `grant_type=client_credentials`, the ID, the secret and `scope=OR.Execution` (its
   default) to `https://cloud.uipath.com/identity_/connect/token`, a host it hard-codes;
   tests.cloud_redirect sends that to our server, through the HTTPS_PROXY and CA bundle
   variables the CLI documents;
2. reads `prt_id` from the token (unverified) and calls
   `{server}/{prt_id}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo` with the
   token as bearer, to find the tenant named in the base URL (exact name);
3. writes `.env` in its working folder: UIPATH_ACCESS_TOKEN, UIPATH_URL (the base URL),
   UIPATH_ORGANIZATION_ID (`prt_id`), UIPATH_TENANT_ID.

The CLI is installed from PyPI into a throwaway virtualenv, once per version and
interpreter, kept in the system's temp folder so later runs reuse it; the project's own
.venv and lock never see it. Without the registry the test fails and says so.
"""

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.cloud_redirect import CloudRedirect
from tests.processes import python_ok, served_project

UIPATH_CLI_VERSION = "2.14.44"

SETUP = """
import django, json
django.setup()
from federation.services import external_app_create
from tenants import services
actor = services.Actor.system("test")
org, _password = services.organization_create(
    name="Acme Robotics", slug="acme", admin_username="acme-admin", actor=actor
)
tenant = services.tenant_create(organization=org, name="Finance", actor=actor)
app, secret = external_app_create(
    organization=org, name="uipath CLI", scopes=["OR.Execution"], actor=actor
)
print(json.dumps({
    "organization_id": str(org.global_id),
    "tenant_id": str(tenant.global_id),
    "client_id": app.client.client_id,
    "secret": secret,
}))
"""


def _uipath_cli() -> Path:
    """The `uipath` executable of a virtualenv holding only uipath=={UIPATH_CLI_VERSION},
    built on first use (the download needs the package registry), under a lock so that
    two test runs never build it at once."""
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    home = Path(tempfile.gettempdir()) / f"identity-server-uipath-cli-{UIPATH_CLI_VERSION}-{python}"
    ready = home / "ready"
    with open(f"{home}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            shutil.rmtree(home, ignore_errors=True)  # a build that was interrupted
            # The venv module of the interpreter behind ours: the new venv never sees our
            # packages, and ours never sees its.
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)  # noqa: S603
            install = subprocess.run(  # noqa: S603
                [home / "bin" / "pip", "install", "--quiet", f"uipath=={UIPATH_CLI_VERSION}"],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if install.returncode != 0:
                pytest.fail(
                    f"Could not install uipath=={UIPATH_CLI_VERSION} from the package "
                    f"registry, which this test needs once (then it is kept in {home}):\n"
                    f"{install.stderr[-2000:]}"
                )
            ready.touch()
    return home / "bin" / "uipath"


@pytest.fixture(scope="module")
def uipath_cli() -> Path:
    return _uipath_cli()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uipath-cli-site")
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
    }
    with served_project(**env) as base:
        yield base, json.loads(python_ok("-c", SETUP, **env))


def _cli_env(redirect: CloudRedirect, home: Path) -> dict[str, str]:
    proxies = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in proxies and not k.startswith(("UIPATH_", "DJANGO_"))
    }
    return {
        **inherited,
        "HOME": str(home),
        "HTTPS_PROXY": redirect.proxy_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "SSL_CERT_FILE": str(redirect.ca_file),
        "UIPATH_TELEMETRY_ENABLED": "false",
    }


def _dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.slow
def test_uipath_auth_with_client_credentials_writes_our_organization_and_tenant(
    uipath_cli, server, tmp_path
):
    # given: an organization "acme" with tenant "Finance" and a confidential app granted
    # OR.Execution, the CLI's default scope
    base, created = server
    base_url = f"{base}/acme/Finance"

    # when: the CLI, as published, signs in with client credentials
    with CloudRedirect(base) as redirect:
        result = subprocess.run(  # noqa: S603
            [
                uipath_cli,
                "auth",
                "--client-id",
                created["client_id"],
                "--client-secret",
                created["secret"],
                "--base-url",
                base_url,
            ],
            cwd=tmp_path,
            env=_cli_env(redirect, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # then: it asked "the cloud" for its token, and reached us
    assert redirect.relayed == ["POST /identity_/connect/token HTTP/1.1"]
    # and it succeeded and wrote our organization and tenant
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Authentication successful" in result.stdout, result.stdout + result.stderr
    dotenv = _dotenv(tmp_path / ".env")
    assert dotenv["UIPATH_URL"] == base_url
    assert dotenv["UIPATH_ORGANIZATION_ID"] == created["organization_id"]
    assert dotenv["UIPATH_TENANT_ID"] == created["tenant_id"]

    # and the token it keeps is ours and works at our APIs
    info = requests.get(
        f"{base}/{created['organization_id']}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo",
        headers={"Authorization": f"Bearer {dotenv['UIPATH_ACCESS_TOKEN']}"},
        timeout=5,
    )
    assert info.status_code == 200
    assert info.json()["organization"] == {
        "id": created["organization_id"],
        "name": "acme",
        "displayName": "Acme Robotics",
    }
    introspection = requests.post(
        f"{base}/identity_/connect/introspect",
        data={
            "token": dotenv["UIPATH_ACCESS_TOKEN"],
            "client_id": created["client_id"],
            "client_secret": created["secret"],
        },
        timeout=5,
    )
    assert introspection.json()["active"] is True
    assert introspection.json()["scope"] == "OR.Execution"


@pytest.mark.parametrize(
    "request_line",
    [
        pytest.param(b"CONNECT example.com:443 HTTP/1.1", id="another-host"),
        pytest.param(b"CONNECT cloud.uipath.com:8443 HTTP/1.1", id="another-port"),
        pytest.param(b"GET http://cloud.uipath.com/ HTTP/1.1", id="plain-proxying"),
    ],
)
def test_the_redirect_relays_nothing_but_the_clouds_https(request_line):
    with CloudRedirect("http://127.0.0.1:9") as redirect:
        port = int(redirect.proxy_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
            answer = sock.recv(1024)

    assert answer == b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    assert redirect.relayed == []
