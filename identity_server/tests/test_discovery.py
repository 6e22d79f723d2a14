"""The server's metadata (OpenID Connect Discovery, RFC 8414) and its JWKS: where they are
served, what they claim, and how they may be cached."""

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from django.test import Client

from federation import assertions

DISCOVERY_URL = "/identity_/.well-known/openid-configuration"
RFC8414_URL = "/.well-known/oauth-authorization-server/identity_"
JWKS_URL = "/identity_/.well-known/openid-configuration/jwks"


@pytest.mark.django_db
def test_the_rfc8414_path_serves_the_same_document(client):
    # RFC 8414 §3: the well-known part between the host and the issuer's path `/identity_`
    openid = client.get(DISCOVERY_URL)
    oauth = client.get(RFC8414_URL)

    assert oauth.status_code == 200
    assert oauth.json() == openid.json()


@pytest.mark.django_db
def test_user_sign_in_is_advertised_as_spec_8_says(client):
    body = client.get(DISCOVERY_URL).json()

    assert body["authorization_endpoint"] == f"{body['issuer']}/connect/authorize"
    assert body["userinfo_endpoint"] == f"{body['issuer']}/connect/userinfo"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert set(body["grant_types_supported"]) == {
        "client_credentials",
        "authorization_code",
        "refresh_token",
    }
    assert "none" in body["token_endpoint_auth_methods_supported"]
    assert {"openid", "offline_access"} <= set(body["scopes_supported"])


@pytest.mark.django_db
def test_private_key_jwt_is_advertised_with_its_signing_algorithm(client):
    body = client.get(DISCOVERY_URL).json()

    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS256"]
    # what is advertised is what the assertion checks accept, not only what we sign with
    assert body["token_endpoint_auth_signing_alg_values_supported"] == [assertions.ALGORITHM]
    # one validator authenticates clients at the three endpoints: the same methods at each
    for endpoint in ("introspection", "revocation"):
        assert body[f"{endpoint}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]
        assert body[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == ["RS256"]


@pytest.mark.django_db
def test_authlib_accepts_the_metadata(client, settings):
    # given an HTTPS issuer, as in production (RFC 8414 §2 wants https)
    settings.IDENTITY_ISSUER = "https://id.example.com/identity_"
    metadata = AuthorizationServerMetadata(client.get(RFC8414_URL).json())

    # then every RFC 8414 check of an independent implementation passes
    metadata.validate()


@pytest.mark.parametrize("url", [DISCOVERY_URL, RFC8414_URL, JWKS_URL])
@pytest.mark.django_db
def test_get_and_head_answer_with_a_short_public_cache_lifetime(client, url):
    got = client.get(url)
    head = client.head(url)

    for response in (got, head):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["Content-Type"] == "application/json"
    assert head.content == b""
    assert got.json()


@pytest.mark.parametrize("url", [DISCOVERY_URL, RFC8414_URL, JWKS_URL])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.django_db
def test_other_methods_get_a_json_405_without_a_csrf_token(url, method):
    response = getattr(Client(enforce_csrf_checks=True), method)(url)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
