"""What each vault client does of its own (authentication methods, layouts, error codes),
and the guarded transport's rules that test_vaults.py does not already cover for every
kind (redirects, size cap, compression, proxies from the environment, CA and certificate
PEMs), all over real sockets against tests/fakes and moto's server."""

import gzip
import json
import socket
import time

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
from machines.vaults import aws as aws_module
from machines.vaults.outbound import MAX_BODY_BYTES, url_problem
from tests.fakes import azure_keyvault as az
from tests.fakes import cyberark_ccp as ccp
from tests.fakes import vault as hv
from tests.fakes.aws import REGION
from tests.fakes.base import Reply

PASSWORD = "Robot-P@ss-7f3e9c1a"


def _refused(reason: str, call) -> VaultError:
    with pytest.raises(VaultError) as caught:
        call()
    assert caught.value.reason == reason, caught.value.message
    return caught.value


# --- HashiCorp Vault ------------------------------------------------------------------------


def _vault(fake_vault, **fields) -> VaultConfig:
    secrets = fields.pop("secrets", {"secret_id": hv.SECRET_ID})
    return VaultConfig(
        kind="HashiCorpVaultReadOnly",
        fields={
            "url": fake_vault.base_url,
            "auth_type": "AppRole",
            "role_id": hv.ROLE_ID,
            "data_path": "robots",
            **fields,
        },
        secrets=secrets,
        ca_pem=fake_vault.ca_pem,
    )


def test_vault_token_authentication(fake_vault):
    fake_vault.put("secret", "robots/r1", {"password": PASSWORD})
    good = _vault(fake_vault, auth_type="Token", secrets={"token": hv.ROOT_TOKEN})
    connect(good).check()
    assert connect(good).read("r1") == PASSWORD
    assert fake_vault.requests[0].path == "/v1/auth/token/lookup-self"
    assert fake_vault.requests[0].headers["x-vault-token"] == hv.ROOT_TOKEN
    bad = _vault(fake_vault, auth_type="Token", secrets={"token": "hvs.not-a-token"})
    _refused(UNAUTHORIZED, connect(bad).check)
    _refused(UNAUTHORIZED, lambda: connect(bad).read("r1"))


