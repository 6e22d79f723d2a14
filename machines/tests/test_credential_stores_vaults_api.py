"""The CredentialStores and Robots OData APIs with each kind of vault store, end to end over
real sockets (SPEC §12): HashiCorp Vault, Azure Key Vault and CyberArk CCP through the HTTPS
fakes of tests/fakes, AWS Secrets Manager through moto's server. For each kind: create,
TestConnection with good and bad credentials, a robot's password written (read-write) or
found (read-only), deletion with and without forceDelete, a vault down answering a 400 that
names the store, and no password or store secret in any log."""

import json
import logging
import socket
from dataclasses import dataclass

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from machines.models import Robot
from machines.tests.test_credential_stores_api import odata, store_url
from tenants.models import AuditEvent
from tests.fakes import azure_keyvault as az
from tests.fakes import cyberark_ccp as ccp
from tests.fakes import vault as hv
from tests.fakes.aws import REGION

PASSWORD = "Robot-Vault-P@ss-5e2b91"
SECRET_SETTINGS = ("SecretId", "SecretAccessKey", "ClientSecret", "ClientCertificateKey")


@dataclass
class Kind:
    type: str
    configuration: dict  # API names
    bad: dict  # a setting that makes the credentials wrong
    url_setting: str
    read_only: bool
    seed: object  # (name, value): puts a secret as the vault's admins would
    stored: object  # name → the value the vault holds, or None

    @property
    def secrets(self) -> list[str]:
        """The values of the store's secret settings, good and bad."""
        return [
            settings[name]
            for settings in (self.configuration, self.bad)
            for name in SECRET_SETTINGS
            if name in settings
        ]


def _hashicorp(fake_vault, type):
    def stored(name):
        return (fake_vault.get("secret", f"robots/{name}") or {}).get("password")

    return Kind(
        type=type,
        configuration={
            "VaultUri": fake_vault.base_url,
            "AuthenticationType": "AppRole",
            "RoleId": hv.ROLE_ID,
            "SecretId": hv.SECRET_ID,
            "SecretsEngineMountPath": "secret",
            "KvVersion": "2",
            "DataPath": "robots",
            "CaCertificate": fake_vault.ca_pem,
        },
        bad={"SecretId": "not-the-secret-id"},
        url_setting="VaultUri",
        read_only=type.endswith("ReadOnly"),
        seed=lambda name, value: fake_vault.put("secret", f"robots/{name}", {"password": value}),
        stored=stored,
    )


def _aws(moto_server, type):
    def stored(name):
        client = moto_server.client()
        try:
            answer = client.get_secret_value(SecretId=name)
        except client.exceptions.ResourceNotFoundException:
            return None
        return json.loads(answer["SecretString"])["Value"]

    return Kind(
        type=type,
        configuration={
            "Region": REGION,
            "AccessKeyId": moto_server.access_key_id,
            "SecretAccessKey": moto_server.secret_access_key,
            "EndpointUrl": moto_server.url,
            "CaCertificate": moto_server.ca_pem,
        },
        bad={"SecretAccessKey": "wrong" + moto_server.secret_access_key[5:]},
        url_setting="EndpointUrl",
        read_only=type.endswith("ReadOnly"),
        seed=lambda name, value: moto_server.client().create_secret(
            Name=name, SecretString=json.dumps({"Value": value})
        ),
        stored=stored,
    )


def _azure(fake_key_vault, type):
    return Kind(
        type=type,
        configuration={
            "KeyVaultUri": fake_key_vault.vault_uri,
            "DirectoryId": az.TENANT,
            "ClientId": az.CLIENT_ID,
            "ClientSecret": az.CLIENT_SECRET,
            "AuthorityHost": fake_key_vault.authority_host,
            "CaCertificate": fake_key_vault.ca_pem,
        },
        bad={"ClientSecret": "not-the-client-secret"},
        url_setting="KeyVaultUri",
        read_only=type.endswith("ReadOnly"),
        seed=fake_key_vault.put,
        stored=fake_key_vault.get,
    )


def _cyberark(fake_ccp, type):
    certificate, key = fake_ccp.pem(fake_ccp.client_cert)
    return Kind(
        type=type,
        configuration={
            "CentralCredentialProviderUrl": fake_ccp.base_url,
            "AppId": ccp.APP_ID,
            "Safe": ccp.SAFE,
            "Folder": ccp.FOLDER,
            "ClientCertificate": certificate,
            "ClientCertificateKey": key,
            "CaCertificate": fake_ccp.ca_pem,
        },
        bad={"AppId": "NotOrchestrator"},
        url_setting="CentralCredentialProviderUrl",
        read_only=True,
        seed=fake_ccp.put,
        stored=lambda name: None,
    )


