import uuid

import pytest

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
    assert body["organization"] == {"id": str(organization.global_id), "name": organization.name}
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