def test_vault_empty_token_is_refused_without_a_call(fake_vault, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", hv.ROOT_TOKEN)  # hvac's fallback, never ours
    config = _vault(fake_vault, auth_type="Token", secrets={})
    _refused(UNAUTHORIZED, connect(config).check)
    assert fake_vault.requests == []


def test_vault_approle_login_never_sends_a_token_from_the_environment(fake_vault, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", hv.ROOT_TOKEN)
    connect(_vault(fake_vault)).check()
    login = fake_vault.requests[0]
    assert login.path == "/v1/auth/approle/login"
    assert login.json() == {"role_id": hv.ROLE_ID, "secret_id": hv.SECRET_ID}
    assert "x-vault-token" not in login.headers


def test_vault_username_password(fake_vault):
    config = _vault(
        fake_vault,
        auth_type="UsernamePassword",
        username=hv.USERNAME,
        secrets={"password": hv.PASSWORD},
    )
    connect(config).check()
    assert fake_vault.requests[0].path == f"/v1/auth/userpass/login/{hv.USERNAME}"
    wrong = _vault(
        fake_vault, auth_type="UsernamePassword", username=hv.USERNAME, secrets={"password": "x"}
    )
    _refused(UNAUTHORIZED, connect(wrong).check)


def test_vault_namespace(fake_vault):
    fake_vault.use_namespace("team-a")
    fake_vault.put("secret", "robots/r1", {"password": PASSWORD}, namespace="team-a")
    assert connect(_vault(fake_vault, namespace="team-a")).read("r1") == PASSWORD
    assert {r.headers.get("x-vault-namespace") for r in fake_vault.requests} == {"team-a"}
    _refused(UNAUTHORIZED, connect(_vault(fake_vault)).check)  # the root namespace


def test_vault_read_only_lookup_layouts(fake_vault):
    fake_vault.put("secret", "robots/only-key", {"pwd": PASSWORD})
    fake_vault.put("secret", "robots/both", {"password": PASSWORD, "user": "robot"})
    fake_vault.put("secret", "robots/ambiguous", {"user": "robot", "pwd": PASSWORD})
    fake_vault.put("secret", "robots/not-text", {"password": 42})
    connection = connect(_vault(fake_vault))
    assert connection.read("only-key") == PASSWORD
    assert connection.read("both") == PASSWORD
    error = _refused(BAD_FORMAT, lambda: connection.read("ambiguous"))
    assert PASSWORD not in error.message
    _refused(BAD_FORMAT, lambda: connection.read("not-text"))


def test_vault_kv1_layout(fake_vault):
    fake_vault.put("kv", "robots/r1", {"password": PASSWORD})
    connection = connect(_vault(fake_vault, mount_path="kv", kv_version="1"))
    assert connection.read("r1") == PASSWORD
    assert fake_vault.requests[-1].path == "/v1/kv/robots/r1"


def test_vault_path_traversal_and_bad_settings_are_refused_without_a_call(fake_vault):
    connection = connect(_vault(fake_vault))
    for name in ("../other", "a//b", "", "a/./b", "with space"):
        _refused(BAD_FORMAT, lambda name=name: connection.read(name))
    _refused(BAD_FORMAT, connect(_vault(fake_vault, kv_version="3")).check)
    _refused(UNAUTHORIZED, connect(_vault(fake_vault, auth_type="Kerberos")).check)
    assert fake_vault.requests == []


def test_vault_permission_denied_on_write(fake_vault):
    fake_vault.read_only_paths.add("robots/r1")
    config = VaultConfig(**{**_vault(fake_vault).__dict__, "kind": "HashiCorpVault"})
    _refused(UNAUTHORIZED, lambda: connect(config).write("r1", PASSWORD))


def test_vault_sealed_is_unreachable(fake_vault):
    fake_vault.force(Reply.json(503, {"errors": ["Vault is sealed"]}))
    error = _refused(VAULT_UNREACHABLE, connect(_vault(fake_vault)).check)
    assert "sealed" in error.message


# --- the guarded transport, through the Vault client ------------------------------------------


def test_redirect_to_another_host_is_refused(fake_vault):
    fake_vault.force(Reply(307, headers={"Location": "https://elsewhere.example:8200/v1/x"}))
    error = _refused(VAULT_UNREACHABLE, connect(_vault(fake_vault)).check)
    assert "redirected to another host" in error.message
    assert len(fake_vault.requests) == 1


def test_oversized_answer_is_refused(fake_vault):
    big = json.dumps({"auth": {"client_token": "x" * MAX_BODY_BYTES}}).encode()
    fake_vault.force(Reply(200, big, {"Content-Type": "application/json"}))
    error = _refused(VAULT_UNREACHABLE, connect(_vault(fake_vault)).check)
    assert "KiB" in error.message


def test_compressed_answer_is_refused(fake_vault):
    body = gzip.compress(b'{"auth": {"client_token": "x"}}')
    fake_vault.force(Reply(200, body, {"Content-Encoding": "gzip"}))
    error = _refused(VAULT_UNREACHABLE, connect(_vault(fake_vault)).check)
    assert "compressed" in error.message
    assert fake_vault.requests[0].headers["accept-encoding"] == "identity"


def test_proxies_from_the_environment_are_not_used(fake_vault, monkeypatch):
    # A proxy nobody listens on: used, the call would fail.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent.pem")
    connect(_vault(fake_vault)).check()


def test_invalid_ca_pem_is_refused_without_a_call(fake_vault):
    config = _vault(fake_vault)
    broken = VaultConfig(**{**config.__dict__, "ca_pem": "-----BEGIN CERTIFICATE-----\nnope"})
    error = _refused(VAULT_UNREACHABLE, connect(broken).check)
    assert "CA certificate" in error.message
    assert fake_vault.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://vault.internal.example", True),
        ("https://10.1.2.3/", True),  # private networks are where vaults live
        ("https://vault.internal.example:8200", False),
        ("http://vault.internal.example", False),
        ("ftp://vault.internal.example", False),
        ("https://user:pw@vault.internal.example", False),
        ("https://", False),
        ("https://vault example", False),
    ],
)
def test_the_address_rule(url, allowed):
    assert (url_problem(url) is None) is allowed


