import pytest
from django.urls import reverse

from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory


def test_signing_in_shows_the_users_organizations(client, admin_membership, other_admin_membership):
    # when
    response = client.post(
        reverse("login"),
        {"username": admin_membership.user.username, "password": PASSWORD},
        follow=True,
    )

    # then
    assert response.redirect_chain[-1][0] == reverse("home")
    page = response.content.decode()
    assert admin_membership.organization.name in page
    assert other_admin_membership.organization.name not in page


def test_a_wrong_password_is_refused_with_a_message(client, admin_membership):
    response = client.post(
        reverse("login"), {"username": admin_membership.user.username, "password": "nope"}
    )

    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_user_without_organizations_sees_an_empty_state(client):
    client.force_login(UserFactory())

    response = client.get(reverse("home"))

    assert "not a member of any organization" in response.content.decode()


def test_the_organization_page_lists_its_tenants_and_ids(client, admin_membership):
    organization = admin_membership.organization
    client.force_login(admin_membership.user)

    response = client.get(reverse("organization", args=[organization.slug]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "DefaultTenant" in page
    assert str(organization.global_id) in page
    assert str(organization.tenants.get().global_id) in page


@pytest.mark.django_db
def test_a_plain_member_may_view_the_organization_page(client):
    membership = MembershipFactory(role="member")
    client.force_login(membership.user)

    response = client.get(reverse("organization", args=[membership.organization.slug]))

    assert response.status_code == 200


def test_another_organizations_page_is_the_same_404_as_a_missing_one(
    client, admin_membership, other_admin_membership
):
    client.force_login(admin_membership.user)

    foreign = client.get(reverse("organization", args=[other_admin_membership.organization.slug]))
    missing = client.get(reverse("organization", args=["no-such-org"]))

    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert other_admin_membership.organization.name not in foreign.content.decode()


@pytest.mark.parametrize("url_name", ["home", "organization"])
def test_pages_send_anonymous_visitors_to_sign_in(client, admin_membership, url_name):
    args = [admin_membership.organization.slug] if url_name == "organization" else []

    response = client.get(reverse(url_name, args=args))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_signing_out_ends_the_session(client, admin_membership):
    client.force_login(admin_membership.user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302
