"""private_key_jwt with the application's own keys (SPEC §11, RFC 7523 §2.2 and §3): Authlib's
standard `PrivateKeyJWT` client against a live server, and the token endpoint's refusals
with their reason codes, with assertions signed here by keys only the application holds."""

import base64
import json
import time
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from django.core.cache import cache
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from federation.models import AppKey
from federation.services import app_key_delete
from federation.tests.app_keys import SigningKey, registered_key, serve_app_jwks
from federation.tests.factories import external_app
from identity_server.tests.factories import TEST_ACTOR
from identity_server.tests.http import JWT_BEARER, TOKEN_URL, assert_refused, failure_reasons
from identity_server.tokens import access_token_decode
from tests.idp import b64url

SCOPES = ["OR.Machines.Read", "PM.OAuthApp.Read"]


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey.rsa()


@pytest.fixture(scope="module")
def ec_key():
    return SigningKey.ec()


@pytest.fixture
def app(admin_membership):
    return external_app(organization=admin_membership.organization, scopes=SCOPES)[0]


def joserfc_key(key: SigningKey):
    kind = ECKey if key.alg == "ES256" else RSAKey
    return kind.import_key(key.private_pem)


def assertion(app, key: SigningKey, *, alg=None, header=None, **claims) -> str:
    """An assertion the application signs itself, as Authlib's PrivateKeyJWT does."""
    from django.conf import settings

    now = int(time.time())
    payload = {
        "iss": app.client.client_id,
        "sub": app.client.client_id,
        "aud": f"{settings.IDENTITY_ISSUER}/connect/token",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    alg = alg or key.alg
    return jwt.encode({"alg": alg, **(header or {})}, payload, joserfc_key(key), algorithms=[alg])


def exchange(client, signed: str, *, client_id=None, path=TOKEN_URL):
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": signed,
    }
    if client_id:
        form["client_id"] = client_id
    return client.post(path, form)


def assert_refused_once(response, reason):
    assert_refused(response, "invalid_client", 401)
    assert failure_reasons() == [reason]


# --- Authlib's standard client, against a live server ----------------------------------------


@pytest.fixture
def live(live_server, settings, transactional_db):
    """The live server's issuer is its own URL, so Authlib's `aud` (the URL it posts to)
    is our token endpoint."""
    settings.IDENTITY_ISSUER = live_server.url + "/identity_"
    return live_server


def authlib_session(app, key: SigningKey, live, **options) -> OAuth2Session:
    session = OAuth2Session(
        app.client.client_id,
        joserfc_key(key),
        token_endpoint_auth_method=PrivateKeyJWT.name,
        scope="PM.OAuthApp.Read",
    )
    session.register_client_auth_method(PrivateKeyJWT(alg=key.alg, **options))
    return session


@pytest.mark.parametrize(
    "source",
    ["public_key_pem", "certificate_pem", "jwks_uri"],
)
def test_authlib_private_key_jwt_gets_a_token_with_a_registered_key(
    live, app, identity_provider, source
):
    # given a key registered in each of the three forms, signing RS256, PS256 and ES256
    key = {
        "public_key_pem": SigningKey.rsa(),
        "certificate_pem": SigningKey.rsa(alg="PS256"),
        "jwks_uri": SigningKey.ec(),
    }[source]
    material = {
        "public_key_pem": lambda: key.public_pem,
        "certificate_pem": lambda: key.certificate_pem(),
        "jwks_uri": lambda: serve_app_jwks(identity_provider, {"keys": [key.public_jwk()]}),
    }[source]()
    registered = registered_key(app, key, **{source: material})
    session = authlib_session(app, key, live)

    # when
    token = session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    # then a token naming the key, which works at our API
    assert (token["token_type"], token["expires_in"], token["scope"]) == (
        "Bearer",
        3600,
        "PM.OAuthApp.Read",
    )
    claims = access_token_decode(token["access_token"])
    assert (claims["client_id"], claims["app_key_id"]) == (app.client.client_id, str(registered.pk))
    listed = session.get(f"{live.url}/identity_/api/ExternalClient/{app.organization.global_id}")
    assert listed.status_code == 200, listed.text
    registered.refresh_from_db()
    assert registered.last_used_at is not None


def test_authlib_with_an_unregistered_key_is_refused(live, app, rsa_key):
    registered_key(app, rsa_key)
    session = authlib_session(app, SigningKey.rsa(), live)

    with pytest.raises(OAuthError) as refused:
        session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    assert refused.value.error == "invalid_client"
    assert failure_reasons() == ["bad_signature"]


def test_authlib_replaying_a_jti_is_refused(live, app, rsa_key):
    registered_key(app, rsa_key)
    session = authlib_session(app, rsa_key, live, claims={"jti": "once"})
    session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    with pytest.raises(OAuthError) as refused:
        session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    assert refused.value.error == "invalid_client"
    assert failure_reasons() == ["assertion_replayed"]


