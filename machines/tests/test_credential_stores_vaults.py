"""Each kind of vault through the CredentialStores and Robots APIs (SPEC §12), against the
real servers on loopback of tests/fakes and moto: create, test connection with good and
bad credentials, a robot's password written (read-write) or found (read-only), deletion
with and without forceDelete, a vault down as a 400 naming the store, and no password or
store secret in any log."""

import json
import logging
import time

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from machines import credential_stores
from machines.models import Robot
from machines.tests.test_vaults import _store, closed_port, listener  # noqa: F401 - fixtures
from tenants.models import AuditEvent

PASSWORD = "Robot-Vault-P@ss-2b9d41"
ACTIONS = "UiPath.Server.Configuration.OData"
KINDS = ("hashicorp_kv2", "aws", "azure", "cyberark")


def odata(tenant, entity_set: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/{entity_set}"


def store_url(tenant, store_id, action: str = "") -> str:
    suffix = f"/{ACTIONS}.{action}" if action else ""
    return odata(tenant, f"CredentialStores({store_id})") + suffix


@pytest.fixture
def api(client, issue_token, tenant):
    app, secret = client_with_secret(
        organization=tenant.organization, scopes=("OR.Settings", "OR.Robots"), name="admin"
    )
    return Api(client, issue_token(app, secret))


@pytest.fixture(params=KINDS)
def vault(request):
    """One kind's server and settings (machines/tests/test_vaults.py's Store)."""
    return _store(request, request.param)


@pytest.fixture(params=[kind for kind in KINDS if kind != "cyberark"])
def writable_vault(request):
    """A kind that comes read-write (CyberArk CCP is read-only)."""
    return _store(request, request.param)


def configuration(vault, type: str, *, fields=None, secrets=None) -> dict:
    """The vault's settings under the API's names (credential_stores.KINDS)."""
    names = {s.key: s.name for s in credential_stores.KINDS[type].settings}
    values = {
        **vault.fields,
        **(fields or {}),
        **vault.secrets,
        **(secrets or {}),
        "ca_pem": vault.ca_pem,
    }
    if vault.cert[0]:
        values.update(client_cert_pem=vault.cert[0], client_key_pem=vault.cert[1])
    return {names[key]: value for key, value in values.items()}


def types_of(vault) -> tuple[str | None, str]:
    """The kind's read-write type (None for CyberArk) and its read-only one."""
    if vault.read_only:
        return None, vault.kind
    return vault.kind, vault.kind + "ReadOnly"


def create(api, tenant, vault, type: str, name: str, **settings) -> dict:
    body = {
        "Name": name,
        "Type": type,
        "AdditionalConfiguration": configuration(vault, type, **settings),
    }
    response = api.post(odata(tenant, "CredentialStores"), body)
    assert response.status_code == 201, response.content
    return response.json()


def test_connection_with_good_and_bad_credentials(api, tenant, vault):
    # given
    _, read_only = types_of(vault)
    good = create(api, tenant, vault, read_only, "Good")
    bad = create(
        api, tenant, vault, read_only, "Bad", fields=vault.bad_fields, secrets=vault.bad_secrets
    )

    # when
    ok = api.post(store_url(tenant, good["Id"], "TestConnection"), {})
    refused = api.post(store_url(tenant, bad["Id"], "TestConnection"), {})

    # then
    assert ok.status_code == 200, ok.content
    assert ok.json()["Connected"] is True
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("Credential store “Bad”:")
    event = AuditEvent.objects.filter(action="credential_store.test").latest("pk")
    assert (event.outcome, event.reason_code) == ("failure", "unauthorized")


def test_a_read_write_store_keeps_the_password_and_the_robot_only_its_name(
    api, tenant, writable_vault
):
    vault = writable_vault
    read_write, _ = types_of(vault)
    # given
    store = create(api, tenant, vault, read_write, "RW")

    # when
    created = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store["Id"], "Password": PASSWORD},
    )
    tested = api.post(
        store_url(tenant, store["Id"], "TestConnection"), {"robotId": created.json()["Id"]}
    )

    # then
    assert created.status_code == 201, created.content
    assert created.json()["HasCredential"] is True
    robot = Robot.objects.get()
    assert robot.secret_name == f"uipath-robot-{robot.key}"
    assert vault.stored(robot.secret_name) == PASSWORD
    assert tested.json()["Robot"]["Credential"] == "Found"
    assert PASSWORD not in created.content.decode() + tested.content.decode()
    # a new password replaces the old one in the vault, under the same name
    changed = api.patch(odata(tenant, f"Robots({robot.pk})"), {"Password": PASSWORD + "2"})
    assert changed.status_code == 200, changed.content
    assert vault.stored(robot.secret_name) == PASSWORD + "2"
    # deleting the robot deletes its password from the vault
    assert api.delete(odata(tenant, f"Robots({robot.pk})")).status_code == 204
    assert vault.stored(robot.secret_name) is None


