"""Discovery, the published JWKS, signing key rotation and a mounted signing key."""

from io import StringIO

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command

from identity_server import services, tokens
from identity_server.clients import forget_snapshots
from identity_server.models import SigningKey
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.test_token_endpoint import verify_with_pyjwt
from identity_server.tokens import current_signing_key, forget_loaded_keys, signing_key_generate

DISCOVERY_URL = "/identity_/.well-known/openid-configuration"


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization)


def test_discovery_names_the_endpoints_methods_grants_and_scopes(client, settings):
    body = client.get(DISCOVERY_URL).json()

    issuer = settings.IDENTITY_ISSUER
    assert body["issuer"] == issuer
    assert body["token_endpoint"] == f"{issuer}/connect/token"
    assert body["jwks_uri"] == f"{issuer}/.well-known/openid-configuration/jwks"
    assert body["introspection_endpoint"] == f"{issuer}/connect/introspect"
    assert body["revocation_endpoint"] == f"{issuer}/connect/revocation"
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",  # public clients with PKCE (SPEC §8)
    ]
    assert body["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]
    assert {"OR.Machines.Read", "PM.OAuthApp.Write", "OrchestratorApiUserAccess"} <= set(
        body["scopes_supported"]
    )


def test_the_jwks_publishes_public_rsa_signing_keys_only(client, db):
    keys = client.get(f"{DISCOVERY_URL}/jwks").json()["keys"]

    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["alg"] == "RS256"
    assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}  # no private members


def test_after_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key(
    client, app, issue_token, settings
):
    # given
    oauth_client, secret = app
    old_token = issue_token(oauth_client, secret)
    old_kid = pyjwt.get_unverified_header(old_token)["kid"]

    # when
    call_command("rotate_signing_key", stdout=StringIO())
    new_token = issue_token(oauth_client, secret)

    # then
    new_kid = pyjwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    assert new_kid == SigningKey.objects.get(current=True).kid
    assert verify_with_pyjwt(client, old_token, settings)["client_id"] == oauth_client.client_id
    assert verify_with_pyjwt(client, new_token, settings)["client_id"] == oauth_client.client_id
    introspected = client.post(
        "/identity_/connect/introspect",
        {"token": old_token, "client_id": oauth_client.client_id, "client_secret": secret},
    )
    assert introspected.json()["active"] is True


def test_a_key_retired_longer_ago_than_a_token_lifetime_is_unpublished(client, db, settings):
    # given: lifetimes shrunk so that the retired key's tokens are all expired
    call_command("rotate_signing_key", stdout=StringIO())
    retired = SigningKey.objects.get()
    call_command("rotate_signing_key", stdout=StringIO())
    settings.ACCESS_TOKEN_LIFETIME = -120

    # when
    kids = {key["kid"] for key in client.get(f"{DISCOVERY_URL}/jwks").json()["keys"]}

    # then
    assert retired.kid not in kids
    assert SigningKey.objects.get(current=True).kid in kids


def test_stored_private_keys_are_encrypted(db):
    call_command("rotate_signing_key", stdout=StringIO())

    stored = SigningKey.objects.get().private_key

    assert "PRIVATE KEY" not in stored


def test_a_mounted_pem_signs_and_is_published(client, app, issue_token, settings, tmp_path):
    # given
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "signing.pem"
    pem.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.IDENTITY_SIGNING_KEY_FILE = str(pem)
    oauth_client, secret = app

    # when
    token = issue_token(oauth_client, secret)

    # then
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWKSet.from_dict(client.get(f"{DISCOVERY_URL}/jwks").json())[kid]
    assert key.key.public_numbers() == private_key.public_key().public_numbers()
    assert verify_with_pyjwt(client, token, settings)["sub"] == oauth_client.client_id
    assert not SigningKey.objects.exists()


