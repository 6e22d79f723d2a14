"""IDENTITY_SIGNING_ALGORITHM (RS256 or ES256): the tokens we sign verify with an independent
library (PyJWT) under both, the JWKS and discovery follow the setting, and switching it keeps
earlier tokens verifying until they expire."""

from io import StringIO

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from identity_server import tokens
from identity_server.env import env_choice
from identity_server.models import SigningKey
from identity_server.tests.factories import client_with_secret
from tests.processes import run_python

DISCOVERY_URL = "/identity_/.well-known/openid-configuration"
JWKS_URL = f"{DISCOVERY_URL}/jwks"
INTROSPECT_URL = "/identity_/connect/introspect"
PUBLIC_MEMBERS = {
    "RS256": {"kty", "use", "alg", "kid", "n", "e"},
    "ES256": {"kty", "use", "alg", "kid", "crv", "x", "y"},
}


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization)


def jwks(client) -> dict:
    return client.get(JWKS_URL).json()


def pyjwt_verify(client, token: str, settings, algorithm: str) -> dict:
    """As a third party would: the published JWKS, PyJWT, the algorithm pinned by the caller."""
    key = pyjwt.PyJWKSet.from_dict(jwks(client))[pyjwt.get_unverified_header(token)["kid"]]
    return pyjwt.decode(
        token,
        key.key,
        algorithms=[algorithm],
        audience=settings.IDENTITY_AUDIENCE,
        issuer=settings.IDENTITY_ISSUER,
    )


def introspected(client, oauth_client, secret, token) -> dict:
    form = {"token": token, "client_id": oauth_client.client_id, "client_secret": secret}
    return client.post(INTROSPECT_URL, form).json()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_access_tokens_verify_with_pyjwt_under_either_algorithm(
    client, app, issue_token, settings, algorithm
):
    # given
    settings.IDENTITY_SIGNING_ALGORITHM = algorithm
    oauth_client, secret = app

    # when
    token = issue_token(oauth_client, secret)

    # then
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert pyjwt_verify(client, token, settings, algorithm)["sub"] == oauth_client.client_id
    assert introspected(client, oauth_client, secret, token)["active"] is True
    # a token verifies under its key's algorithm only (RFC 8725 §3.1)
    other = {"RS256": "ES256", "ES256": "RS256"}[algorithm]
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt_verify(client, token, settings, other)


def test_a_warm_es256_token_request_reads_and_writes_nothing_in_the_database(
    client, app, settings, django_assert_num_queries
):
    # given ES256, and a client served once (the EC key made and loaded)
    settings.IDENTITY_SIGNING_ALGORITHM = "ES256"
    oauth_client, secret = app
    form = {
        "grant_type": "client_credentials",
        "client_id": oauth_client.client_id,
        "client_secret": secret,
    }
    assert client.post("/identity_/connect/token", form).status_code == 200

    # then
    with django_assert_num_queries(0):
        response = client.post("/identity_/connect/token", form)
    assert pyjwt.get_unverified_header(response.json()["access_token"])["alg"] == "ES256"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_the_jwks_and_discovery_follow_the_algorithm(client, db, settings, algorithm):
    # given
    settings.IDENTITY_SIGNING_ALGORITHM = algorithm

    # when
    (key,) = jwks(client)["keys"]
    discovery = client.get(DISCOVERY_URL).json()

    # then: public members only (RFC 7517 §4, RFC 7518 §6.2.1 / §6.3.1), the RFC 7638 kid
    assert set(key) == PUBLIC_MEMBERS[algorithm]
    assert key["alg"] == algorithm and key["use"] == "sig"
    assert key["kid"] == pyjwt.PyJWK(key).key_id
    assert key["kid"] == SigningKey.objects.get(current=True, algorithm=algorithm).kid
    if algorithm == "ES256":
        assert key["kty"] == "EC" and key["crv"] == "P-256"
        # RFC 7518 §6.2.1.2: 32-octet coordinates, base64url without padding
        assert len(key["x"]) == len(key["y"]) == 43
    assert discovery["id_token_signing_alg_values_supported"] == [algorithm]


def test_switching_to_es256_publishes_the_new_key_beside_the_old_one(
    client, app, issue_token, settings
):
    # given an RS256 token
    oauth_client, secret = app
    rs256_token = issue_token(oauth_client, secret)

    # when the setting changes (no rotation yet)
    settings.IDENTITY_SIGNING_ALGORITHM = "ES256"
    es256_token = issue_token(oauth_client, secret)

    # then both keys are published and both tokens verify
    assert {key["alg"] for key in jwks(client)["keys"]} == {"RS256", "ES256"}
    assert pyjwt.get_unverified_header(es256_token)["alg"] == "ES256"
    assert pyjwt_verify(client, rs256_token, settings, "RS256")["sub"] == oauth_client.client_id
    assert pyjwt_verify(client, es256_token, settings, "ES256")["sub"] == oauth_client.client_id
    assert introspected(client, oauth_client, secret, rs256_token)["active"] is True
    assert introspected(client, oauth_client, secret, es256_token)["active"] is True


