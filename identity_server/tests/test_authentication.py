"""Bearer tokens on our APIs: what authenticates, what does not, and the scope rule."""

import base64
import json

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from identity_server import services
from identity_server.authentication import BearerTokenAuthentication
from identity_server.scopes import scope_satisfied
from identity_server.tests.factories import TEST_ACTOR, client_with_secret


@pytest.fixture
def app(admin_membership):
    return client_with_secret(
        organization=admin_membership.organization, scopes=["OR.Machines.Read"]
    )


def authenticate(rf, token: str):
    request = Request(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    return BearerTokenAuthentication().authenticate(request)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_valid_token_authenticates_its_client_in_its_organization(rf, app, issue_token):
    oauth_client, secret = app

    principal, claims = authenticate(rf, issue_token(oauth_client, secret))

    assert principal.client_id == oauth_client.client_id
    assert principal.organization_global_id == str(oauth_client.organization.global_id)
    assert principal.scopes == {"OR.Machines.Read"}
    assert principal.is_authenticated
    assert claims["jti"]


def test_no_bearer_header_is_not_this_authenticators_business(rf):
    request = Request(rf.get("/", HTTP_AUTHORIZATION="Basic abc"))

    assert BearerTokenAuthentication().authenticate(request) is None


def tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return ".".join([header, b64({**claims, **changes}), signature])


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda t: tampered(t, scope=["OR.Machines"]), id="changed claims"),
        pytest.param(lambda t: b64({"alg": "none", "typ": "at+jwt"}) + "." + t.split(".")[1] + ".",
                     id="alg none"),
        pytest.param(lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
                     id="bad signature"),
        pytest.param(lambda t: "garbage", id="not a JWT"),
        pytest.param(lambda t: "a.b", id="two parts"),
        pytest.param(lambda t: b64({"alg": "RS256", "kid": 7, "typ": "at+jwt"}) + ".e30.x",
                     id="kid not a string"),
        pytest.param(lambda t: b64({"alg": "RS256", "kid": "nope", "typ": "at+jwt"}) + ".e30.x",
                     id="unknown kid"),
        pytest.param(lambda t: "\x00" + t, id="NUL"),
        pytest.param(lambda t: t * 50, id="huge"),
    ],
)  # fmt: skip
def test_forged_tokens_are_refused(rf, app, issue_token, forge):
    token = issue_token(*app)

    with pytest.raises(AuthenticationFailed):
        authenticate(rf, forge(token))


def test_an_expired_token_is_refused(rf, app, issue_token, settings):
    settings.ACCESS_TOKEN_LIFETIME = -120  # issued already expired, beyond the leeway
    token = issue_token(*app)

    with pytest.raises(AuthenticationFailed, match="invalid or expired"):
        authenticate(rf, token)


def test_a_token_for_another_audience_is_refused(rf, app, issue_token, settings):
    token = issue_token(*app)
    settings.IDENTITY_AUDIENCE = "some-other-api"

    with pytest.raises(AuthenticationFailed):
        authenticate(rf, token)


def test_a_token_of_a_deleted_secret_is_refused(rf, app, issue_token):
    oauth_client, secret = app
    token = issue_token(oauth_client, secret)

    services.client_secret_delete(secret=oauth_client.secrets.get(), actor=TEST_ACTOR)

    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate(rf, token)


@pytest.mark.parametrize(
    ("required", "granted", "satisfied"),
    [
        ("OR.Machines.Read", {"OR.Machines.Read"}, True),
        ("OR.Machines.Read", {"OR.Machines"}, True),
        ("OR.Machines.Write", {"OR.Machines"}, True),
        ("OR.Machines.Write", {"OR.Machines.Read"}, False),
        ("OR.Machines.Read", {"OR.Robots"}, False),
        ("OR.Machines", {"OR.Machines.Read", "OR.Machines.Write"}, False),
    ],
)
def test_a_resource_scope_covers_its_read_and_write_scopes(required, granted, satisfied):
    assert scope_satisfied(required, granted) is satisfied


# --- RFC 6750 §3 answers at our APIs -------------------------------------------------------


@pytest.fixture
def machines_url(admin_membership):
    return f"/{admin_membership.organization.slug}/DefaultTenant/orchestrator_/odata/Machines"


def test_no_token_gets_a_bearer_challenge_without_an_error(client, machines_url):
    response = client.get(machines_url)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="identity"'
    assert response.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(
    ("token", "description"),
    [
        pytest.param(lambda t: "garbage", "The access token is invalid or expired.", id="invalid"),
        pytest.param(lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
                     "The access token is invalid or expired.", id="bad signature"),
        pytest.param("expired", "The access token is invalid or expired.", id="expired"),
        pytest.param("revoked", "The access token has been revoked.", id="revoked"),
    ],
)  # fmt: skip
def test_a_refused_token_gets_an_invalid_token_challenge(
    client, app, issue_token, settings, machines_url, token, description
):
    # given
    oauth_client, secret = app
    if token == "expired":
        settings.ACCESS_TOKEN_LIFETIME = -120  # issued already expired, beyond the leeway
    issued = issue_token(oauth_client, secret)
    settings.ACCESS_TOKEN_LIFETIME = 3600
    if token == "revoked":
        services.client_secret_delete(secret=oauth_client.secrets.get(), actor=TEST_ACTOR)
    presented = token(issued) if callable(token) else issued

    # when
    response = client.get(machines_url, headers={"Authorization": f"Bearer {presented}"})

    # then
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="identity", error="invalid_token", error_description="{description}"'
    )
    assert response.json() == {"detail": description}


@pytest.mark.parametrize(
    ("method", "granted", "required", "satisfying"),
    [
        ("get", "PM.OAuthApp.Read", "OR.Machines.Read", "OR.Machines.Read OR.Machines"),
        ("post", "OR.Machines.Read", "OR.Machines.Write", "OR.Machines.Write OR.Machines"),
    ],
)
def test_a_token_without_the_scope_gets_an_insufficient_scope_challenge(
    client, admin_membership, issue_token, machines_url, method, granted, required, satisfying
):
    # given
    oauth_client, secret = client_with_secret(
        organization=admin_membership.organization, scopes=[granted]
    )
    token = issue_token(oauth_client, secret)

    # when
    response = getattr(client, method)(
        machines_url,
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    # then
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="identity", error="insufficient_scope", scope="{satisfying}"'
    )
    whole = satisfying.split()[1]
    assert response.json() == {
        "detail": f"The access token lacks the scope {required} this operation requires "
        f"(or {whole})."
    }


def test_an_identity_api_names_the_missing_scope_too(client, admin_membership, issue_token):
    # given a token without PM.OAuthApp.Read, at an identity_ API
    oauth_client, secret = client_with_secret(
        organization=admin_membership.organization, scopes=["OR.Machines"]
    )
    token = issue_token(oauth_client, secret)
    organization = admin_membership.organization.global_id

    # when
    response = client.get(
        f"/identity_/api/ExternalClient/{organization}",
        headers={"Authorization": f"Bearer {token}"},
    )

    # then
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="identity", error="insufficient_scope", scope="PM.OAuthApp.Read PM.OAuthApp"'
    )
    assert response.json() == {
        "detail": "The access token lacks the scope PM.OAuthApp.Read this operation requires "
        "(or PM.OAuthApp)."
    }
