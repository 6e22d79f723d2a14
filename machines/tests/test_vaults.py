"""The vault clients (machines.vaults) against real servers on loopback: the HTTPS fakes of
tests/fakes for HashiCorp Vault, Azure Key Vault and CyberArk CCP, and moto's server for
AWS Secrets Manager. The same behaviours are checked for every kind; each kind's own
(authentication methods, layouts, error codes) follow."""

import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import trustme

from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    UNAUTHORIZED,
    VAULT_UNREACHABLE,
    VaultConfig,
    VaultError,
    connect,
)
from tests.fakes import azure_keyvault as az
from tests.fakes import cyberark_ccp as ccp
from tests.fakes import vault as hv
from tests.fakes.aws import REGION

PASSWORD = "Robot-P@ss-7f3e9c1a"  # the value no log may contain
DEADLINE = 1.0
WHAT = {
    "HashiCorpVault": "HashiCorp Vault",
    "AWSSecretsManager": "AWS Secrets Manager",
    "AzureKeyVault": "Azure Key Vault",
    "CyberArkCCP": "CyberArk CCP",
}


@dataclass
class Store:
    """One kind of store under test: how to configure it and reach into its server."""

    kind: str
    fields: dict
    secrets: dict
    ca_pem: str
    seed: Callable[[str, str], None]  # puts a secret the way an admin of the vault would
    stored: Callable[[str], str | None]  # what the vault holds under a name
    server: object | None  # the fake (None for moto)
    url_field: str
    cert: tuple[str, str] = ("", "")
    read_only: bool = False
    bad_secrets: dict | None = None
    bad_fields: dict | None = None

    def config(self, *, fields=None, secrets=None, **overrides) -> VaultConfig:
        values = {
            "kind": self.kind,
            "fields": {**self.fields, **(fields or {})},
            "secrets": {**self.secrets, **(secrets or {})},
            "ca_pem": self.ca_pem,
            "client_cert_pem": self.cert[0],
            "client_key_pem": self.cert[1],
            "timeout": 5.0,  # the tests of the deadline set theirs
        }
        return VaultConfig(**{**values, **overrides})

    def connection(self, **overrides):
        return connect(self.config(**overrides))


def _hashicorp(fake_vault, kv_version: str) -> Store:
    mount = "secret" if kv_version == "2" else "kv"
    return Store(
        kind="HashiCorpVault",
        fields={
            "url": fake_vault.base_url,
            "auth_type": "AppRole",
            "role_id": hv.ROLE_ID,
            "mount_path": mount,
            "kv_version": kv_version,
            "data_path": "orchestrator/robots",
        },
        secrets={"secret_id": hv.SECRET_ID},
        ca_pem=fake_vault.ca_pem,
        seed=lambda name, value: fake_vault.put(
            mount, f"orchestrator/robots/{name}", {"password": value}
        ),
        stored=lambda name: (fake_vault.get(mount, f"orchestrator/robots/{name}") or {}).get(
            "password"
        ),
        server=fake_vault,
        url_field="url",
        bad_secrets={"secret_id": "wrong-secret-id"},
    )


def _aws(moto_server) -> Store:
    def stored(name):
        try:
            answer = moto_server.client().get_secret_value(SecretId=name)
        except moto_server.client().exceptions.ResourceNotFoundException:
            return None
        return json.loads(answer["SecretString"])["Value"]

    return Store(
        kind="AWSSecretsManager",
        fields={
            "region": REGION,
            "access_key_id": moto_server.access_key_id,
            "endpoint_url": moto_server.url,
        },
        secrets={"secret_access_key": moto_server.secret_access_key},
        ca_pem=moto_server.ca_pem,
        seed=lambda name, value: moto_server.client().create_secret(
            Name=name, SecretString=json.dumps({"Value": value})
        ),
        stored=stored,
        server=None,
        url_field="endpoint_url",
        bad_secrets={"secret_access_key": "wrong" + moto_server.secret_access_key[5:]},
    )


