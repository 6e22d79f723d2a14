"""The checks of federation.assertions one by one (SPEC §5), on real tokens from the test
identity provider and on hand-made bytes; the token endpoint tests cover them end to end."""

import base64
import json
import shutil
import subprocess
import time
import uuid

import pytest
import redis
from django.core.cache import cache

from federation import assertions
from federation.assertions import (
    LEEWAY_SECONDS,
    MAX_ASSERTION_BYTES,
    AssertionRejected,
    CredentialRef,
    assertion_parse,
    client_assertion_authenticate,
    credential_match,
    issuer_signing_key,
    replay_check,
    signature_verify,
    signing_key_select,
    times_check,
)
from federation.models import FederatedCredential
from federation.tests.factories import external_app, shape_credential
from identity_server.clients import client_changed
from tests.idp import IdpKey, b64url
from tests.processes import free_port


def rejection(call, *args, **kwargs) -> str:
    with pytest.raises(AssertionRejected) as refused:
        call(*args, **kwargs)
    assert str(refused.value)  # a sentence for evaluate's report
    return refused.value.reason


def raw(header: bytes | dict, payload: bytes | dict, signature: bytes = b"sig") -> str:
    """A token of exactly these parts, unsigned (parsing never looks at the signature)."""
    parts = [
        part if isinstance(part, bytes) else json.dumps(part).encode() for part in (header, payload)
    ]
    return ".".join(b64url(part) for part in [*parts, signature])


HEADER = {"alg": "RS256", "kid": "k1"}


# --- 1. size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assertion", "reason"),
    [
        pytest.param("a" * MAX_ASSERTION_BYTES, "malformed", id="8192 ASCII bytes: parsed"),
        pytest.param("a" * (MAX_ASSERTION_BYTES + 1), "assertion_too_large", id="8193 bytes"),
        pytest.param("é" * 4097, "assertion_too_large", id="4097 characters, 8194 bytes"),
    ],
)
def test_the_size_is_counted_in_bytes_before_parsing(assertion, reason):
    assert rejection(assertion_parse, assertion) == reason


# --- 2. format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assertion", "reason"),
    [
        pytest.param("abc", "malformed", id="one part"),
        pytest.param("a.b.c.d", "malformed", id="four parts"),
        pytest.param(raw(HEADER, {}) + "=", "malformed", id="padding"),
        pytest.param(raw(HEADER, {}).replace(".", ".+", 1), "malformed", id="plus sign"),
        pytest.param("eyJhb.e30.c2ln", "malformed", id="a part of length 4n+1"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9.e31.c2ln", "malformed", id="non-zero trailing bits"),
        pytest.param(" " + raw(HEADER, {}), "malformed", id="leading blank"),
        pytest.param("\ud800.e30.c2ln", "malformed", id="a lone surrogate"),
        pytest.param(raw(HEADER, b'{"a":1,"a":2}'), "invalid_json", id="duplicate keys"),
        pytest.param(
            raw(b'{"alg":"RS256","alg":"none","kid":"k"}', {}),
            "invalid_json",
            id="duplicate header keys",
        ),
        pytest.param(raw(HEADER, b'{"exp": Infinity}'), "invalid_json", id="Infinity"),
        pytest.param(raw(HEADER, b'{"a": 1} trailing'), "invalid_json", id="trailing text"),
        pytest.param(raw(HEADER, b'"a string"'), "invalid_json", id="a string payload"),
        pytest.param(raw(b"null", {}), "invalid_json", id="a null header"),
        pytest.param(raw(HEADER, b"\xc3\x28"), "invalid_json", id="invalid UTF-8"),
        pytest.param(raw(HEADER, b"[" * 1500 + b"]" * 1500), "invalid_json", id="1500 deep"),
    ],
)
def test_anything_but_three_strict_base64url_json_objects_is_refused(assertion, reason):
    assert rejection(assertion_parse, assertion) == reason


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_nesting_is_allowed_sixteen_deep_and_no_deeper():
    assert assertion_parse(raw(HEADER, nested(16))).claims == nested(16)
    assert rejection(assertion_parse, raw(HEADER, nested(17))) == "invalid_json"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": 1}, id="iss a number"),
        pytest.param({"sub": None}, id="sub null"),
        pytest.param({"jti": ["x"]}, id="jti a list"),
        pytest.param({"aud": {"a": 1}}, id="aud an object"),
        pytest.param({"aud": ["a", None]}, id="aud with null"),
        pytest.param({"exp": "1900000000"}, id="exp a string"),
        pytest.param({"exp": None}, id="exp null"),
        pytest.param({"iat": False}, id="iat a boolean"),
        pytest.param({"nbf": [1]}, id="nbf a list"),
    ],
)
def test_claims_of_the_wrong_type_are_refused(claims):
    assert rejection(assertion_parse, raw(HEADER, claims)) == "invalid_claims"


