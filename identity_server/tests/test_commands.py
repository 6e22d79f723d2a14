"""The operator's commands: create_client and rotate_signing_key."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from identity_server.models import SigningKey


def create_client(*args) -> dict:
    out = StringIO()
    call_command("create_client", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_create_client_prints_credentials_that_get_a_token(client, admin_membership):
    # given
    organization = admin_membership.organization

    # when
    credentials = create_client(
        "--org", organization.slug, "--name", "CI", "--scopes", "PM.OAuthApp OR.Machines"
    )

    # then
    assert credentials["partition_global_id"] == str(organization.global_id)
    response = client.post(
        "/identity_/connect/token",
        {
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "OR.Machines PM.OAuthApp"


def test_create_client_makes_machine_clients_in_a_tenant(admin_membership):
    organization = admin_membership.organization

    credentials = create_client(
        "--org", organization.slug, "--name", "Robot host", "--kind", "machine",
        "--tenant", "defaulttenant", "--scopes", "OrchestratorApiUserAccess",
    )  # fmt: skip

    client = organization.oauth_clients.get(client_id=credentials["client_id"])
    assert client.tenant.name == "DefaultTenant"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nowhere", "--name", "x"], "No organization"),
        (["--name", "x", "--scopes", "OR.Everything"], "Unknown scopes: OR.Everything"),
        (["--name", "x", "--kind", "machine"], "Machine clients"),
        (["--name", "x", "--tenant", "Nope"], "No tenant"),
    ],
)
def test_create_client_refuses_bad_input_and_creates_nothing(admin_membership, args, message):
    if "--org" not in args:
        args = ["--org", admin_membership.organization.slug, *args]

    with pytest.raises(CommandError, match=message):
        create_client(*args)

    assert not admin_membership.organization.oauth_clients.exists()


def test_rotate_signing_key_retires_the_current_key(db):
    call_command("rotate_signing_key", stdout=StringIO())
    first = SigningKey.objects.get()

    call_command("rotate_signing_key", stdout=StringIO())

    first.refresh_from_db()
    assert first.current is None
    assert first.retired_at is not None
    assert SigningKey.objects.get(current=True).kid != first.kid


def test_rotate_signing_key_refuses_a_mounted_key(settings, tmp_path):
    settings.IDENTITY_SIGNING_KEY_FILE = str(tmp_path / "key.pem")

    with pytest.raises(CommandError, match="IDENTITY_SIGNING_KEY_FILE"):
        call_command("rotate_signing_key")