def test_authlib_with_a_lifetime_over_an_hour_is_refused(live, app, rsa_key):
    registered_key(app, rsa_key)
    later = int(time.time()) + 3600 + 120
    session = authlib_session(app, rsa_key, live, claims={"exp": later})

    with pytest.raises(OAuthError):
        session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    assert failure_reasons() == ["lifetime_too_long"]


def test_authlib_with_a_wrong_audience_is_refused(live, app, rsa_key):
    registered_key(app, rsa_key)
    session = authlib_session(app, rsa_key, live, token_endpoint="https://elsewhere.example/token")

    with pytest.raises(OAuthError):
        session.fetch_token(live.url + TOKEN_URL, grant_type="client_credentials")

    assert failure_reasons() == ["audience_mismatch"]


def test_requests_with_the_client_id_in_the_form_too(live, app, rsa_key):
    registered_key(app, rsa_key)

    response = requests.post(
        live.url + TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": app.client.client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion(app, rsa_key),
        },
        timeout=10,
    )

    assert response.status_code == 200, response.text


# --- the checks, one by one ------------------------------------------------------------------


def test_the_issuer_is_an_audience_as_well(client, app, rsa_key, settings):
    registered_key(app, rsa_key)

    response = exchange(client, assertion(app, rsa_key, aud=settings.IDENTITY_ISSUER))

    assert response.status_code == 200, response.content


def test_the_organizations_token_endpoint_is_an_audience_and_a_path(client, app, rsa_key, settings):
    registered_key(app, rsa_key)
    slug = app.organization.slug
    public = settings.IDENTITY_ISSUER.removesuffix("/identity_")
    aud = f"{public}/{slug}/identity_/connect/token"

    response = exchange(client, assertion(app, rsa_key, aud=aud), path=f"/{slug}{TOKEN_URL}")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"jti": None}, "jti_missing", id="no jti"),
        pytest.param({"exp": None}, "expired", id="no exp"),
        pytest.param({"exp": int(time.time()) - 600}, "expired", id="expired"),
        pytest.param(
            {"iat": int(time.time()) - 600, "exp": int(time.time()) + 3300},
            "lifetime_too_long",
            id="issued long before",
        ),
        pytest.param({"aud": ["https://other.example"]}, "audience_mismatch", id="other aud"),
        pytest.param({"aud": None}, "audience_mismatch", id="no aud"),
    ],
)
def test_claims_refused_with_their_reason(client, app, rsa_key, claims, reason):
    registered_key(app, rsa_key)

    response = exchange(client, assertion(app, rsa_key, **claims))

    assert_refused_once(response, reason)


def test_a_sub_other_than_the_client_is_not_the_applications_own(client, app, rsa_key):
    # iss is the client but sub is not: not an own assertion, so the federated path says no
    registered_key(app, rsa_key)

    response = exchange(
        client, assertion(app, rsa_key, sub="someone-else"), client_id=app.client.client_id
    )

    assert_refused(response, "invalid_client", 401)
    assert failure_reasons() == ["kid_missing"]  # checked as a federated token: RS256 with a kid


def test_without_client_id_a_federated_token_is_invalid_request(client, app, identity_provider):
    response = exchange(client, identity_provider.mint("github"))

    assert_refused(
        response,
        "invalid_request",
        400,
        "Client authentication with an assertion: client_id is missing.",
    )
    assert failure_reasons() == ["client_id_missing"]


def test_a_client_id_in_the_form_must_be_the_assertions(client, app, rsa_key, admin_membership):
    other, _ = external_app(organization=admin_membership.organization, name="Other")
    registered_key(app, rsa_key)

    response = exchange(client, assertion(app, rsa_key), client_id=other.client.client_id)

    assert_refused(response, "invalid_client", 401)


@pytest.mark.parametrize("alg", ["HS256", "RS512", "none"])
def test_other_algorithms_are_refused(client, app, rsa_key, alg):
    registered_key(app, rsa_key)
    header = {"alg": alg}

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = jwt.decode(assertion(app, rsa_key), joserfc_key(rsa_key)).claims
    forged = f"{part(header)}.{part(claims)}.c2ln"

    response = exchange(client, forged, client_id=app.client.client_id)

    assert_refused(response, "invalid_client", 401)
    assert failure_reasons() == ["alg_not_allowed"]


def test_an_rsa_key_does_not_verify_es256_and_a_deleted_key_nothing(client, app, rsa_key, ec_key):
    key = registered_key(app, rsa_key)

    assert_refused_once(exchange(client, assertion(app, ec_key)), "no_key")
    app_key_delete(key=key, actor=TEST_ACTOR)
    assert exchange(client, assertion(app, rsa_key)).status_code == 401
    assert failure_reasons()[0] == "no_key"


