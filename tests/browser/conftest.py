"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live_server.

Chromium is the system's (/usr/bin/chromium, or $CHROMIUM); `make test` installs it with
apt-get where it is missing. Playwright never downloads a browser: nothing here runs
`playwright install`.

Fixtures:
- `browser`: one Chromium for all the tests of this package;
- `page`: a fresh browser context (cookies, storage) on the live server, `page.goto("/")`
  relative to it; the test fails if the page logs a JavaScript error or a
  Content-Security-Policy violation;
- `sign_in(page, user)`: signs `user` in without the form (a session made by Django's test
  client, set as the browser's cookie); the sign-in journey itself uses the form;
- `admin_page`: `page`, signed in as the admin of `admin_membership` (the root
  conftest: an organization with the tenant DefaultTenant);
- `token_endpoint(client_id, secret)`: a client credentials request to the live server's
  token endpoint over real HTTP, as a robot makes it (a `requests` response);
- `screenshot(page, name)`: a PNG of the page, written to docs/screenshots/<name>.png when
  UPDATE_SCREENSHOTS=1 (`make screenshots`), else to a temporary directory, so a normal test
  run changes no committed file.

Why DJANGO_ALLOW_ASYNC_UNSAFE: Playwright's sync API keeps an asyncio event loop running
in the test's thread for as long as it is started, and Django then refuses database access
from that thread (SynchronousOnlyOperation) although nothing here is asynchronous. The
variable is set only while Playwright runs, and `browser` is scoped to this package, so no
test outside it runs with the loop or the variable.
"""

import os
import re
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import Client
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 5000
_REPORTED = re.compile(r"Content Security Policy|Refused to", re.IGNORECASE)


@pytest.fixture(scope="package")
def browser():
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and _REPORTED.search(message.text)
            else None
        ),
    )
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def sign_in(live_server):
    def sign_in(page, user) -> None:
        client = Client()
        client.force_login(user)
        page.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )

    return sign_in


@pytest.fixture
def token_endpoint(live_server):
    def request(client_id: str, secret: str) -> requests.Response:
        return requests.post(
            f"{live_server.url}/identity_/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
            timeout=10,
        )

    return request


@pytest.fixture
def admin_page(page, sign_in, admin_membership):
    sign_in(page, admin_membership.user)
    return page


@pytest.fixture
def screenshot(tmp_path):
    def take(page, name: str) -> Path:
        folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