def test_deleting_a_read_write_store_with_force_deletes_the_passwords_it_holds(
    api, tenant, writable_vault
):
    vault = writable_vault
    read_write, _ = types_of(vault)
    # given
    store = create(api, tenant, vault, read_write, "RW")
    created = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store["Id"], "Password": PASSWORD},
    )
    assert created.status_code == 201, created.content
    secret_name = Robot.objects.get().secret_name

    # when
    refused = api.delete(store_url(tenant, store["Id"]))
    kept = vault.stored(secret_name)
    forced = api.delete(store_url(tenant, store["Id"]) + "?forceDelete=true")

    # then
    assert refused.status_code == 400, refused.content
    assert kept == PASSWORD
    assert forced.status_code == 204
    assert vault.stored(secret_name) is None
    robot = Robot.objects.get()
    assert (robot.credential_store_id, robot.secret_name) == (None, "")


def test_a_read_only_store_finds_the_password_by_external_name(api, tenant, vault):
    # given
    _, read_only = types_of(vault)
    store = create(api, tenant, vault, read_only, "RO")
    vault.seed("corp-robot", PASSWORD)

    # when
    refused = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store["Id"], "Password": PASSWORD},
    )
    found = api.post(
        odata(tenant, "Robots"),
        {
            "Name": "R",
            "Username": "u",
            "CredentialStoreId": store["Id"],
            "ExternalName": "corp-robot",
        },
    ).json()
    missing = api.post(
        odata(tenant, "Robots"),
        {"Name": "M", "Username": "u", "CredentialStoreId": store["Id"], "ExternalName": "nobody"},
    ).json()

    # then
    assert refused.status_code == 400
    assert found["HasCredential"] is True
    robot = Robot.objects.get(pk=found["Id"])
    assert credential_stores.robot_password_resolve(robot=robot, actor=_actor()) == PASSWORD
    for robot_id, result in ((found["Id"], "Found"), (missing["Id"], "NotFound")):
        answer = api.post(store_url(tenant, store["Id"], "TestConnection"), {"robotId": robot_id})
        assert answer.json()["Robot"]["Credential"] == result
    # a store robots use goes only with forceDelete
    assert api.delete(store_url(tenant, store["Id"])).status_code == 400
    assert api.delete(store_url(tenant, store["Id"]) + "?forceDelete=true").status_code == 204
    assert not Robot.objects.filter(credential_store__isnull=False).exists()


def test_a_vault_down_is_a_400_naming_the_store(api, tenant, vault, closed_port, settings):  # noqa: F811
    # given: allowlisted, so that the call is made, to a port nobody listens on
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{closed_port}",
    ]
    url = f"https://127.0.0.1:{closed_port}"
    field = "authority_host" if vault.kind == "AzureKeyVault" else vault.url_field
    _, read_only = types_of(vault)
    store = create(api, tenant, vault, read_only, "Down", fields={field: url})

    # when
    response = api.post(store_url(tenant, store["Id"], "TestConnection"), {})

    # then
    assert response.status_code == 400
    assert response.json()["message"].startswith("Credential store “Down”:")
    assert f"no connection to 127.0.0.1:{closed_port}" in response.json()["message"]
    event = AuditEvent.objects.get(action="credential_store.test")
    assert event.reason_code == "vault_unreachable"


