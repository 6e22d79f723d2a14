"""The application page's Keys section (SPEC §11) in the admin site, with the Django test
client: add (the API's messages beside the fields), list, delete after asking, the roles,
and another organization's keys."""

import pytest
from django.test import Client

from federation.models import KEYS_PER_APP, AppKey
from federation.tests.app_keys import SigningKey, registered_key
from federation.tests.factories import external_app
from federation.tests.test_views import _text, app_url, field_errors
from tenants.models import AuditEvent
from tenants.tests.factories import MembershipFactory


@pytest.fixture
def member(organization):
    reader = Client()
    reader.force_login(MembershipFactory(organization=organization, role="member").user)
    return reader


@pytest.fixture
def app(organization):
    return external_app(organization=organization)[0]


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey.rsa()


def test_an_admin_adds_a_key_and_sees_it_listed(admin, admin_membership, app, rsa_key):
    # when
    response = admin.post(
        app_url(app, "keys"), {"name": "CI signer", "publicKeyPem": rsa_key.public_pem}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == app_url(app) + "#keys"
    key = AppKey.objects.get(app=app)
    page = _text(admin.get(app_url(app)))
    assert "CI signer" in page and key.thumbprint in page and "RSA 2048" in page
    event = AuditEvent.objects.get(action="app_key.create")
    assert (event.actor_kind, event.actor_name) == ("user", admin_membership.user.username)


def test_a_private_key_is_refused_beside_its_field_in_the_apis_words(admin, app, rsa_key):
    response = admin.post(
        app_url(app, "keys"), {"name": "Oops", "publicKeyPem": rsa_key.private_pem}
    )

    assert response.status_code == 200
    assert field_errors(response, "publicKeyPem") == [
        "This is a private key: register only its public key. It was not stored; treat the "
        "private key as exposed and replace it."
    ]
    assert "PRIVATE KEY" not in _text(response)
    assert not AppKey.objects.exists()


def test_giving_no_key_is_said_beside_the_name(admin, app):
    response = admin.post(app_url(app, "keys"), {"name": "Nothing"})

    assert field_errors(response, "name") == [
        "Give exactly one of publicKeyPem, certificatePem or jwksUri."
    ]


def test_deleting_a_key_asks_first(admin, app, rsa_key):
    key = registered_key(app, rsa_key)
    url = app_url(app, "keys", key.pk, "delete")

    asked = admin.post(url)
    assert 'name="confirmed" value="yes"' in _text(asked)
    assert AppKey.objects.filter(pk=key.pk).exists()

    done = admin.post(url, {"confirmed": "yes"})
    assert done.status_code == 302
    assert not AppKey.objects.exists()
    assert AuditEvent.objects.filter(action="app_key.delete").exists()


def test_at_the_limit_the_form_says_why_instead(admin, app):
    for number in range(KEYS_PER_APP):
        registered_key(app, SigningKey.ec(), name=f"Key {number}")

    page = _text(admin.get(app_url(app)))

    assert "An application has at most 5 keys; delete one first." in page
    assert 'name="publicKeyPem"' not in page


def test_a_member_reads_the_keys_but_cannot_change_them(member, app, rsa_key):
    key = registered_key(app, rsa_key, name="Listed")

    page = member.get(app_url(app))
    added = member.post(app_url(app, "keys"), {"name": "New", "publicKeyPem": rsa_key.public_pem})
    deleted = member.post(app_url(app, "keys", key.pk, "delete"), {"confirmed": "yes"})

    assert "Listed" in _text(page) and 'name="publicKeyPem"' not in _text(page)
    assert added.status_code == 403
    assert deleted.status_code == 403
    assert AppKey.objects.count() == 1


def test_another_organizations_key_is_not_found(admin, app, rsa_key, other_admin_membership):
    foreign_app, _ = external_app(organization=other_admin_membership.organization)
    foreign_key = registered_key(foreign_app, rsa_key)

    response = admin.post(app_url(app, "keys", foreign_key.pk, "delete"), {"confirmed": "yes"})

    assert response.status_code == 404
    assert AppKey.objects.filter(pk=foreign_key.pk).exists()