# --- 3. header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param({"kid": "k"}, "alg_not_allowed", id="no alg"),
        pytest.param({"alg": "rs256", "kid": "k"}, "alg_not_allowed", id="alg in lower case"),
        pytest.param({"alg": "none", "jku": "https://x"}, "alg_not_allowed", id="alg before jku"),
        pytest.param({"alg": "RS256"}, "kid_missing", id="no kid"),
        pytest.param({"alg": "RS256", "kid": 7}, "kid_missing", id="kid a number"),
        pytest.param({**HEADER, "jwk": {"kty": "RSA"}}, "key_header_forbidden", id="jwk"),
        pytest.param(
            {**HEADER, "jku": "https://x", "x5u": "https://y"},
            "key_header_forbidden",
            id="jku and x5u",
        ),
        pytest.param({**HEADER, "crit": []}, "crit_not_supported", id="empty crit"),
    ],
)
def test_the_header_must_be_rs256_with_a_kid_and_no_key_of_its_own(header, reason):
    assert rejection(assertion_parse, raw(header, {})) == reason


def test_a_provider_token_parses_with_its_headers_and_claims(identity_provider):
    parsed = assertion_parse(identity_provider.mint("github"))

    assert parsed.header["x5t"] == identity_provider.key("github").x5t
    assert parsed.audiences == ["https://github.com/octo-org"]
    assert assertion_parse(identity_provider.mint("k8s")).audiences == [
        "https://kubernetes.default.svc.cluster.local"
    ]


# --- 4. the credential -----------------------------------------------------------------------

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:octo-org/octo-repo:ref:refs/heads/main"
AUDIENCE = "https://github.com/octo-org"


def credential(name="c", issuer=ISSUER, subject=SUBJECT, audience=AUDIENCE) -> CredentialRef:
    return CredentialRef(name, issuer, subject, audience)


def parsed(**claims):
    return assertion_parse(raw(HEADER, {"iss": ISSUER, "sub": SUBJECT, "aud": AUDIENCE, **claims}))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"iss": ISSUER + "/"}, "no_credential_for_issuer", id="trailing slash"),
        pytest.param({"iss": ISSUER.upper()}, "no_credential_for_issuer", id="issuer case"),
        pytest.param({"sub": SUBJECT.upper()}, "no_credential_for_subject", id="subject case"),
        pytest.param({"sub": SUBJECT + " "}, "no_credential_for_subject", id="subject blank"),
        pytest.param({"aud": [AUDIENCE + "/"]}, "no_credential_for_audience", id="aud slash"),
        pytest.param({"aud": []}, "no_credential_for_audience", id="aud empty list"),
    ],
)
def test_issuer_subject_and_audience_must_match_exactly(claims, reason):
    assert rejection(credential_match, parsed(**claims), [credential()]) == reason


def test_the_audience_may_be_one_of_several():
    assert credential_match(parsed(aud=["x", AUDIENCE]), [credential()]).id == "c"


def test_the_first_credential_matching_all_three_is_chosen():
    credentials = [
        credential("other subject", subject="repo:octo-org/octo-repo:pull_request"),
        credential("other audience", audience="api://x"),
        credential("first"),
        credential("second"),
    ]

    assert credential_match(parsed(), credentials).id == "first"


