import pytest

from identity_server.tests.factories import client_with_secret
from tenants.services import Actor, audit_record
from tenants.tests.factories import UserFactory


@pytest.mark.django_db
def test_superusers_reach_the_django_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/django-admin/tenants/organization/")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param({"is_staff": True}, id="staff-without-superuser"),
        pytest.param({}, id="organization-admin"),
    ],
)
@pytest.mark.django_db
def test_everyone_else_is_sent_to_the_admin_sign_in(client, admin_membership, flags):
    user = admin_membership.user
    for name, value in flags.items():
        setattr(user, name, value)
    user.save()
    client.force_login(user)

    response = client.get("/django-admin/tenants/organization/")

    assert response.status_code == 302
    assert response.url.startswith("/django-admin/login/")


@pytest.mark.django_db
def test_the_audit_log_is_read_only_in_the_django_admin(client):
    event = audit_record(action="x.y", actor=Actor.system("t"))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(f"/django-admin/tenants/auditevent/{event.pk}/delete/").status_code == 403
    assert client.post(f"/django-admin/tenants/auditevent/{event.pk}/change/").status_code == 403
    assert client.get("/django-admin/tenants/auditevent/add/").status_code == 403


@pytest.mark.django_db
def test_oauth_clients_are_read_only_in_the_django_admin(client, admin_membership):
    # given
    oauth_client, _secret = client_with_secret(organization=admin_membership.organization)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = f"/django-admin/identity_server/oauthclient/{oauth_client.pk}/change/"

    # when
    listing = client.get("/django-admin/identity_server/oauthclient/")
    detail = client.get(page)
    post = client.post(page, {"name": "renamed"})

    # then
    assert listing.status_code == detail.status_code == 200
    assert oauth_client.secrets.get().prefix in detail.content.decode()
    assert post.status_code == 403
    assert client.get("/django-admin/identity_server/oauthclient/add/").status_code == 403
    assert client.get("/django-admin/oauth2_provider/accesstoken/").status_code == 404


def test_the_admin_signs_in_through_the_sites_sign_in_page(client):
    # when: the admin's own sign-in form is asked for
    response = client.get("/django-admin/login/?next=/django-admin/tenants/organization/")

    # then: the site's (throttled, audited, SPEC §9's "this provider only"), and back
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/django-admin/tenants/organization/"
    assert client.post("/django-admin/login/", {"username": "x", "password": "y"}).url == (
        "/accounts/login/?next=/django-admin/"
    )