def test_a_password_for_a_vault_down_is_a_400_and_no_robot(
    api,
    tenant,
    writable_vault,
    closed_port,  # noqa: F811
    settings,
):
    vault = writable_vault
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{closed_port}",
    ]
    url = f"https://127.0.0.1:{closed_port}"
    field = "authority_host" if vault.kind == "AzureKeyVault" else vault.url_field
    read_write, _ = types_of(vault)
    store = create(api, tenant, vault, read_write, "Down", fields={field: url})

    response = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store["Id"], "Password": PASSWORD},
    )

    assert response.status_code == 400
    assert "Credential store “Down”:" in response.json()["message"]
    assert not Robot.objects.exists()


def test_a_vault_that_hangs_is_a_400_within_the_deadline(api, tenant, vault, listener, settings):  # noqa: F811
    # given: a port that accepts and never answers
    settings.CREDENTIAL_STORE_TIMEOUT_SECONDS = 1
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{listener.port}",
    ]
    field = "authority_host" if vault.kind == "AzureKeyVault" else vault.url_field
    _, read_only = types_of(vault)
    store = create(
        api, tenant, vault, read_only, "Slow", fields={field: f"https://127.0.0.1:{listener.port}"}
    )

    # when
    started = time.monotonic()
    response = api.post(store_url(tenant, store["Id"], "TestConnection"), {})

    # then
    assert time.monotonic() - started < 3
    assert response.status_code == 400
    assert response.json()["message"].startswith("Credential store “Slow”:")


def test_no_password_or_store_secret_in_any_log(api, tenant, vault, caplog, capsys):
    # given
    caplog.set_level(logging.DEBUG)
    read_write, read_only = types_of(vault)
    vault.seed("corp-robot", PASSWORD)

    # when
    ro = create(api, tenant, vault, read_only, "RO")
    robot = api.post(
        odata(tenant, "Robots"),
        {"Name": "A", "Username": "u", "CredentialStoreId": ro["Id"], "ExternalName": "corp-robot"},
    ).json()
    api.post(store_url(tenant, ro["Id"], "TestConnection"), {"robotId": robot["Id"]})
    if read_write is not None:
        rw = create(api, tenant, vault, read_write, "RW")
        api.post(
            odata(tenant, "Robots"),
            {"Name": "B", "Username": "u", "CredentialStoreId": rw["Id"], "Password": PASSWORD},
        )

    # then
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    logged += "".join(capsys.readouterr())
    audit = json.dumps([e.details for e in AuditEvent.objects.all()])
    for secret in [PASSWORD, *vault.secrets.values()]:
        assert secret not in logged
        assert secret not in audit


def _actor():
    from tenants.services import Actor

    return Actor.system("tests")


def test_deleting_a_robot_while_its_vault_is_down_is_audited_not_refused(
    api,
    tenant,
    request,
    closed_port,  # noqa: F811
    settings,
):
    # given: a robot whose password is in a read-write vault, which then goes away
    vault = _store(request, "hashicorp_kv2")
    store = create(api, tenant, vault, "HashiCorpVault", "RW")
    robot = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store["Id"], "Password": PASSWORD},
    ).json()
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{closed_port}",
    ]
    moved = api.patch(
        store_url(tenant, store["Id"]),
        {"AdditionalConfiguration": {"VaultUri": f"https://127.0.0.1:{closed_port}"}},
    )
    assert moved.status_code == 200, moved.content

    # when
    response = api.delete(odata(tenant, f"Robots({robot['Id']})"))

    # then: the robot is gone; the password left behind is in the audit log, never its value
    assert response.status_code == 204
    assert not Robot.objects.exists()
    event = AuditEvent.objects.get(action="credential.delete")
    assert (event.outcome, event.reason_code) == ("failure", "vault_unreachable")
    assert event.details["store"] == "RW"
    assert PASSWORD not in json.dumps(event.details)