TYPES = {
    "HashiCorpVault": ("fake_vault", _hashicorp),
    "HashiCorpVaultReadOnly": ("fake_vault", _hashicorp),
    "AWSSecretsManager": ("moto_server", _aws),
    "AWSSecretsManagerReadOnly": ("moto_server", _aws),
    "AzureKeyVault": ("fake_key_vault", _azure),
    "AzureKeyVaultReadOnly": ("fake_key_vault", _azure),
    "CyberArkCCP": ("fake_ccp", _cyberark),
}


@pytest.fixture
def api(client, issue_token, tenant):
    app, secret = client_with_secret(
        organization=tenant.organization, scopes=("OR.Settings", "OR.Robots"), name="vaults"
    )
    return Api(client, issue_token(app, secret))


@pytest.fixture(params=list(TYPES))
def kind(request) -> Kind:
    fixture, make = TYPES[request.param]
    return make(request.getfixturevalue(fixture), request.param)


def _create(api, tenant, kind, name="Corp vault", **changes):
    body = {
        "Name": name,
        "Type": kind.type,
        "AdditionalConfiguration": {**kind.configuration, **changes},
    }
    response = api.post(odata(tenant, "CredentialStores"), body)
    assert response.status_code == 201, response.content
    return response.json()["Id"]


def _robot(api, tenant, kind, store_id, name="R1", external_name="corp-robot-1"):
    """A robot of the store: with a password (read-write) or an external name (read-only)."""
    body = {"Name": name, "Username": "corp\\robot", "CredentialStoreId": store_id}
    if kind.read_only:
        body["ExternalName"] = external_name
    else:
        body["Password"] = PASSWORD
    response = api.post(odata(tenant, "Robots"), body)
    assert response.status_code == 201, response.content
    return response.json()


def _test(api, tenant, store_id, robot_id=None):
    body = {} if robot_id is None else {"robotId": robot_id}
    return api.post(store_url(tenant, store_id, "TestConnection"), body)


def test_create_and_test_connection(api, tenant, kind):
    store_id = _create(api, tenant, kind)

    shown = api.get(store_url(tenant, store_id))
    tested = _test(api, tenant, store_id)

    assert shown.status_code == 200
    for secret in kind.secrets:
        assert secret not in shown.content.decode()
    assert tested.status_code == 200, tested.content
    assert tested.json() == {"Id": store_id, "Name": "Corp vault", "Connected": True}
    event = AuditEvent.objects.filter(action="credential_store.test").latest("pk")
    assert event.outcome == "success"


def test_test_connection_with_bad_credentials_is_a_400_naming_the_store(api, tenant, kind):
    store_id = _create(api, tenant, kind, **kind.bad)

    tested = _test(api, tenant, store_id)

    assert tested.status_code == 400, tested.content
    assert tested.json()["message"].startswith("Credential store “Corp vault”:")
    event = AuditEvent.objects.filter(action="credential_store.test").latest("pk")
    assert (event.outcome, event.reason_code) == ("failure", "unauthorized")


def test_a_robots_password_written_or_found(api, tenant, kind):
    store_id = _create(api, tenant, kind)
    if kind.read_only:
        kind.seed("corp-robot-1", PASSWORD)

    robot = _robot(api, tenant, kind, store_id)
    missing = None
    if kind.read_only:
        missing = _robot(api, tenant, kind, store_id, name="R2", external_name="corp-robot-2")
    found = _test(api, tenant, store_id, robot["Id"])

    assert robot["HasCredential"] is True
    assert robot["CredentialStoreId"] == store_id
    assert PASSWORD not in json.dumps(robot)
    assert found.status_code == 200, found.content
    assert found.json()["Robot"]["Credential"] == "Found"
    assert PASSWORD not in found.content.decode()
    if kind.read_only:
        assert robot["ExternalName"] == "corp-robot-1"
        not_found = _test(api, tenant, store_id, missing["Id"])
        assert not_found.json()["Robot"]["Credential"] == "NotFound"
    else:
        secret_name = Robot.objects.get(pk=robot["Id"]).secret_name
        assert kind.stored(secret_name) == PASSWORD
        changed = api.patch(odata(tenant, f"Robots({robot['Id']})"), {"Password": PASSWORD + "2"})
        assert changed.status_code == 200, changed.content
        assert kind.stored(secret_name) == PASSWORD + "2"
        assert api.delete(odata(tenant, f"Robots({robot['Id']})")).status_code == 204
        assert kind.stored(secret_name) is None  # deleted with the robot


