"""Tokens obtained the way real clients do (seed 001): `requests` posting the form of the
seed's curl, and Authlib's OAuth 2 client with a client assertion, against a live server,
for tokens shaped like GitHub Actions, Entra ID, Google Cloud and Kubernetes minted by the
test identity provider. The access tokens then work at our APIs."""

import pytest
import requests
from authlib.common.urls import add_params_to_qs
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from federation.tests.factories import external_app, shape_credential
from identity_server.tests.http import JWT_BEARER, TOKEN_URL, assertion_form
from tests.idp import SHAPES

SCOPES = ["OR.Machines.Read", "PM.OAuthApp.Read"]

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def app(admin_membership, identity_provider):
    """An application with one credential per provider shape."""
    app, _secret = external_app(organization=admin_membership.organization, scopes=SCOPES)
    for shape in SHAPES:
        shape_credential(app, identity_provider, shape)
    return app


def works_at_our_api(live_server, app, access_token: str) -> bool:
    response = requests.get(
        f"{live_server.url}/identity_/api/ExternalClient/{app.organization.global_id}",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    return response.status_code == 200 and response.json()[0]["id"] == app.client.client_id


@pytest.mark.parametrize("shape", SHAPES)
def test_requests_posting_the_seeds_form_gets_a_token(live_server, app, identity_provider, shape):
    # when
    response = requests.post(
        live_server.url + TOKEN_URL,
        data=assertion_form(app.client.client_id, identity_provider.mint(shape)),
        timeout=10,
    )

    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        3600,
        " ".join(SCOPES),
    )
    assert works_at_our_api(live_server, app, body["access_token"])


def test_requests_gets_an_rfc6749_error_for_a_refused_assertion(
    live_server, app, identity_provider
):
    response = requests.post(
        live_server.url + TOKEN_URL,
        data=assertion_form(app.client.client_id, identity_provider.mint("github", lifetime=-600)),
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"


def federated_jwt(identity_provider, shape: str):
    """An Authlib client authentication method that presents a fresh token from the
    workload's identity provider as the client assertion, at every token request."""

    def authenticate(auth, method, uri, headers, body):
        body = add_params_to_qs(
            body or "",
            [
                ("client_id", auth.client_id),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", identity_provider.mint(shape)),
            ],
        )
        return uri, headers, body

    return authenticate


@pytest.mark.parametrize("shape", SHAPES)
def test_authlib_with_a_client_assertion_method_gets_a_token(
    live_server, app, identity_provider, shape
):
    # given an OAuth 2 session authenticating with the workload's identity token
    session = OAuth2Session(
        app.client.client_id,
        token_endpoint=live_server.url + TOKEN_URL,
        token_endpoint_auth_method="federated_jwt",
        scope="PM.OAuthApp.Read",
    )
    session.register_client_auth_method(("federated_jwt", federated_jwt(identity_provider, shape)))

    # when
    token = session.fetch_token(grant_type="client_credentials")

    # then the narrowed token, which the session sends to our API
    assert (token["token_type"], token["expires_in"], token["scope"]) == (
        "Bearer",
        3600,
        "PM.OAuthApp.Read",
    )
    listed = session.get(
        f"{live_server.url}/identity_/api/ExternalClient/{app.organization.global_id}", timeout=10
    )
    assert listed.status_code == 200, listed.text


def test_authlib_with_the_assertion_as_token_request_parameters_gets_a_token(
    live_server, app, identity_provider
):
    session = OAuth2Session(app.client.client_id, token_endpoint_auth_method="none")

    token = session.fetch_token(
        live_server.url + TOKEN_URL,
        grant_type="client_credentials",
        client_assertion_type=JWT_BEARER,
        client_assertion=identity_provider.mint("k8s"),
    )

    assert token["scope"] == " ".join(SCOPES)
    assert works_at_our_api(live_server, app, token["access_token"])


def test_authlib_raises_the_servers_oauth_error(live_server, app, identity_provider):
    session = OAuth2Session(app.client.client_id, token_endpoint_auth_method="none")

    with pytest.raises(OAuthError) as refused:
        session.fetch_token(
            live_server.url + TOKEN_URL,
            grant_type="client_credentials",
            client_assertion_type=JWT_BEARER,
            client_assertion=identity_provider.mint("gcp", header={"alg": "HS256"}),
        )

    assert refused.value.error == "invalid_client"
