"""The test identity provider itself: its tokens verify against its JWKS with an independent
JWT library, over real HTTPS, and it misbehaves only when told to."""

import base64
import hashlib
import hmac
import json
import re
import time

import jwt
import pytest
import requests

from tests.idp import ENTRA_TENANT, REMOVE, SHAPES, b64url


def _get(identity_provider, url: str, **kwargs) -> requests.Response:
    return requests.get(url, verify=identity_provider.ca_bundle, timeout=5, **kwargs)


def _verify(identity_provider, shape: str, token: str, audience: str) -> dict:
    discovery = _get(identity_provider, identity_provider.discovery_url(shape)).json()
    jwks = _get(identity_provider, discovery["jwks_uri"]).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid].key
    return jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"]
    )


def _segments(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


@pytest.mark.parametrize(
    ("shape", "audience", "subject_pattern"),
    [
        ("github", "https://github.com/octo-org", r"repo:octo-org/octo-repo:ref:refs/heads/main"),
        ("entra", "api://identity-server", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"),
        ("gcp", "https://identity-server.example", r"\d{21}"),
        ("k8s", "https://kubernetes.default.svc.cluster.local", r"system:serviceaccount:ci:"),
    ],
)
def test_each_shape_verifies_against_the_published_keys(
    identity_provider, shape, audience, subject_pattern
):
    # when
    claims = _verify(identity_provider, shape, identity_provider.mint(shape), audience)

    # then
    assert claims["iss"] == identity_provider.issuer(shape)
    assert re.match(subject_pattern, claims["sub"])
    assert claims["exp"] - claims["iat"] == 300


def test_the_shapes_carry_their_providers_claims(identity_provider):
    github = jwt.decode(identity_provider.mint("github"), options={"verify_signature": False})
    entra = jwt.decode(identity_provider.mint("entra"), options={"verify_signature": False})
    gcp = jwt.decode(identity_provider.mint("gcp"), options={"verify_signature": False})
    k8s = jwt.decode(identity_provider.mint("k8s"), options={"verify_signature": False})

    assert github["repository"] == "octo-org/octo-repo" and github["ref_type"] == "branch"
    assert isinstance(github["aud"], str)
    assert set(jwt.get_unverified_header(identity_provider.mint("github"))) == {
        "alg",
        "kid",
        "typ",
        "x5t",
    }
    assert entra["ver"] == "2.0" and entra["tid"] == ENTRA_TENANT and entra["sub"] == entra["oid"]
    assert identity_provider.issuer("entra").endswith(f"/entra/{ENTRA_TENANT}/v2.0")
    assert gcp["email_verified"] is True and gcp["azp"] == gcp["sub"]
    assert isinstance(k8s["aud"], list)
    assert k8s["kubernetes.io"]["serviceaccount"]["name"] == "runner"


def test_claims_and_header_can_be_overridden_or_removed(identity_provider):
    token = identity_provider.mint(
        "github",
        claims={"aud": "https://id.example.com", "sub": REMOVE},
        header={"typ": REMOVE, "x-extra": "1"},
        lifetime=60,
    )

    header, payload, _ = _segments(token)
    assert "typ" not in json.loads(header) and json.loads(header)["x-extra"] == "1"
    claims = json.loads(payload)
    assert "sub" not in claims and claims["aud"] == "https://id.example.com"
    assert claims["exp"] - claims["iat"] == 60


def test_sign_raw_signs_exactly_the_given_bytes(identity_provider):
    # given: duplicate keys, which no dict can carry
    payload = b'{"sub":"a","sub":"b"}'
    header = b'{"alg":"RS256","kid":"' + identity_provider.key("github").kid.encode() + b'"}'

    # when
    token = identity_provider.sign_raw(header, payload)

    # then
    assert _segments(token)[:2] == [header, payload]
    key = jwt.PyJWK(identity_provider.key("github").public_jwk).key
    jwt.PyJWS().decode(token, key, algorithms=["RS256"])  # the signature holds


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256"])
def test_sign_raw_speaks_other_algorithms(identity_provider, alg):
    token = identity_provider.sign_raw({"alg": alg, "typ": "JWT"}, {"sub": "x"})

    key = (
        identity_provider.ec_key.public_key()
        if alg == "ES256"
        else identity_provider.key("github").private_key.public_key()
    )
    assert jwt.PyJWS().decode(token, key, algorithms=[alg]) == b'{"sub":"x"}'


def test_sign_raw_hs256_defaults_to_the_public_key_and_none_to_no_signature(identity_provider):
    # the classic key confusion: an HMAC keyed with the issuer's public key
    token = identity_provider.sign_raw({"alg": "HS256"}, {"sub": "x"})
    unsigned = identity_provider.sign_raw({"alg": "none"}, {"sub": "x"})

    signing_input, signature = token.rsplit(".", 1)
    public_pem = identity_provider.key("github").public_pem
    expected = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert signature == b64url(expected)
    assert unsigned.endswith(".")


def test_rotating_drops_the_old_key_unless_kept(identity_provider):
    # given
    old = identity_provider.key("gcp").kid

    # when
    identity_provider.rotate_keys("gcp")

    # then
    new = identity_provider.key("gcp").kid
    assert new != old
    served = _get(identity_provider, identity_provider.jwks_url("gcp")).json()
    assert [key["kid"] for key in served["keys"]] == [new]
    identity_provider.rotate_keys("gcp", keep_previous=True)
    kept = _get(identity_provider, identity_provider.jwks_url("gcp")).json()
    assert [key["kid"] for key in kept["keys"]] == [identity_provider.key("gcp").kid, new]
    assert identity_provider.key("github").kid != new  # other issuers keep their keys


def test_reset_restores_the_initial_keys(identity_provider):
    before = {shape: identity_provider.key(shape).kid for shape in SHAPES}
    identity_provider.rotate_keys()

    identity_provider.reset()

    assert {shape: identity_provider.key(shape).kid for shape in SHAPES} == before


def test_down_refuses_connections_until_up(identity_provider):
    url = identity_provider.discovery_url("k8s")
    identity_provider.down()
    try:
        with pytest.raises(requests.ConnectionError):
            _get(identity_provider, url)
    finally:
        identity_provider.up()

    assert _get(identity_provider, url).status_code == 200


def test_it_counts_the_requests_it_serves(identity_provider):
    _get(identity_provider, identity_provider.discovery_url("github"))
    _get(identity_provider, identity_provider.jwks_url("github"))
    _get(identity_provider, identity_provider.jwks_url("github"))

    assert identity_provider.requests_served == 3
    assert identity_provider.requests_for("/github/.well-known/jwks") == 2


def test_misbehaviour_is_real_http(identity_provider):
    jwks = identity_provider.jwks_url("github")
    identity_provider.redirect("/github/.well-known/jwks", "https://169.254.169.254/")
    assert _get(identity_provider, jwks, allow_redirects=False).headers["Location"] == (
        "https://169.254.169.254/"
    )
    identity_provider.non_json("/github/.well-known/jwks")
    assert _get(identity_provider, jwks).headers["Content-Type"] == "text/html"
    identity_provider.oversized("/github/.well-known/jwks", declare_length=False)
    response = _get(identity_provider, jwks)
    assert "Content-Length" not in response.headers and len(response.content) == 128 * 1024
    identity_provider.discovery_issuer("github", "https://elsewhere.example")
    discovery = _get(identity_provider, identity_provider.discovery_url("github")).json()
    assert discovery["issuer"] == "https://elsewhere.example"
    identity_provider.jwks_without_rsa("k8s")
    keys = _get(identity_provider, identity_provider.jwks_url("k8s")).json()["keys"]
    assert [key["kty"] for key in keys] == ["EC"]


def test_slow_answers_arrive_late(identity_provider):
    identity_provider.slow(0.3)
    started = time.monotonic()

    assert _get(identity_provider, identity_provider.discovery_url("gcp")).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_the_mint_endpoint_mints_for_the_demo(identity_provider):
    response = _get(
        identity_provider,
        f"{identity_provider.base_url}/mint?shape=github&sub=repo:a/b:ref:refs/heads/main&aud=x",
    )

    assert response.status_code == 200
    claims = _verify(identity_provider, "github", response.text, audience="x")
    assert claims["sub"] == "repo:a/b:ref:refs/heads/main"


def test_the_fixture_points_the_settings_at_it(identity_provider, settings):
    port, allowlist = identity_provider.port, settings.FEDERATION_OUTBOUND_ALLOWLIST
    assert allowlist == [f"127.0.0.1:{port}", f"localhost:{port}"]
    with open(settings.FEDERATION_CA_BUNDLE, "rb") as bundle:
        assert bundle.read() == identity_provider.ca_pem
    assert identity_provider.env["FEDERATION_CA_BUNDLE"] == settings.FEDERATION_CA_BUNDLE