def test_deleting_a_store_robots_use_needs_force_delete(api, tenant, kind):
    store_id = _create(api, tenant, kind)
    if kind.read_only:
        kind.seed("corp-robot-1", PASSWORD)
    robot = _robot(api, tenant, kind, store_id)
    secret_name = Robot.objects.get(pk=robot["Id"]).secret_name

    refused = api.delete(store_url(tenant, store_id))
    forced = api.delete(store_url(tenant, store_id) + "?forceDelete=true")

    assert refused.status_code == 400
    assert forced.status_code == 204, forced.content
    left = Robot.objects.get(pk=robot["Id"])
    assert left.credential_store_id is None
    if not kind.read_only:
        assert kind.stored(secret_name) is None  # the password we wrote went with the store
    else:
        assert kind.type == "CyberArkCCP" or kind.stored("corp-robot-1") == PASSWORD


def test_an_unused_store_is_deleted_without_force_delete(api, tenant, kind):
    store_id = _create(api, tenant, kind)
    assert api.delete(store_url(tenant, store_id)).status_code == 204


@pytest.fixture
def closed_port(settings):
    """An allowlisted loopback port nobody listens on: a vault that is down."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{port}",
    ]
    return port


def test_a_vault_down_is_a_400_naming_the_store(api, tenant, kind, closed_port):
    down = {kind.url_setting: f"https://127.0.0.1:{closed_port}"}
    if kind.type.startswith("Azure"):
        down = {"AuthorityHost": f"https://127.0.0.1:{closed_port}"}
    store_id = _create(api, tenant, kind, **down)

    tested = _test(api, tenant, store_id)
    body = {"Name": "R", "Username": "u", "CredentialStoreId": store_id}
    robot = api.post(
        odata(tenant, "Robots"),
        {**body, "ExternalName": "x"} if kind.read_only else {**body, "Password": PASSWORD},
    )

    assert tested.status_code == 400
    message = tested.json()["message"]
    assert message.startswith("Credential store “Corp vault”:")
    assert f"no connection to 127.0.0.1:{closed_port}" in message
    event = AuditEvent.objects.filter(action="credential_store.test").latest("pk")
    assert (event.outcome, event.reason_code) == ("failure", "vault_unreachable")
    if kind.read_only:
        assert robot.status_code == 201  # looked up when used, not when named
    else:
        assert robot.status_code == 400
        assert "Corp vault" in robot.json()["message"]
        assert not Robot.objects.exists()


def test_a_slow_vault_is_a_400_within_the_deadline(api, tenant, kind, settings, request):
    if kind.type.startswith("AWS"):
        # moto cannot be slowed down; a port that accepts and never answers stands in.
        hanging = socket.socket()
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(4)
        request.addfinalizer(hanging.close)
        port = hanging.getsockname()[1]
        settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [f"127.0.0.1:{port}"]
        store_id = _create(api, tenant, kind, EndpointUrl=f"https://127.0.0.1:{port}")
    else:
        store_id = _create(api, tenant, kind)
        server = request.getfixturevalue(TYPES[kind.type][0])
        server.stall(5)
    settings.CREDENTIAL_STORE_TIMEOUT_SECONDS = 1

    tested = _test(api, tenant, store_id)

    assert tested.status_code == 400
    assert "within 1 s" in tested.json()["message"]


def test_no_password_or_store_secret_in_any_log(api, tenant, kind, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    store_id = _create(api, tenant, kind)
    if kind.read_only:
        kind.seed("corp-robot-1", PASSWORD)
    robot = _robot(api, tenant, kind, store_id)
    _test(api, tenant, store_id, robot["Id"])
    api.patch(store_url(tenant, store_id), {"AdditionalConfiguration": kind.bad})
    _test(api, tenant, store_id, robot["Id"])
    api.delete(store_url(tenant, store_id) + "?forceDelete=true")

    captured = caplog.text + "".join(capsys.readouterr())
    captured += json.dumps([e.details for e in AuditEvent.objects.all()])
    for secret in [PASSWORD, *kind.secrets]:
        assert secret not in captured
