"""The sign-in page and sign-out's confirmation allow their forms to end at the client
(identity_server.csp): CSP's form-action governs the redirects after a form's POST."""

from urllib.parse import urlencode

import pytest

from federation.tests.factories import external_app
from identity_server.models import CLI_CLIENT_ID


def form_action(response) -> str:
    policy = response["Content-Security-Policy"]
    return next(part for part in policy.split(";") if part.strip().startswith("form-action"))


def login_page(client, **authorize):
    next_url = "/identity_/connect/authorize?" + urlencode(authorize)
    return client.get("/accounts/login/", {"next": next_url})


@pytest.fixture
def portal(admin_membership):
    return external_app(
        organization=admin_membership.organization,
        user_scopes=["openid"],
        redirect_uris=["https://portal.example/cb"],
        post_logout_redirect_uris=["https://portal.example/bye"],
    )[0]


def test_the_sign_in_form_may_end_at_a_registered_redirect_uri(client, portal):
    response = login_page(
        client, client_id=portal.client.client_id, redirect_uri="https://portal.example/cb"
    )

    assert form_action(response).split() == ["form-action", "'self'", "https://portal.example"]


def test_the_sign_in_form_may_end_at_the_clis_loopback_redirect(client, settings, db):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True

    response = login_page(
        client, client_id=CLI_CLIENT_ID, redirect_uri="http://localhost:8104/oidc/login"
    )

    assert "http://localhost:8104" in form_action(response)


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/cb", "https://portal.example/other"],
    ids=["foreign", "unregistered"],
)
def test_an_unregistered_redirect_uri_is_not_allowed(client, portal, redirect_uri):
    response = login_page(client, client_id=portal.client.client_id, redirect_uri=redirect_uri)

    assert form_action(response).split() == ["form-action", "'self'"]


def test_the_sign_out_confirmation_may_end_at_the_registered_post_logout_uri(
    client, admin_membership, portal
):
    client.force_login(admin_membership.user)

    page = client.get(
        "/identity_/connect/endsession",
        {
            "client_id": portal.client.client_id,
            "post_logout_redirect_uri": "https://portal.example/bye",
        },
    )

    assert "Sign out?" in page.content.decode()
    assert form_action(page).split() == ["form-action", "'self'", "https://portal.example"]
