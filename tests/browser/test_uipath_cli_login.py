"""Journey: the official `uipath` CLI's interactive sign-in (SPEC §8), unchanged, against the
live server, with Chromium as the user's browser.

`uipath auth --base-url {server}/{org}/{tenant} --tenant {tenant}` (uipath 2.14.44, read
from its source in uipath/_cli/_auth/):
1. GETs `{server}/orchestrator_/api/status/version`; an answer without `"deployment":
   "ServiceFabric"` makes it use its cloud configuration: client
   36dea5b8-e8bb-423d-8e7b-c808df8f1c00, redirect `http://localhost:{port}/oidc/login`
   (8104, 8055 or 42042, or UIPATH_AUTH_PORT), about twenty scope names;
2. opens the browser (Python's webbrowser, so $BROWSER) at `{server}/identity_/connect/
   authorize` with PKCE S256 and a state, and serves its own page on that port;
3. the user signs in on our page and is sent back to the CLI's page, whose JavaScript
   exchanges the code with fetch() at `{server}/identity_/connect/token` (cross-origin:
   CORS) and hands the tokens to the CLI;
4. the CLI reads `prt_id` from the token, calls tenantsAndOrganizationInfo with it, picks
   the tenant named by --tenant, and writes `.env`: UIPATH_ACCESS_TOKEN, UIPATH_URL
   (`{server}/{organization's URL name}/{tenant}`), UIPATH_TENANT_ID, UIPATH_ORGANIZATION_ID.
Only $BROWSER is ours: a script that hands the URL to this test instead of opening a
desktop browser, so Playwright's Chromium opens it.
"""

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import jwt
import pytest

from identity_server.models import CLI_CLIENT_ID
from tenants.services import Actor, tenant_create
from tenants.tests.factories import PASSWORD
from tests.processes import free_port
from tests.test_uipath_cli import _uipath_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture(autouse=True)
def _cli_client_on_plain_http(settings):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def _browser_script(folder: Path) -> tuple[Path, Path]:
    """A $BROWSER command that writes the URL it is given to a file, and that file."""
    opened = folder / "opened-url"
    script = folder / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf %s "$1" > "{opened}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, opened


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        if process.poll() is not None:
            pytest.fail(f"the CLI stopped: {process.communicate()}")
        time.sleep(0.1)
    pytest.fail("the CLI opened no browser")


def _dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_uipath_auth_signs_the_user_in_on_our_page_and_writes_its_env(
    browser, live_server, admin_membership, tmp_path
):
    # given: an organization with a tenant Finance, its admin, and the CLI as published
    cli = _uipath_cli()
    user, organization = admin_membership.user, admin_membership.organization
    tenant = tenant_create(organization=organization, name="Finance", actor=Actor.system("test"))
    script, opened = _browser_script(tmp_path)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UIPATH_", "DJANGO_")) and "PROXY" not in key.upper()
    }
    env.update(
        HOME=str(tmp_path),
        BROWSER=str(script),
        UIPATH_AUTH_PORT=str(port),
        UIPATH_TELEMETRY_ENABLED="false",
        NO_PROXY="*",
    )

    # when: `uipath auth` starts, and opens "the browser" at our authorization endpoint
    process = subprocess.Popen(  # noqa: S603
        [
            cli,
            "auth",
            "--base-url",
            f"{live_server.url}/{organization.slug}/Finance",
            "--tenant",
            "Finance",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = _wait_for(opened, process)
        assert url.startswith(f"{live_server.url}/identity_/connect/authorize?")
        assert f"client_id={CLI_CLIENT_ID}" in url

        # and the user signs in on our page, in Chromium
        context = browser.new_context()
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(url)
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_response(
            lambda response: (
                response.url.endswith("/identity_/connect/token")
                and response.request.method == "POST"
            )
        ) as exchanged:
            page.get_by_role("button", name="Sign in").click()

        # then: back on the CLI's own page, whose fetch() exchanged the code: a cross-origin
        # request, allowed by CORS for this origin only
        assert page.url.startswith(f"http://localhost:{port}/oidc/login?code=")
        token_response = exchanged.value
        assert token_response.status == 200
        origin = token_response.request.all_headers()["origin"]
        allowed = token_response.all_headers()["access-control-allow-origin"]
        output, _ = process.communicate(timeout=60)
        context.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # then: the CLI succeeded and wrote our organization and tenant
    assert process.returncode == 0, output
    assert origin == allowed == f"http://localhost:{port}"
    dotenv = _dotenv(tmp_path / ".env")
    assert dotenv["UIPATH_ORGANIZATION_ID"] == str(organization.global_id)
    assert dotenv["UIPATH_TENANT_ID"] == str(tenant.global_id)
    assert dotenv["UIPATH_URL"] == f"{live_server.url}/{organization.slug}/Finance"
    # and its token is the user's, for the CLI, in that organization
    claims = jwt.decode(dotenv["UIPATH_ACCESS_TOKEN"], options={"verify_signature": False})
    assert (claims["client_id"], claims["sub"], claims["sub_type"]) == (
        CLI_CLIENT_ID,
        str(user.pk),
        "user",
    )
    assert claims["prt_id"] == str(organization.global_id)
    assert "OrchestratorApiUserAccess" in claims["scope"]
    # and it keeps a refresh token (offline_access) for later runs
    auth_file = json.loads((tmp_path / ".uipath" / ".auth.json").read_text())
    assert auth_file["refresh_token"].startswith("idrt_")