def test_a_secret_key_rotation_keeps_signing_keys_and_client_secrets_through_fallbacks(
    client, app, issue_token, settings
):
    # given a signing key and a client secret stored under the old SECRET_KEY
    call_command("rotate_signing_key", stdout=StringIO())
    oauth_client, secret = app

    # when SECRET_KEY changes and the old one becomes a fallback
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "n" * 50
    forget_loaded_keys()
    forget_snapshots()

    # then both still work, and a new secret is hashed under the new key
    token = issue_token(oauth_client, secret)
    assert pyjwt.get_unverified_header(token)["kid"] == SigningKey.objects.get().kid
    _row, new_secret = services.client_secret_create(client=oauth_client, actor=TEST_ACTOR)
    issue_token(oauth_client, new_secret)


def test_without_the_fallback_old_client_secrets_stop_working(client, app, settings):
    oauth_client, secret = app
    settings.SECRET_KEY = "a-new-secret-key-" + "n" * 50
    forget_snapshots()

    response = client.post(
        "/identity_/connect/token",
        {"grant_type": "client_credentials", "client_id": oauth_client.client_id,
         "client_secret": secret},
    )  # fmt: skip

    assert response.status_code == 401


def test_a_stored_key_without_its_secret_key_fails_loudly(db, settings):
    call_command("rotate_signing_key", stdout=StringIO())
    settings.SECRET_KEY = "a-new-secret-key-" + "n" * 50
    forget_loaded_keys()

    with pytest.raises(RuntimeError, match="SECRET_KEY_FALLBACKS"):
        current_signing_key()


def test_revoking_previous_keys_makes_their_tokens_fail_at_once(client, app, issue_token):
    # given
    oauth_client, secret = app
    old_token = issue_token(oauth_client, secret)
    introspect = {"client_id": oauth_client.client_id, "client_secret": secret}

    # when
    call_command("rotate_signing_key", "--revoke-previous", stdout=StringIO())

    # then
    kids = {key["kid"] for key in client.get(f"{DISCOVERY_URL}/jwks").json()["keys"]}
    assert pyjwt.get_unverified_header(old_token)["kid"] not in kids
    response = client.post("/identity_/connect/introspect", {"token": old_token, **introspect})
    assert response.json() == {"active": False}


def test_keys_replaced_by_another_process_stop_verifying_here(
    client, app, issue_token, monkeypatch
):
    # given this process has verified a token, so it holds the key that signed it
    oauth_client, secret = app
    token = issue_token(oauth_client, secret)
    introspect = {"token": token, "client_id": oauth_client.client_id, "client_secret": secret}
    assert client.post("/identity_/connect/introspect", introspect).json()["active"] is True

    # when another process revokes every key (its rows, not this process's memory change),
    # and this process's recheck interval has passed
    SigningKey.objects.all().delete()
    signing_key_generate().save()
    monkeypatch.setattr(tokens, "CURRENT_KEY_RECHECK", 0)

    # then the old key is no longer trusted here either
    assert client.post("/identity_/connect/introspect", introspect).json() == {"active": False}


def test_the_recheck_reads_the_current_kid_and_keeps_the_loaded_key(db, monkeypatch):
    # given this process signs with the current key, and its stored private half can no
    # longer be decrypted here (so any reload of it would fail loudly)
    signing = current_signing_key()
    SigningKey.objects.filter(kid=signing.kid).update(private_key="not-a-fernet-token")
    monkeypatch.setattr(tokens, "CURRENT_KEY_RECHECK", 0)

    # when the recheck interval has passed and the current key is still the same row
    rechecked = current_signing_key()

    # then the key loaded before is kept: only its `kid` was read
    assert rechecked is signing


def test_a_key_rotated_by_another_process_is_signed_with_after_the_recheck(db, monkeypatch):
    # given this process signs with the current key
    before = current_signing_key()

    # when another process makes a new current key (its rows, not this process's memory)
    SigningKey.objects.filter(current=True).update(current=False)
    new = signing_key_generate()
    new.save()
    monkeypatch.setattr(tokens, "CURRENT_KEY_RECHECK", 0)

    # then the next token is signed with the new key
    after = current_signing_key()
    assert before.kid != after.kid
    assert after.kid == new.kid
    assert after.signer is not None