def test_no_credential_at_all_refuses_on_the_issuer():
    assert rejection(credential_match, parsed(), []) == "no_credential_for_issuer"


# --- 5. the key -------------------------------------------------------------------------------


def jwk(**changes) -> dict:
    return {**IdpKey.generate().public_jwk, "kid": "k1", **changes}


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        pytest.param(jwk(kid="other"), "unknown_kid", id="another kid"),
        pytest.param(jwk(kty="EC"), "key_unusable", id="not RSA"),
        pytest.param(jwk(use="enc"), "key_unusable", id="an encryption key"),
        # RFC 7517 §4.3, §4.4: the key's own metadata (keys cached before it was checked)
        pytest.param(jwk(key_ops=["encrypt"]), "key_unusable", id="key_ops without verify"),
        pytest.param(jwk(key_ops="verify"), "key_unusable", id="key_ops not a list"),
        pytest.param(jwk(alg="RS512"), "key_unusable", id="alg RS512"),
        pytest.param(jwk(alg="PS256"), "key_unusable", id="alg PS256"),
        pytest.param(
            {**IdpKey.generate(1024).public_jwk, "kid": "k1"}, "key_unusable", id="1024 bits"
        ),
        pytest.param(jwk(n="***"), "key_unusable", id="a modulus that is not base64url"),
    ],
)
def test_the_key_must_be_an_rsa_signing_key_of_2048_bits_named_by_kid(key, reason):
    assert rejection(signing_key_select, parsed(), [key]) == reason


@pytest.mark.parametrize(
    "changes",
    [{}, {"key_ops": ["verify"]}, {"key_ops": ["sign", "verify"]}, {"alg": "RS256"}],
    ids=["no metadata", "key_ops verify", "key_ops sign and verify", "alg RS256"],
)
def test_key_metadata_that_allows_rs256_verification_is_usable(changes):
    key = jwk(**changes)

    assert signing_key_select(parsed(), [key]) == key


def test_the_issuers_key_comes_from_its_jwks(identity_provider):
    token = assertion_parse(identity_provider.mint("gcp"))

    key = issuer_signing_key(token, identity_provider.issuer("gcp"))

    assert key["kid"] == identity_provider.key("gcp").kid


def test_an_unreachable_issuer_is_one_reason_for_the_caller(identity_provider):
    token = assertion_parse(identity_provider.mint("gcp"))
    identity_provider.down()

    assert rejection(issuer_signing_key, token, identity_provider.issuer("gcp")) == (
        "issuer_unreachable"
    )


# --- 6. the signature -----------------------------------------------------------------------


def test_the_providers_signature_verifies(identity_provider):
    token = assertion_parse(identity_provider.mint("entra"))

    signature_verify(token, identity_provider.key("entra").public_jwk)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[: t.rindex(".") + 1], id="no signature"),
        pytest.param(lambda t: _flip(t, len(t) - 20), id="one character of the signature"),
        pytest.param(lambda t: t + "AAAA", id="a longer signature"),
    ],
)
def test_a_signature_that_does_not_verify_is_refused(identity_provider, tamper):
    token = assertion_parse(tamper(identity_provider.mint("entra")))

    assert rejection(signature_verify, token, identity_provider.key("entra").public_jwk) == (
        "bad_signature"
    )


def test_a_signature_by_another_key_is_refused(identity_provider):
    token = assertion_parse(identity_provider.mint("entra", key=IdpKey.generate()))

    assert rejection(signature_verify, token, identity_provider.key("entra").public_jwk) == (
        "bad_signature"
    )


def test_the_signature_is_checked_as_rs256_whatever_else_the_key_could_verify(identity_provider):
    # given a PS256 signature by the issuer's own RSA key, under a header that says RS256
    header = {"alg": "RS256", "kid": identity_provider.key("entra").kid}
    claims = identity_provider.default_claims("entra", now=int(time.time()), lifetime=300)
    token = identity_provider.sign_raw(header, claims, shape="entra", alg="PS256")

    # then RFC 7518 §3.3 (PKCS#1 v1.5) is the only padding tried
    assert rejection(
        signature_verify, assertion_parse(token), identity_provider.key("entra").public_jwk
    ) == ("bad_signature")


