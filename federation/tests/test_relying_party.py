"""The id_token checks of federation.relying_party (OpenID Connect Core §3.1.3.7), one by
one, on tokens the test identity provider (tests/idp.py) mints for its Google-shaped
issuer: the signature with a key of the issuer's published JWKS (through the key cache),
`alg`, `kid`, `iss` exactly, `aud`, `exp`, `iat`, `nonce`, `at_hash`. The flow itself runs
end to end against a real OpenID Connect provider in tests/test_idp_sign_in.py."""

import base64
import hashlib
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from federation.models import IdentityProvider
from federation.relying_party import SignInRefused, id_token_validate
from tests.idp import REMOVE

CLIENT_ID = "site-client"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture
def provider(identity_provider):
    return IdentityProvider(issuer=identity_provider.issuer("gcp"), client_id=CLIENT_ID)


def _token(identity_provider, **claims):
    return identity_provider.mint(
        "gcp", claims={"aud": CLIENT_ID, "azp": CLIENT_ID, "nonce": NONCE, **claims}
    )


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_a_good_id_token_gives_its_claims(identity_provider, provider):
    # given
    token = _token(identity_provider, at_hash=_at_hash("the-access-token"))

    # when
    claims = id_token_validate(provider, token, nonce=NONCE, access_token="the-access-token")

    # then
    assert claims["sub"] == "108815346920384756123" and claims["email_verified"] is True


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        pytest.param({"aud": "another-client"}, "aud", id="another audience"),
        pytest.param({"iss": "https://accounts.google.com"}, "iss", id="another issuer"),
        pytest.param({"nonce": "another"}, "nonce", id="another nonce"),
        pytest.param({"nonce": REMOVE}, "nonce", id="no nonce"),
        pytest.param({"exp": int(time.time()) - 120}, "exp", id="expired"),
        pytest.param({"iat": int(time.time()) + 600}, "iat", id="issued in the future"),
        pytest.param({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "at_hash", id="at_hash"),
    ],
)
def test_claims_that_do_not_hold_are_refused(identity_provider, provider, claims, why):
    # given
    token = _token(identity_provider, **claims)

    # when
    with pytest.raises(SignInRefused) as refused:
        id_token_validate(provider, token, nonce=NONCE, access_token="the-access-token")

    # then
    assert refused.value.reason == "idp_token_invalid"
    assert why in refused.value.detail


@pytest.mark.parametrize(
    ("header", "key", "why"),
    [
        pytest.param({"alg": "HS256"}, None, "alg", id="HMAC with the public key"),
        pytest.param({"alg": "none"}, None, "alg", id="alg none"),
        pytest.param({"kid": REMOVE}, None, "kid", id="no kid"),
        pytest.param({"kid": "unknown"}, None, "no key", id="unknown kid"),
        pytest.param(
            {},
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "signature",
            id="another key, the issuer's kid",
        ),
    ],
)
def test_signatures_that_are_not_the_issuers_are_refused(
    identity_provider, provider, header, key, why
):
    # given
    token = identity_provider.mint(
        "gcp", claims={"aud": CLIENT_ID, "azp": CLIENT_ID, "nonce": NONCE}, header=header, key=key
    )

    # when
    with pytest.raises(SignInRefused) as refused:
        id_token_validate(provider, token, nonce=NONCE, access_token=None)

    # then
    assert refused.value.reason == "idp_token_invalid"
    assert why in refused.value.detail


def test_an_unreachable_issuer_is_its_own_reason(identity_provider, provider):
    # given
    token = _token(identity_provider)
    identity_provider.down()

    # when
    with pytest.raises(SignInRefused) as refused:
        id_token_validate(provider, token, nonce=NONCE, access_token=None)

    # then
    assert refused.value.reason == "idp_unreachable"