def test_an_expired_certificate_stops_authenticating(client, app, rsa_key, clock, monkeypatch):
    registered_key(app, rsa_key, certificate_pem=rsa_key.certificate_pem(days=1))
    assert exchange(client, assertion(app, rsa_key)).status_code == 200

    # two days later (the key's expiry is compared with the wall clock)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 86400)
    response = exchange(
        client,
        assertion(app, rsa_key, iat=int(real()) + 2 * 86400, exp=int(real()) + 2 * 86400 + 600),
    )

    assert_refused(response, "invalid_client", 401)
    assert failure_reasons()[0] == "key_expired"


@pytest.mark.parametrize(
    "extra",
    [{"key_ops": ["encrypt"]}, {"use": "enc"}, {"alg": "PS256"}],
    ids=["key_ops encrypt", "use enc", "alg PS256 for an RS256 assertion"],
)
def test_a_jwks_key_whose_metadata_forbids_the_assertion_is_not_used(
    client, app, rsa_key, identity_provider, extra
):
    # given the app's JWKS with a usable EC key, and the RSA key restricted by its metadata
    jwks = {"keys": [SigningKey.ec().public_jwk("ec"), rsa_key.public_jwk("rsa", **extra)]}
    registered_key(app, rsa_key, jwks_uri=serve_app_jwks(identity_provider, jwks))

    response = exchange(client, assertion(app, rsa_key, header={"kid": "rsa"}))

    assert_refused_once(response, "no_key")


def test_the_kid_picks_among_a_jwks_urls_keys(client, app, rsa_key, identity_provider):
    other = SigningKey.rsa()
    jwks = {"keys": [other.public_jwk("a"), rsa_key.public_jwk("b")]}
    registered_key(app, rsa_key, jwks_uri=serve_app_jwks(identity_provider, jwks))

    good = exchange(client, assertion(app, rsa_key, header={"kid": "b"}))
    wrong = exchange(client, assertion(app, rsa_key, header={"kid": "a"}))

    assert good.status_code == 200, good.content
    assert_refused(wrong, "invalid_client", 401)
    assert failure_reasons() == ["bad_signature"]


def test_an_es256_signature_of_the_wrong_length_is_a_bad_signature(client, app, ec_key):
    registered_key(app, ec_key)
    head, body, signature = assertion(app, ec_key).split(".")
    shorter = b64url(base64.urlsafe_b64decode(signature + "==")[:63])

    response = exchange(client, f"{head}.{body}.{shorter}")

    assert_refused_once(response, "bad_signature")


def test_an_unknown_client_is_refused(client, rsa_key, app):
    stranger = type("App", (), {"client": type("C", (), {"client_id": "no-such-client"})})

    response = exchange(client, assertion(stranger, rsa_key))

    assert_refused_once(response, "unknown_client")


def test_replay_protection_fails_closed_when_its_store_is_unreachable(
    client, app, rsa_key, shared_cache_down
):
    registered_key(app, rsa_key)

    response = exchange(client, assertion(app, rsa_key))

    assert_refused_once(response, "replay_store_unavailable")


def test_a_warm_request_reads_no_row(client, app, rsa_key, django_assert_num_queries):
    registered_key(app, rsa_key)
    assert exchange(client, assertion(app, rsa_key)).status_code == 200

    signed = assertion(app, rsa_key)
    with django_assert_num_queries(0):
        response = exchange(client, signed)

    assert response.status_code == 200, response.content


def test_a_key_registered_in_another_process_works_at_once(client, app, rsa_key):
    # this process caches the client without keys...
    assert exchange(client, assertion(app, rsa_key)).status_code == 401
    # ...then another process stores a key: its row, then the client's new generation
    AppKey.objects.create(
        app=app, name="Direct", kind=AppKey.Kind.PUBLIC_KEY, jwk=_jwk(rsa_key), pem="-"
    )
    cache.set(f"identity:client-generation:{app.client.client_id}", uuid.uuid4().hex)

    assert exchange(client, assertion(app, rsa_key)).status_code == 200


def _jwk(key: SigningKey) -> dict:
    from federation.keys import public_key_read

    return public_key_read(key.public_pem)[0]


def test_an_unreachable_jwks_url_with_nothing_cached_is_its_own_reason(
    client, app, rsa_key, identity_provider
):
    uri = serve_app_jwks(identity_provider, {"keys": [rsa_key.public_jwk()]})
    registered_key(app, rsa_key, jwks_uri=uri)
    cache.clear()  # nothing cached of the key set, which registering it had fetched
    identity_provider.down()

    response = exchange(client, assertion(app, rsa_key))

    assert_refused_once(response, "jwks_unreachable")


def test_a_jwks_urls_keys_are_cached_between_requests(client, app, ec_key, identity_provider):
    uri = serve_app_jwks(identity_provider, {"keys": [ec_key.public_jwk()]})
    registered_key(app, ec_key, jwks_uri=uri)

    responses = [exchange(client, assertion(app, ec_key)) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    # one fetch at registration, one for the token path's cache, none after
    assert identity_provider.requests_for("/apps/deployments/jwks.json") == 2