def _azure(fake_key_vault) -> Store:
    return Store(
        kind="AzureKeyVault",
        fields={
            "vault_uri": fake_key_vault.vault_uri,
            "directory_id": az.TENANT,
            "client_id": az.CLIENT_ID,
            "authority_host": fake_key_vault.authority_host,
        },
        secrets={"client_secret": az.CLIENT_SECRET},
        ca_pem=fake_key_vault.ca_pem,
        seed=fake_key_vault.put,
        stored=fake_key_vault.get,
        server=fake_key_vault,
        url_field="vault_uri",
        bad_secrets={"client_secret": "wrong-client-secret"},
    )


def _cyberark(fake_ccp) -> Store:
    return Store(
        kind="CyberArkCCP",
        fields={
            "ccp_url": fake_ccp.base_url,
            "app_id": ccp.APP_ID,
            "safe": ccp.SAFE,
            "folder": ccp.FOLDER,
        },
        secrets={},
        ca_pem=fake_ccp.ca_pem,
        cert=fake_ccp.pem(fake_ccp.client_cert),
        seed=fake_ccp.put,
        stored=lambda name: None,
        server=fake_ccp,
        url_field="ccp_url",
        read_only=True,
        bad_fields={"app_id": "SomeOtherApp"},
    )


KINDS = ("hashicorp_kv2", "hashicorp_kv1", "aws", "azure", "cyberark")


@pytest.fixture(params=KINDS)
def store(request) -> Store:
    return _store(request, request.param)


def _store(request, kind: str) -> Store:
    if kind.startswith("hashicorp"):
        return _hashicorp(request.getfixturevalue("fake_vault"), kind[-1])
    if kind == "aws":
        return _aws(request.getfixturevalue("moto_server"))
    if kind == "azure":
        return _azure(request.getfixturevalue("fake_key_vault"))
    return _cyberark(request.getfixturevalue("fake_ccp"))


def _refused(reason: str, call) -> VaultError:
    with pytest.raises(VaultError) as caught:
        call()
    assert caught.value.reason == reason, caught.value.message
    return caught.value


@dataclass
class Listener:
    """A TCP port that accepts connections (the kernel completes them) and never answers:
    a vault that hangs, or a witness that no connection was made."""

    sock: socket.socket

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def connected(self) -> bool:
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield Listener(sock)
    sock.close()


@pytest.fixture
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- every kind -----------------------------------------------------------------------------


def test_check_with_good_credentials(store):
    store.connection().check()


def test_check_with_bad_credentials_is_unauthorized(store):
    error = _refused(
        UNAUTHORIZED,
        store.connection(fields=store.bad_fields, secrets=store.bad_secrets).check,
    )
    assert error.message.startswith(WHAT[store.kind] + ": ")


def test_read_found_not_found(store):
    store.seed("robot-one", PASSWORD)
    assert store.connection().read("robot-one") == PASSWORD
    error = _refused(SECRET_NOT_FOUND, lambda: store.connection().read("robot-two"))
    assert PASSWORD not in error.message


def test_read_with_bad_credentials_is_unauthorized(store):
    store.seed("robot-one", PASSWORD)
    _refused(
        UNAUTHORIZED,
        lambda: store.connection(fields=store.bad_fields, secrets=store.bad_secrets).read(
            "robot-one"
        ),
    )


def test_write_read_delete(store):
    connection = store.connection()
    if store.read_only:
        _refused(BAD_FORMAT, lambda: connection.write("robot-one", PASSWORD))
        connection.delete("robot-one")  # nothing of ours to delete: no call, no error
        return
    connection.write("robot-one", PASSWORD)
    assert store.stored("robot-one") == PASSWORD
    connection.write("robot-one", PASSWORD + "-2")  # replacing
    assert connection.read("robot-one") == PASSWORD + "-2"
    connection.delete("robot-one")
    assert store.stored("robot-one") is None
    connection.delete("robot-one")  # a missing secret is not an error
    _refused(SECRET_NOT_FOUND, lambda: connection.read("robot-one"))