def test_the_allowlist_opens_exactly_its_host_and_port(settings):
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = ["vault.internal.example:8200", "[::1]:8200"]
    assert url_problem("http://vault.internal.example:8200") is None
    assert url_problem("https://vault.internal.example:8200/v1") is None
    assert url_problem("http://[::1]:8200") is None
    assert url_problem("http://vault.internal.example:8201") is not None
    assert url_problem("http://other.internal.example:8200") is not None


# --- AWS Secrets Manager ---------------------------------------------------------------------


def _aws(moto_server, **fields) -> VaultConfig:
    secrets = fields.pop("secrets", {"secret_access_key": moto_server.secret_access_key})
    return VaultConfig(
        kind="AWSSecretsManagerReadOnly",
        fields={
            "region": REGION,
            "access_key_id": moto_server.access_key_id,
            "endpoint_url": moto_server.url,
            **fields,
        },
        secrets=secrets,
        ca_pem=moto_server.ca_pem,
    )


def test_aws_secret_layouts(moto_server):
    client = moto_server.client()
    client.create_secret(Name="plain", SecretString=PASSWORD)
    client.create_secret(Name="other-key", SecretString=json.dumps({"Password": PASSWORD}))
    client.create_secret(Name="binary", SecretBinary=b"\x00\x01")
    client.create_secret(Name="right", SecretString=json.dumps({"Value": PASSWORD, "x": 1}))
    connection = connect(_aws(moto_server))
    assert connection.read("right") == PASSWORD
    for name in ("plain", "other-key", "binary"):
        error = _refused(BAD_FORMAT, lambda name=name: connection.read(name))
        assert PASSWORD not in error.message


def test_aws_unknown_access_key_is_unauthorized(moto_server):
    config = _aws(moto_server, access_key_id="AKIAIOSFODNN7EXAMPLE")
    _refused(UNAUTHORIZED, connect(config).check)