def test_an_hs256_signature_keyed_with_the_public_key_never_reaches_verification(
    identity_provider,
):
    token = identity_provider.mint("entra", header={"alg": "HS256"})

    assert rejection(assertion_parse, token) == "alg_not_allowed"


# --- 7. times ---------------------------------------------------------------------------------

NOW = 1_900_000_000


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"exp": NOW - 60}, "expired", id="expired 60 s ago"),
        pytest.param({}, "expired", id="no exp"),
        pytest.param({"exp": NOW + 300, "nbf": NOW + 61}, "not_yet_valid", id="nbf 61 s ahead"),
        pytest.param({"exp": NOW + 300, "iat": NOW + 61}, "issued_in_future", id="iat 61 s ahead"),
        pytest.param({"exp": NOW + 86_400 + 61}, "lifetime_too_long", id="exp 24 h 61 s ahead"),
    ],
)
def test_times_outside_the_leeway_are_refused(claims, reason):
    assert rejection(times_check, assertion_parse(raw(HEADER, claims)), now=NOW) == reason


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": NOW - 59}, id="expired 59 s ago"),
        pytest.param(
            {"exp": NOW + 300, "nbf": NOW + 60, "iat": NOW + 60}, id="nbf, iat 60 s ahead"
        ),
        pytest.param({"exp": NOW + 86_400 + 60}, id="exp 24 h 60 s ahead"),
        pytest.param({"exp": NOW + 0.5}, id="fractional exp"),
    ],
)
def test_times_within_the_leeway_pass(claims):
    times_check(assertion_parse(raw(HEADER, claims)), now=NOW)


# --- 8. replays ------------------------------------------------------------------------------


def replayable(**claims):
    return assertion_parse(raw(HEADER, {"iss": ISSUER, "exp": time.time() + 300, **claims}))


def test_a_jti_is_accepted_once_per_issuer():
    replay_check(replayable(jti="j1"))

    assert rejection(replay_check, replayable(jti="j1")) == "assertion_replayed"
    replay_check(replayable(jti="j2"))
    replay_check(replayable(jti="j1", iss="https://other.example"))


def test_a_token_without_jti_is_accepted_once_by_its_sha256():
    # SPEC §11: Entra's and Google Cloud's tokens carry no `jti`
    token = replayable(sub="workload")
    replay_check(token)

    assert rejection(replay_check, token) == "assertion_replayed"
    replay_check(replayable(sub="another workload"))
    replay_check(replayable(jti=""))  # an empty jti is no jti: the digest of this token


def test_a_jti_may_be_required():
    assert rejection(replay_check, replayable(), jti_required=True) == "jti_missing"
    assert rejection(replay_check, replayable(jti=""), jti_required=True) == "jti_missing"


@pytest.fixture
def private_redis(settings):
    """A Redis server of this test's own on loopback, so that its command counts are ours
    alone (the configured one may be shared), as the shared cache."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    store = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            store.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    settings.CACHES = {
        "default": {
            "BACKEND": "identity_server.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    yield store
    store.close()
    server.terminate()
    server.wait(timeout=10)


def commands(store) -> dict[str, int]:
    """Commands the server has run, by name (INFO's own left out)."""
    stats = store.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): value["calls"]
        for name, value in stats.items()
        if name != "cmdstat_info"
    }


def sent_by(store, call) -> dict[str, int]:
    before = commands(store)
    call()
    after = commands(store)
    return {name: n - before.get(name, 0) for name, n in after.items() if n != before.get(name)}