def test_vault_down_is_unreachable_at_once(store, closed_port):
    url = f"https://127.0.0.1:{closed_port}"
    store_settings = {store.url_field: url}
    if store.kind == "AzureKeyVault":  # the token comes first; the authority is down
        store_settings = {"authority_host": url}
    started = time.monotonic()
    error = _refused(
        VAULT_UNREACHABLE, lambda: store.connection(fields=store_settings).read("robot-one")
    )
    assert time.monotonic() - started < DEADLINE
    assert "CREDENTIAL_STORE_OUTBOUND_ALLOWLIST" in error.message  # not allowlisted: no call


def test_vault_down_on_an_allowlisted_port(store, closed_port, settings):
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{closed_port}",
    ]
    url = f"https://127.0.0.1:{closed_port}"
    field = "authority_host" if store.kind == "AzureKeyVault" else store.url_field
    error = _refused(VAULT_UNREACHABLE, lambda: store.connection(fields={field: url}).check())
    assert f"no connection to 127.0.0.1:{closed_port}" in error.message


def test_vault_hanging_is_unreachable_within_the_deadline(store, listener, settings):
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = [
        *settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST,
        f"127.0.0.1:{listener.port}",
    ]
    field = "authority_host" if store.kind == "AzureKeyVault" else store.url_field
    url = f"https://127.0.0.1:{listener.port}"
    started = time.monotonic()
    error = _refused(
        VAULT_UNREACHABLE,
        lambda: store.connection(fields={field: url}, timeout=DEADLINE).check(),
    )
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 1
    assert f"within {DEADLINE:g} s" in error.message


@pytest.fixture(params=[kind for kind in KINDS if kind != "aws"])
def faked_store(request) -> Store:
    """The kinds whose server is a fake of ours, which can be slowed down (moto cannot: the
    hanging listener above covers AWS)."""
    return _store(request, request.param)


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickled"])
def test_slow_vault_is_unreachable_within_the_deadline(faked_store, trickle):
    store = faked_store
    store.seed("robot-one", PASSWORD)
    # Trickled: a byte every 50 ms, each within any per-read timeout, the whole past the
    # deadline; only cutting the socket at the deadline stops it.
    store.server.stall(0.05 if trickle else 3 * DEADLINE, trickle=trickle)
    started = time.monotonic()
    error = _refused(
        VAULT_UNREACHABLE, lambda: store.connection(timeout=DEADLINE).read("robot-one")
    )
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 0.5
    assert f"within {DEADLINE:g} s" in error.message


def test_plain_http_not_allowlisted_is_refused_without_a_connection(store, listener):
    field = "authority_host" if store.kind == "AzureKeyVault" else store.url_field
    url = f"http://127.0.0.1:{listener.port}"
    error = _refused(VAULT_UNREACHABLE, lambda: store.connection(fields={field: url}).check())
    assert not listener.connected()
    assert f"http://127.0.0.1:{listener.port} is not allowed" in error.message


def test_wrong_ca_is_refused(store):
    error = _refused(
        VAULT_UNREACHABLE,
        lambda: store.connection(ca_pem=trustme.CA().cert_pem.bytes().decode()).check(),
    )
    assert "certificate" in error.message and "not trusted" in error.message


def test_system_cas_do_not_trust_a_test_ca(store):
    _refused(VAULT_UNREACHABLE, lambda: store.connection(ca_pem="").check())


def test_no_secret_or_value_in_any_log(store, caplog):
    caplog.set_level(logging.DEBUG)
    connection = store.connection()
    store.seed("robot-one", PASSWORD)
    connection.read("robot-one")
    if not store.read_only:
        connection.write("robot-two", PASSWORD)
        connection.delete("robot-two")
    with pytest.raises(VaultError):
        store.connection(fields=store.bad_fields, secrets=store.bad_secrets).read("robot-one")
    with pytest.raises(VaultError):
        connection.read("robot-three")
    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    for secret in [PASSWORD, *store.secrets.values(), *(store.bad_secrets or {}).values()]:
        assert secret not in text
    if store.cert[1]:
        assert store.cert[1].splitlines()[1] not in text