@pytest.fixture
def no_host_credentials(monkeypatch, tmp_path):
    """A host without AWS credentials: none in the environment, no files, no metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws_module.forget_host_credentials()
    yield monkeypatch
    aws_module.forget_host_credentials()


def test_aws_host_credentials_when_no_access_key_is_set(moto_server, no_host_credentials):
    config = _aws(moto_server, access_key_id="", secrets={})
    error = _refused(UNAUTHORIZED, connect(config).check)
    assert "no AWS credentials" in error.message
    aws_module.forget_host_credentials()
    # The host's credentials (here from its environment, as a role's would come from its
    # metadata service) are boto3's default chain.
    no_host_credentials.setenv("AWS_ACCESS_KEY_ID", moto_server.access_key_id)
    no_host_credentials.setenv("AWS_SECRET_ACCESS_KEY", moto_server.secret_access_key)
    moto_server.client().create_secret(Name="r1", SecretString=json.dumps({"Value": PASSWORD}))
    assert connect(config).read("r1") == PASSWORD


def test_aws_without_region_is_refused(moto_server):
    _refused(BAD_FORMAT, connect(_aws(moto_server, region="")).check)


def test_aws_default_endpoint_is_https_443():
    """Without endpoint_url the client calls secretsmanager.{region}.amazonaws.com over
    HTTPS, which the address rule allows without any allowlist entry."""
    assert url_problem(f"https://secretsmanager.{REGION}.amazonaws.com/") is None


# --- Azure Key Vault -------------------------------------------------------------------------


def _azure(fake_key_vault, **fields) -> VaultConfig:
    secrets = fields.pop("secrets", {"client_secret": az.CLIENT_SECRET})
    return VaultConfig(
        kind="AzureKeyVaultReadOnly",
        fields={
            "vault_uri": fake_key_vault.vault_uri,
            "directory_id": az.TENANT,
            "client_id": az.CLIENT_ID,
            "authority_host": fake_key_vault.authority_host,
            **fields,
        },
        secrets=secrets,
        ca_pem=fake_key_vault.ca_pem,
    )


def test_azure_talks_to_the_authority_and_the_vault_only(fake_key_vault):
    fake_key_vault.put("robot-one", PASSWORD)
    assert connect(_azure(fake_key_vault)).read("robot-one") == PASSWORD
    token = next(r for r in fake_key_vault.requests if r.path.endswith("/token"))
    assert token.path == f"/{az.TENANT}/oauth2/v2.0/token"
    assert b"grant_type=client_credentials" in token.body
    hosts = {r.headers["host"].rsplit(":", 1)[0] for r in fake_key_vault.requests}
    assert hosts <= {"localhost", az.VAULT_HOST}


def test_azure_application_without_access_is_unauthorized(fake_key_vault):
    config = _azure(fake_key_vault, client_id=az.NO_ACCESS_CLIENT_ID)
    error = _refused(UNAUTHORIZED, lambda: connect(config).read("robot-one"))
    assert "not allowed" in error.message


def test_azure_other_directory_is_unauthorized(fake_key_vault):
    config = _azure(fake_key_vault, directory_id="00000000-0000-4000-8000-000000000000")
    _refused(UNAUTHORIZED, connect(config).check)


def test_azure_secret_names(fake_key_vault):
    connection = connect(_azure(fake_key_vault))
    for name in ("robot_one", "robot.one", "x" * 128, "", "robot/one"):
        _refused(BAD_FORMAT, lambda name=name: connection.read(name))
    assert fake_key_vault.requests == []


def test_azure_challenge_for_another_resource_gets_no_token(fake_key_vault):
    """The vault at 127.0.0.1 names https://localhost as its resource: the SDK refuses to
    fetch a token for a resource that is not the vault's own domain."""
    config = _azure(fake_key_vault, vault_uri=f"https://127.0.0.1:{fake_key_vault.port}")
    error = _refused(VAULT_UNREACHABLE, connect(config).check)
    assert "challenge" in error.message
    assert not any(r.path.endswith("/token") for r in fake_key_vault.requests)


# --- CyberArk CCP ----------------------------------------------------------------------------


def _ccp(fake_ccp, cert=None, **fields) -> VaultConfig:
    certificate, key = cert or fake_ccp.pem(fake_ccp.client_cert)
    return VaultConfig(
        kind="CyberArkCCP",
        fields={
            "ccp_url": fake_ccp.base_url,
            "app_id": ccp.APP_ID,
            "safe": ccp.SAFE,
            "folder": ccp.FOLDER,
            **fields,
        },
        ca_pem=fake_ccp.ca_pem,
        client_cert_pem=certificate,
        client_key_pem=key,
    )


def test_ccp_query(fake_ccp):
    fake_ccp.put("robot-one", PASSWORD)
    assert connect(_ccp(fake_ccp)).read("robot-one") == PASSWORD
    request = fake_ccp.requests[-1]
    assert request.path == "/AIMWebService/api/Accounts"
    assert request.query == {
        "AppID": [ccp.APP_ID],
        "Safe": [ccp.SAFE],
        "Folder": [ccp.FOLDER],
        "Object": ["robot-one"],
    }


def test_ccp_safe_not_allowed_is_unauthorized(fake_ccp):
    error = _refused(UNAUTHORIZED, connect(_ccp(fake_ccp, safe=ccp.OTHER_SAFE)).check)
    assert "APPAP008E" in error.message


def test_ccp_certificate_the_application_is_not_registered_with(fake_ccp):
    config = _ccp(fake_ccp, cert=fake_ccp.pem(fake_ccp.other_cert))
    error = _refused(UNAUTHORIZED, connect(config).check)
    assert "APPAP306E" in error.message


