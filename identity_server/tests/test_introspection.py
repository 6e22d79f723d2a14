"""RFC 7662 introspection and RFC 7009 revocation, limited to the caller's own tokens."""

import pytest

from identity_server import services
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import assert_refused, failure_reasons
from identity_server.validators import NOT_AUTHENTICATED, WRONG_CREDENTIALS
from tenants.models import AuditEvent

INTROSPECT_URL = "/identity_/connect/introspect"
REVOKE_URL = "/identity_/connect/revocation"


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization, name="App")


def introspect(client, caller, token):
    oauth_client, secret = caller
    return client.post(
        INTROSPECT_URL,
        {"token": token, "client_id": oauth_client.client_id, "client_secret": secret},
    )


def test_a_client_introspects_its_own_token(client, app, issue_token):
    token = issue_token(*app)

    response = introspect(client, app, token)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == app[0].client_id
    assert body["scope"] == "OR.Machines"
    assert body["token_type"] == "Bearer"
    assert body["exp"] > body["iat"]


def test_another_clients_token_is_inactive_for_the_caller(
    client, app, admin_membership, issue_token
):
    other = client_with_secret(organization=admin_membership.organization, name="Other")

    response = introspect(client, other, issue_token(*app))

    assert response.json() == {"active": False}


def test_the_introspection_scope_reaches_its_organizations_tokens_only(
    client, app, admin_membership, other_admin_membership, issue_token
):
    # given
    gateway = client_with_secret(
        organization=admin_membership.organization, scopes=["Identity.Introspection"]
    )
    foreign_gateway = client_with_secret(
        organization=other_admin_membership.organization, scopes=["Identity.Introspection"]
    )
    token = issue_token(*app)

    # then
    assert introspect(client, gateway, token).json()["active"] is True
    assert introspect(client, foreign_gateway, token).json() == {"active": False}


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_is_inactive_not_an_error(client, app, token):
    response = introspect(client, app, token)

    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_introspection_needs_client_authentication(client, app, issue_token):
    oauth_client, _secret = app
    token = issue_token(*app)

    response = client.post(
        INTROSPECT_URL,
        {"token": token, "client_id": oauth_client.client_id, "client_secret": "idsec_wrong"},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert AuditEvent.objects.filter(action="token.request", reason_code="wrong_secret").exists()


def test_revoking_its_own_token_makes_it_inactive(client, app, issue_token):
    # given
    oauth_client, secret = app
    token = issue_token(*app)

    # when
    response = client.post(
        REVOKE_URL,
        {"token": token, "client_id": oauth_client.client_id, "client_secret": secret},
    )

    # then
    assert response.status_code == 200
    assert introspect(client, app, token).json() == {"active": False}
    assert AuditEvent.objects.filter(action="token.revoke", target_id__isnull=False).count() == 1


def test_a_client_cannot_revoke_another_clients_token(client, app, admin_membership, issue_token):
    # given
    other_client, other_secret = client_with_secret(
        organization=admin_membership.organization, name="Other"
    )
    token = issue_token(*app)

    # when
    response = client.post(
        REVOKE_URL,
        {"token": token, "client_id": other_client.client_id, "client_secret": other_secret},
    )

    # then RFC 7009 §2.2: the same 200, and nothing revoked
    assert response.status_code == 200
    assert introspect(client, app, token).json()["active"] is True


def test_a_token_of_a_deleted_secret_is_inactive(client, app, issue_token):
    # given
    oauth_client, first = app
    second_row, second = services.client_secret_create(client=oauth_client, actor=TEST_ACTOR)
    token_of_second = issue_token(oauth_client, second)
    token_of_first = issue_token(oauth_client, first)

    # when
    services.client_secret_delete(secret=second_row, actor=TEST_ACTOR)

    # then
    assert introspect(client, app, token_of_second).json() == {"active": False}
    assert introspect(client, app, token_of_first).json()["active"] is True


def test_a_token_of_a_deleted_client_is_inactive(client, app, admin_membership, issue_token):
    gateway = client_with_secret(
        organization=admin_membership.organization, scopes=["Identity.Introspection"]
    )
    token = issue_token(*app)

    services.client_delete(client=app[0], actor=TEST_ACTOR)

    assert introspect(client, gateway, token).json() == {"active": False}


@pytest.mark.parametrize("url", [INTROSPECT_URL, REVOKE_URL])
@pytest.mark.parametrize(
    ("form", "error", "status", "reason", "description"),
    [
        pytest.param(
            {"token": "x", "client_secret": "idsec_wrong"},
            "invalid_client", 401, "wrong_secret", WRONG_CREDENTIALS,
            id="wrong secret",
        ),
        pytest.param(
            {"token": "x", "client_secret": ""},
            "invalid_client", 401, "missing_secret", NOT_AUTHENTICATED,
            id="no secret",
        ),
        pytest.param(
            {}, "invalid_request", 400, "invalid_request", "Missing token parameter.",
            id="no token",
        ),
    ],
)  # fmt: skip
def test_refusals_say_what_was_wrong(client, app, url, form, error, status, reason, description):
    # given
    oauth_client, secret = app
    credentials = {"client_id": oauth_client.client_id, "client_secret": secret}

    # when
    response = client.post(url, {**credentials, **form})

    # then
    assert_refused(response, error, status, description)
    assert failure_reasons() == [reason]


@pytest.mark.parametrize(
    ("url", "answer"), [(INTROSPECT_URL, b'{"active": false}'), (REVOKE_URL, b"")]
)
def test_a_refresh_token_hint_is_served_since_users_have_refresh_tokens(client, app, url, answer):
    # SPEC §8 brought refresh tokens, which RFC 7009 §2 says can be revoked; an unknown one
    # is the same 200 as any other token, and introspection says inactive (RFC 7662 §2.2).
    oauth_client, secret = app
    form = {"client_id": oauth_client.client_id, "client_secret": secret, "token": "idrt_x"}

    response = client.post(url, {**form, "token_type_hint": "refresh_token"})

    assert response.status_code == 200
    assert response.content == answer
