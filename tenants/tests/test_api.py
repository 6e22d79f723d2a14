import uuid

import pytest

from identity_server.tests.factories import client_with_secret
from machines.tests.factories import machine_with_secret
from tenants.tests.factories import TenantFactory

URL = "/{}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo"


def test_tenant_info_lists_the_organization_and_its_tenants(client, admin_membership):
    # given
    organization = admin_membership.organization
    second = TenantFactory(organization=organization, name="Finance")
    client.force_login(admin_membership.user)

    # when
    response = client.get(URL.format(organization.global_id))

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["organization"] == {
        "id": str(organization.global_id),
        "name": organization.slug,  # the URL's name, as UiPath's: clients build URLs from it
        "displayName": organization.name,
    }
    assert body["tenants"] == [
        {"id": str(t.global_id), "name": t.name}
        for t in sorted([organization.tenants.get(name="DefaultTenant"), second], key=str)
    ]


def test_tenant_info_needs_a_signed_in_user(client, admin_membership):
    response = client.get(URL.format(admin_membership.organization.global_id))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"]
    assert response.headers["Content-Type"] == "application/json"
    assert "organization" not in response.json()


@pytest.mark.parametrize(
    "global_id",
    [
        pytest.param(lambda other: other.organization.global_id, id="other-organization"),
        pytest.param(lambda other: uuid.uuid4(), id="missing"),
        pytest.param(lambda other: "not-a-uuid", id="malformed"),
    ],
)
def test_tenant_info_of_another_organization_is_the_same_404_as_a_missing_one(
    client, admin_membership, other_admin_membership, global_id
):
    client.force_login(admin_membership.user)

    response = client.get(URL.format(global_id(other_admin_membership)))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- a bearer token of the organization (SPEC §2: what `uipath auth` sends) ----------------


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization, scopes=("OR.Execution",))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tenant_info_answers_a_token_of_the_organization(
    client, admin_membership, app, issue_token
):
    # given: an app token, no session
    organization = admin_membership.organization
    token = issue_token(*app, scope="OR.Execution")

    # when
    response = client.get(URL.format(organization.global_id), headers=bearer(token))

    # then
    assert response.status_code == 200
    assert response.json() == {
        "organization": {
            "id": str(organization.global_id),
            "name": organization.slug,
            "displayName": organization.name,
        },
        "tenants": [{"id": str(t.global_id), "name": t.name} for t in organization.tenants.all()],
    }


def test_tenant_info_shows_a_machine_token_only_its_own_tenant(
    client, admin_membership, issue_token
):
    # given: two tenants, and a machine of one of them
    organization = admin_membership.organization
    own = organization.tenants.get()
    TenantFactory(organization=organization, name="Finance")
    machine, secret = machine_with_secret(tenant=own)

    # when
    response = client.get(
        URL.format(organization.global_id), headers=bearer(issue_token(machine.client, secret))
    )

    # then: a machine's token is bound to its tenant (tenants.access)
    assert response.status_code == 200
    assert response.json() == {
        "organization": {
            "id": str(organization.global_id),
            "name": organization.slug,
            "displayName": organization.name,
        },
        "tenants": [{"id": str(own.global_id), "name": own.name}],
    }


def test_tenant_info_refuses_a_token_of_another_organization_with_the_same_404(
    client, admin_membership, other_admin_membership, issue_token
):
    # given: a valid token of the other organization
    foreign = client_with_secret(organization=other_admin_membership.organization)
    token = issue_token(*foreign)

    # when: it asks for our organization, and for one that does not exist
    ours = client.get(URL.format(admin_membership.organization.global_id), headers=bearer(token))
    missing = client.get(URL.format(uuid.uuid4()), headers=bearer(token))

    # then: the same 404, nothing of ours in it
    assert ours.status_code == missing.status_code == 404
    assert ours.content == missing.content
    assert ours.json() == {"detail": "Not found."}


def test_tenant_info_refuses_a_revoked_token(client, admin_membership, app, issue_token):
    # given: the app revoked its token (RFC 7009)
    token = issue_token(*app)
    oauth_client, secret = app
    revoked = client.post(
        "/identity_/connect/revocation",
        {"token": token, "client_id": oauth_client.client_id, "client_secret": secret},
    )
    assert revoked.status_code == 200

    # when
    response = client.get(
        URL.format(admin_membership.organization.global_id), headers=bearer(token)
    )

    # then
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "organization" not in response.json()


def test_tenant_info_refuses_an_expired_token(client, admin_membership, app, issue_token, settings):
    settings.ACCESS_TOKEN_LIFETIME = -120  # issued already expired, beyond the leeway
    token = issue_token(*app)

    response = client.get(
        URL.format(admin_membership.organization.global_id), headers=bearer(token)
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "organization" not in response.json()


def test_a_bad_token_is_refused_even_beside_an_admins_session(client, admin_membership):
    # A token that fails is a 401, not a fall-back to the session (RFC 6750 §3.1).
    client.force_login(admin_membership.user)

    response = client.get(
        URL.format(admin_membership.organization.global_id), headers=bearer("not.a.token")
    )

    assert response.status_code == 401
    assert "organization" not in response.json()
