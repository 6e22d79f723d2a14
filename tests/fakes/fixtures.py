"""pytest fixtures for the vault fakes (a plugin of the root conftest): one server per
test session each, reset before each test, with CREDENTIAL_STORE_OUTBOUND_ALLOWLIST
opening exactly that server."""

import logging

import pytest


def _served(fake_class):
    """A session's server of `fake_class`, stopped at the end."""
    server = fake_class()
    server.reset()
    yield server
    server.down()


def _allowlisted(server, settings):
    """The session's server for one test: reset before and after, its address the only one
    allowlisted."""
    server.reset()
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = server.allowlist
    yield server
    server.reset()


@pytest.fixture(scope="session")
def fake_vault_server():
    from tests.fakes.vault import FakeVault

    yield from _served(FakeVault)


@pytest.fixture
def fake_vault(fake_vault_server, settings):
    """A HashiCorp Vault (tests/fakes/vault.py), its address allowlisted."""
    yield from _allowlisted(fake_vault_server, settings)


@pytest.fixture(scope="session")
def moto_server_session():
    """moto's standalone server (AWS's protocol, SigV4-signed requests, here over HTTPS with a
    throwaway CA), checking signatures against IAM access keys it issued: an IAM user allowed
    Secrets Manager, and its key."""
    import boto3
    from moto import settings as moto_settings

    from tests.fakes.aws import MotoServer, start_moto_server

    # Its logs (werkzeug's access log at INFO, moto's requests with their bodies at DEBUG)
    # belong to the vault, not to us; the no-secret-in-logs tests grep ours.
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server, port, ca = start_moto_server()
    url = f"https://localhost:{port}"
    ca_pem = ca.cert_pem.bytes().decode()
    with ca.cert_pem.tempfile() as ca_file:
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            verify=ca_file,
        )
        iam.create_user(UserName="orchestrator")
        iam.put_user_policy(
            UserName="orchestrator",
            PolicyName="secrets",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "secretsmanager:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="orchestrator")["AccessKey"]
    previous = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on, every request is checked
    with ca.cert_pem.tempfile() as ca_file:
        yield MotoServer(
            url=url,
            port=port,
            ca_pem=ca_pem,
            ca_file=ca_file,
            access_key_id=key["AccessKeyId"],
            secret_access_key=key["SecretAccessKey"],
        )
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
    server.shutdown()


@pytest.fixture
def moto_server(moto_server_session, settings):
    """moto's server, its secrets emptied, its address allowlisted."""
    moto_server_session.clear()
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = moto_server_session.allowlist
    return moto_server_session


@pytest.fixture(scope="session")
def fake_key_vault_server():
    from tests.fakes.azure_keyvault import FakeKeyVault

    yield from _served(FakeKeyVault)


@pytest.fixture
def fake_key_vault(fake_key_vault_server, settings, monkeypatch):
    """Azure Key Vault and Entra ID (tests/fakes/azure_keyvault.py), allowlisted. The vault's
    host, kv.localhost, resolves to the fake's loopback address (the SDK requires the vault's
    host to end with the resource its challenge names, so it cannot be 127.0.0.1)."""
    import socket

    from tests.fakes.azure_keyvault import VAULT_HOST

    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == VAULT_HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield from _allowlisted(fake_key_vault_server, settings)


@pytest.fixture(scope="session")
def fake_ccp_server():
    from tests.fakes.cyberark_ccp import FakeCCP

    yield from _served(FakeCCP)


@pytest.fixture
def fake_ccp(fake_ccp_server, settings):
    """CyberArk's CCP (tests/fakes/cyberark_ccp.py), its address allowlisted."""
    yield from _allowlisted(fake_ccp_server, settings)