def test_rotating_after_a_switch_retires_the_old_algorithms_key(client, app, issue_token, settings):
    # given an RS256 token, then the switch to ES256
    oauth_client, secret = app
    rs256_token = issue_token(oauth_client, secret)
    settings.IDENTITY_SIGNING_ALGORITHM = "ES256"

    # when the operator rotates
    call_command("rotate_signing_key", stdout=StringIO())
    es256_token = issue_token(oauth_client, secret)

    # then one key signs (ES256), the retired RSA key stays published for the old token
    (current,) = SigningKey.objects.filter(current=True)
    assert current.algorithm == "ES256"
    assert pyjwt.get_unverified_header(es256_token)["kid"] == current.kid
    assert {key["alg"] for key in jwks(client)["keys"]} == {"RS256", "ES256"}
    assert pyjwt_verify(client, rs256_token, settings, "RS256")["sub"] == oauth_client.client_id
    assert introspected(client, oauth_client, secret, rs256_token)["active"] is True

    # and when the RSA key's tokens have all expired, it is no longer published
    settings.ACCESS_TOKEN_LIFETIME = -120
    assert {key["alg"] for key in jwks(client)["keys"]} == {"ES256"}


def test_logout_tokens_and_id_token_hints_round_trip_under_es256(db, settings):
    # given
    settings.IDENTITY_SIGNING_ALGORITHM = "ES256"
    key = tokens.current_signing_key()
    public = pyjwt.PyJWK(key.public_jwk).key

    # when
    logout = tokens.logout_token_encode(client_id="an-app", sub="42", sid="s1")

    # then an independent library verifies it
    claims = pyjwt.decode(
        logout, public, algorithms=["ES256"], audience="an-app", issuer=settings.IDENTITY_ISSUER
    )
    assert claims["sid"] == "s1"
    # and a logout token is not an id_token hint
    with pytest.raises(tokens.InvalidAccessToken):
        tokens.id_token_hint_decode(logout)


def _pem_file(tmp_path, private_key) -> str:
    path = tmp_path / "signing.pem"
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def test_a_mounted_p256_key_signs_es256(client, app, issue_token, settings, tmp_path):
    # given
    private_key = ec.generate_private_key(ec.SECP256R1())
    settings.IDENTITY_SIGNING_KEY_FILE = _pem_file(tmp_path, private_key)
    settings.IDENTITY_SIGNING_ALGORITHM = "ES256"
    oauth_client, secret = app

    # when
    token = issue_token(oauth_client, secret)

    # then
    assert pyjwt_verify(client, token, settings, "ES256")["sub"] == oauth_client.client_id
    (key,) = jwks(client)["keys"]
    assert pyjwt.PyJWK(key).key.public_numbers() == private_key.public_key().public_numbers()
    assert not SigningKey.objects.exists()


@pytest.mark.parametrize(
    ("algorithm", "private_key"),
    [
        ("ES256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("RS256", ec.generate_private_key(ec.SECP256R1())),
        ("ES256", ec.generate_private_key(ec.SECP384R1())),
    ],
    ids=["rsa-for-es256", "ec-for-rs256", "p384-for-es256"],
)
def test_a_mounted_key_of_the_wrong_kind_fails_the_checks(
    settings, tmp_path, algorithm, private_key
):
    # given
    settings.IDENTITY_SIGNING_KEY_FILE = _pem_file(tmp_path, private_key)
    settings.IDENTITY_SIGNING_ALGORITHM = algorithm

    # when
    errors = [message for message in run_checks() if message.id == "identity.E005"]

    # then
    assert len(errors) == 1
    assert "signing key file" in errors[0].msg


def test_env_choice_refuses_an_unknown_value(monkeypatch):
    monkeypatch.setenv("SOME_ALGORITHM", "HS256")
    with pytest.raises(ImproperlyConfigured, match="RS256, ES256"):
        env_choice("SOME_ALGORITHM", ("RS256", "ES256"), "RS256")


@pytest.mark.parametrize(("raw", "expected"), [("", "RS256"), ("ES256", "ES256")])
def test_the_setting_is_read_from_the_environment(raw, expected):
    code = "from django.conf import settings; print(settings.IDENTITY_SIGNING_ALGORITHM)"
    result = run_python("-c", code, IDENTITY_SIGNING_ALGORITHM=raw)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_an_unknown_algorithm_stops_the_server_at_start_up():
    result = run_python("manage.py", "check", IDENTITY_SIGNING_ALGORITHM="es256")

    assert result.returncode != 0
    assert "IDENTITY_SIGNING_ALGORITHM must be one of RS256, ES256, not 'es256'" in result.stderr