def test_ccp_certificate_of_an_unknown_ca_is_refused_in_the_handshake(fake_ccp):
    stranger = trustme.CA().issue_cert("orchestrator.example.test")
    error = _refused(UNAUTHORIZED, connect(_ccp(fake_ccp, cert=fake_ccp.pem(stranger))).check)
    assert "refused the client certificate" in error.message


def test_ccp_requiring_a_certificate_refuses_a_store_without_one(fake_ccp):
    error = _refused(UNAUTHORIZED, connect(_ccp(fake_ccp, cert=("", ""))).check)
    assert "refused the client certificate" in error.message
    assert fake_ccp.requests == []


def test_ccp_characters_it_refuses_are_refused_before_the_call(fake_ccp):
    connection = connect(_ccp(fake_ccp))
    for name in ("robot one", "robot;one", "robot&one", "robot+one", "robot%one"):
        _refused(BAD_FORMAT, lambda name=name: connection.read(name))
    assert fake_ccp.requests == []


def test_ccp_error_codes(fake_ccp):
    connection = connect(_ccp(fake_ccp))
    fake_ccp.force(Reply.json(500, {"ErrorCode": "APPAP282E", "ErrorMsg": "change in process"}))
    error = _refused(VAULT_UNREACHABLE, lambda: connection.read("robot-one"))
    assert "APPAP282E" in error.message
    fake_ccp.force(Reply.json(400, {"ErrorCode": "AIMWS031E", "ErrorMsg": "AppID required"}))
    _refused(BAD_FORMAT, lambda: connection.read("robot-one"))
    fake_ccp.force(Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}))
    _refused(VAULT_UNREACHABLE, lambda: connection.read("robot-one"))
    fake_ccp.force(Reply.json(200, {"UserName": "robot"}))
    _refused(BAD_FORMAT, lambda: connection.read("robot-one"))


def test_ccp_is_read_only(fake_ccp):
    _refused(BAD_FORMAT, lambda: connect(_ccp(fake_ccp)).write("robot-one", PASSWORD))


def test_ccp_not_found(fake_ccp):
    error = _refused(SECRET_NOT_FOUND, lambda: connect(_ccp(fake_ccp)).read("robot-one"))
    assert "APPAP004E" in error.message


def test_unknown_kind():
    with pytest.raises(ValueError, match="no vault client"):
        connect(VaultConfig(kind="Database"))


def test_a_name_that_does_not_resolve(fake_vault, settings):
    settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = ["vault.invalid:8200"]
    config = _vault(fake_vault, url="https://vault.invalid:8200")
    error = _refused(VAULT_UNREACHABLE, connect(config).check)
    assert "no connection to vault.invalid:8200" in error.message


def test_slow_name_resolution_is_within_the_deadline(fake_vault, monkeypatch):
    """A resolver that hangs (an unreachable DNS server) does not hold the call past it."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "localhost":
            time.sleep(3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    config = _vault(fake_vault, url=f"https://localhost:{fake_vault.port}")
    config = VaultConfig(**{**config.__dict__, "timeout": 0.5})
    started = time.monotonic()
    error = _refused(VAULT_UNREACHABLE, connect(config).check)
    assert time.monotonic() - started < 1
    assert "within 0.5 s" in error.message


@pytest.mark.parametrize(
    ("kind", "fixture", "make"),
    [
        ("HashiCorpVaultReadOnly", "fake_vault", "_vault"),
        ("AzureKeyVaultReadOnly", "fake_key_vault", "_azure"),
        ("AWSSecretsManagerReadOnly", "moto_server", "_aws"),
    ],
)
def test_a_read_only_kind_never_writes_or_deletes(kind, fixture, make, request):
    server = request.getfixturevalue(fixture)
    config = globals()[make](server)
    assert config.kind == kind
    connection = connect(config)
    _refused(BAD_FORMAT, lambda: connection.write("robot-one", PASSWORD))
    connection.delete("robot-one")
    if hasattr(server, "requests"):
        assert server.requests == []  # neither made a call
