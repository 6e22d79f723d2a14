import json

import pytest
from django.core.checks.urls import check_custom_error_handlers
from django.test import Client

from identity_server import errors
from identity_server.errors import is_api_path


@pytest.mark.parametrize(
    "path",
    [
        "/identity_/no-such-route",
        "/demo/identity_/connect/nothing",
        "/demo/DefaultTenant/orchestrator_/odata/Nothing",
        "/00000000-0000-0000-0000-000000000000/portal_/api/nothing",
    ],
)
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.django_db
def test_unknown_api_routes_answer_json(client, settings, path, debug):
    settings.DEBUG = debug

    response = client.get(path)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_unknown_browser_pages_answer_html(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/identity_/connect/token", True),
        ("/demo/identity_/connect/token", True),
        ("/demo/DefaultTenant/identity_/connect/token", True),
        ("/demo/DefaultTenant/orchestrator_/odata/Machines", True),
        ("/b0b5c7a2-0000-0000-0000-000000000000/portal_/api/x", True),
        ("/demo/portal_/", False),
        ("/", False),
        ("/accounts/login/", False),
        ("/a/b/c/identity_/x", False),
        ("/identity_x/", False),
    ],
)
def test_is_api_path(path, expected):
    assert is_api_path(path) is expected


@pytest.mark.parametrize(
    ("handler", "status"),
    [
        (errors.bad_request, 400),
        (errors.permission_denied, 403),
        (errors.page_not_found, 404),
        (errors.server_error, 500),
    ],
)
def test_error_handlers_answer_json_under_api_prefixes_and_html_elsewhere(rf, handler, status):
    args = [] if status == 500 else [Exception("boom")]

    api = handler(rf.get("/demo/DefaultTenant/orchestrator_/odata/Machines"), *args)
    page = handler(rf.get("/demo/portal_/"), *args)

    assert api.status_code == page.status_code == status
    assert api.headers["Content-Type"] == "application/json"
    assert set(json.loads(api.content)) == {"detail"}
    assert page.headers["Content-Type"].startswith("text/html")


def test_django_accepts_the_error_handlers():
    assert check_custom_error_handlers(None) == []


@pytest.mark.parametrize(
    "path",
    [
        "/identity_/no-such-route",
        "/demo/DefaultTenant/orchestrator_/odata/Nothing",
        "/00000000-0000-0000-0000-000000000000/portal_/api/nothing",
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
@pytest.mark.django_db
def test_unknown_api_routes_answer_json_to_every_method_without_a_csrf_token(path, method):
    # given a client that enforces CSRF, as a real browser-less caller meets it
    client = Client(enforce_csrf_checks=True)

    # when
    response = getattr(client, method)(path, "{}", content_type="application/json")

    # then the same answer as a GET, not CSRF's page
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_a_csrf_failure_answers_json_under_api_prefixes_and_html_elsewhere(rf):
    reason = "Origin checking failed - https://evil.example does not match any trusted origins."
    api = errors.csrf_failure(rf.post("/demo/DefaultTenant/orchestrator_/x"), reason=reason)
    page = errors.csrf_failure(rf.post("/demo/portal_/"), reason=reason)

    assert api.status_code == page.status_code == 403
    assert api.headers["Content-Type"] == "application/json"
    assert json.loads(api.content) == {"detail": "CSRF Failed."}  # nothing of the request
    assert page.headers["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_csrf_failure_view_is_the_one_django_uses(settings):
    # a browser page that needs a CSRF token, posted without one
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert settings.CSRF_FAILURE_VIEW == "identity_server.errors.csrf_failure"
