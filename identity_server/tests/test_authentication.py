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
