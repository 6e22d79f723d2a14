"""The demo seed of `make run`, and signing in with what it prints."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from tenants.models import AuditEvent, Membership, Organization, Tenant


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_signing_in_as_the_printed_demo_admin_shows_the_demo_organization(client, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    # given
    output = _seed()
    username, password = re.search(r"username '(\w+)', password '([^']+)'", output).groups()

    # when
    response = client.post(
        reverse("login"), {"username": username, "password": password}, follow=True
    )

    # then
    assert "Demo Organization" in response.content.decode()
    organization_page = client.get(reverse("organization", args=["demo"])).content.decode()
    assert "DefaultTenant" in organization_page


@pytest.mark.django_db
def test_seeding_twice_creates_nothing_twice_and_never_reprints_the_password(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    _seed()
    counts = (Organization.objects.count(), Tenant.objects.count(), AuditEvent.objects.count())

    second = _seed()

    assert "password '" not in second
    assert "exists" in second
    assert counts == (
        Organization.objects.count(),
        Tenant.objects.count(),
        AuditEvent.objects.count(),
    )
    assert Membership.objects.get().role == "admin"


@pytest.mark.django_db
def test_the_demo_password_can_come_from_the_environment(client, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-chosen-demo-password")

    output = _seed()

    assert "a-chosen-demo-password" in output
    assert client.login(username="admin", password="a-chosen-demo-password")


@pytest.mark.django_db
def test_the_printed_demo_app_credentials_get_a_token(client, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    # given
    output = _seed()
    client_id, secret = re.search(r"client_id=(\S+) -d client_secret=(\S+)", output).groups()

    # when
    response = client.post(
        "/identity_/connect/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )

    # then
    assert response.status_code == 200
    assert "PM.OAuthApp" in response.json()["scope"].split()
    assert secret not in _seed()