@pytest.mark.parametrize("claims", [{"jti": "j1"}, {}], ids=["jti", "sha256 of a token without"])
def test_recording_an_assertion_is_one_round_trip_that_expires_with_it(private_redis, claims):
    # given a connection to the store already open (redis-py's greeting is not a request's)
    cache.get("warm-up")
    token = replayable(**claims)

    # when / then: one SET with NX (atomic "first?") and EX (the expiry in the same command)
    assert sent_by(private_redis, lambda: replay_check(token)) == {"set": 1}
    (key,) = private_redis.keys("*assertion-*")
    assert 300 < private_redis.ttl(key) <= 300 + LEEWAY_SECONDS + 1

    # and a replay is refused in one round trip too, leaving the record as it was
    reasons = []
    assert sent_by(private_redis, lambda: reasons.append(rejection(replay_check, token))) == {
        "set": 1
    }
    assert reasons == ["assertion_replayed"]
    assert private_redis.ttl(key) > 300


def test_without_the_store_a_new_assertion_is_refused(shared_cache_down):
    # SPEC §10: replay protection fails closed
    assert rejection(replay_check, replayable(jti="j1")) == "replay_store_unavailable"


# --- the token endpoint's authentication ------------------------------------------------------


@pytest.fixture
def app(admin_membership):
    return external_app(organization=admin_membership.organization)[0]


def test_an_assertion_authenticates_the_client_with_its_credential(app, identity_provider):
    credential = shape_credential(app, identity_provider, "k8s")

    check = client_assertion_authenticate(app.client.client_id, identity_provider.mint("k8s"))

    assert (check.reason, check.credential_id) == ("", str(credential.pk))
    assert check.client.client_id == app.client.client_id
    assert check.authenticated_by == {"federated_credential_id": str(credential.pk)}


@pytest.mark.parametrize("client_id", ["app", ""], ids=["federated", "own route asked first"])
def test_a_new_assertion_is_parsed_and_decoded_once(app, identity_provider, monkeypatch, client_id):
    # given a spy that counts the parses (and still parses)
    shape_credential(app, identity_provider, "k8s")
    parses = []
    structure = assertions.assertion_structure
    monkeypatch.setattr(
        assertions, "assertion_structure", lambda token: parses.append(token) or structure(token)
    )
    token = identity_provider.mint("k8s")

    # when
    check = client_assertion_authenticate(app.client.client_id if client_id else "", token)

    # then one parse, whether it authenticated (federated) or not (no client_id: only an
    # application's own assertion may leave it out)
    assert check.reason == ("" if client_id else "client_id_missing")
    assert parses == [token]


def test_an_unknown_client_is_refused_without_parsing(db):
    check = client_assertion_authenticate(str(uuid.uuid4()), "not a JWT")

    assert (check.client, check.reason) == (None, "unknown_client")


def test_the_client_with_its_credentials_is_one_query_then_none(
    app, identity_provider, django_assert_num_queries
):
    shape_credential(app, identity_provider, "github")
    shape_credential(app, identity_provider, "gcp")
    client_changed(app.client.client_id)  # nothing of the client in memory
    tokens = [identity_provider.mint("gcp") for _ in range(2)]

    with django_assert_num_queries(2):  # the client with its credentials, and the last use
        assert client_assertion_authenticate(app.client.client_id, tokens[0]).reason == ""
    with django_assert_num_queries(0):
        assert client_assertion_authenticate(app.client.client_id, tokens[1]).reason == ""


def test_a_credential_created_in_another_process_works_at_once(app, identity_provider):
    # given this process's copy of the application, without credentials
    assert client_assertion_authenticate(app.client.client_id, identity_provider.mint("gcp")).reason
    subject, audience = identity_provider.subject_and_audience("gcp")

    # when another process creates a credential (its row, then the client's new generation)
    FederatedCredential.objects.create(
        app=app,
        name="gcp",
        issuer=identity_provider.issuer("gcp"),
        subject=subject,
        audience=audience,
    )
    cache.set(f"identity:client-generation:{app.client.client_id}", uuid.uuid4().hex)

    # then the refusal re-reads the client first, and the token is accepted
    check = client_assertion_authenticate(app.client.client_id, identity_provider.mint("gcp"))
    assert check.reason == ""


def test_base64url_helpers_agree_with_the_standard_library():
    # The hand-made tokens above rely on tests.idp.b64url being RFC 7515 §2's encoding.
    assert b64url(b"\xfb\xff") == base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=")
