"""The token endpoint's client_assertion path (SPEC §5, RFC 7523 §2.2) end to end: form
bodies in, RFC 6749 answers out, with real tokens from the test identity provider.

Every refusal issues no token and writes exactly one audit event with its reason code.
"""

import base64
import json
import time
import uuid
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest

from federation.models import FederatedCredential
from federation.services import (
    CREDENTIAL_FIELDS,
    federated_credential_delete,
    federated_credential_update,
)
from federation.tests.factories import (
    a_minute_passes,
    external_app,
    shape_credential,
)
from identity_server.clients import forget_snapshots
from identity_server.models import OAuthClient
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import (
    JWT_BEARER,
    TOKEN_URL,
    assert_refused,
    assertion_form,
    failure_reasons,
)
from identity_server.tokens import access_token_decode
from tenants.tests.factories import MembershipFactory
from tests.idp import REMOVE, SHAPES, IdpKey, b64url

SCOPES = ["OR.Machines", "OR.Robots.Read", "PM.OAuthApp.Read"]


@pytest.fixture
def app(admin_membership):
    """A confidential application (it has a secret too) granted three scopes."""
    return external_app(organization=admin_membership.organization, scopes=SCOPES)


@pytest.fixture
def credentials(app, identity_provider) -> dict[str, FederatedCredential]:
    """One credential per provider shape, each accepting that provider's tokens as minted.
    Creating them fetched each issuer; the provider's counters start after that."""
    created = {shape: shape_credential(app[0], identity_provider, shape) for shape in SHAPES}
    identity_provider.reset()
    return created


def exchange(client, app, assertion, **extra):
    return client.post(TOKEN_URL, assertion_form(app[0].client.client_id, assertion, **extra))


def assert_refused_once(response, reason, error="invalid_client", status=401):
    """No token, the RFC 6749 error, and one audit event with the reason code."""
    assert_refused(response, error, status)
    assert failure_reasons() == [reason]


def jwks_fetches(identity_provider, shape="github") -> int:
    return identity_provider.requests_for(urlsplit(identity_provider.jwks_url(shape)).path)


# --- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_each_provider_shape_gets_a_one_hour_token_naming_its_credential(
    client, app, credentials, identity_provider, shape
):
    # when
    response = exchange(client, app, identity_provider.mint(shape))

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["scope"].split() == SCOPES
    assert "refresh_token" not in body
    claims = access_token_decode(body["access_token"])
    assert claims["federated_credential_id"] == str(credentials[shape].pk)
    assert "secret_id" not in claims
    oauth_client = app[0].client
    assert (claims["client_id"], claims["sub"], claims["sub_type"]) == (
        oauth_client.client_id,
        oauth_client.client_id,
        "service.external",
    )
    assert claims["prt_id"] == str(oauth_client.organization.global_id)
    assert claims["exp"] - claims["iat"] == 3600
    assert failure_reasons() == []


def test_the_token_verifies_with_pyjwt_and_works_at_our_apis(
    client, app, credentials, identity_provider, settings
):
    token = exchange(client, app, identity_provider.mint("github")).json()["access_token"]

    jwks = client.get("/identity_/.well-known/openid-configuration/jwks").json()
    key = pyjwt.PyJWKSet.from_dict(jwks)[pyjwt.get_unverified_header(token)["kid"]]
    claims = pyjwt.decode(token, key.key, algorithms=["RS256"], audience=settings.IDENTITY_AUDIENCE)
    assert claims["federated_credential_id"] == str(credentials["github"].pk)
    organization = app[0].organization.global_id
    listed = client.get(
        f"/identity_/api/ExternalClient/{organization}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200, listed.content


def test_the_scope_may_be_narrowed_but_not_widened(client, app, credentials, identity_provider):
    narrowed = exchange(client, app, identity_provider.mint("gcp"), scope="OR.Machines")
    assert narrowed.status_code == 200, narrowed.content
    assert narrowed.json()["scope"] == "OR.Machines"

    widened = exchange(client, app, identity_provider.mint("gcp"), scope="OR.Machines OR.Audit")

    assert_refused_once(widened, "scope_not_granted", "invalid_scope", 400)


def test_the_token_endpoint_of_another_organization_refuses(
    client, app, credentials, identity_provider
):
    other = MembershipFactory().organization

    response = client.post(
        f"/{other.slug}/identity_/connect/token",
        assertion_form(app[0].client.client_id, identity_provider.mint("k8s")),
    )

    assert_refused_once(response, "other_organization")


def test_the_token_endpoint_of_its_organization_serves(client, app, credentials, identity_provider):
    response = client.post(
        f"/{app[0].organization.slug}/identity_/connect/token",
        assertion_form(app[0].client.client_id, identity_provider.mint("k8s")),
    )

    assert response.status_code == 200, response.content


# --- the hot path --------------------------------------------------------------------------


def test_a_warm_exchange_reads_writes_and_fetches_nothing(
    client, app, credentials, identity_provider, django_assert_num_queries
):
    # given an application already served once (client, credentials and keys cached)
    assert exchange(client, app, identity_provider.mint("github")).status_code == 200
    served = identity_provider.requests_served

    # then
    with django_assert_num_queries(0):
        assert exchange(client, app, identity_provider.mint("github")).status_code == 200
    assert identity_provider.requests_served == served


def test_last_used_is_written_at_most_once_a_minute(client, app, credentials, identity_provider):
    # given
    assert exchange(client, app, identity_provider.mint("entra")).status_code == 200
    credential = FederatedCredential.objects.get(pk=credentials["entra"].pk)
    assert credential.last_used_at is not None
    FederatedCredential.objects.filter(pk=credential.pk).update(last_used_at=None)

    # when this process, then another one (nothing of this one's in memory), use it again
    assert exchange(client, app, identity_provider.mint("entra")).status_code == 200
    forget_snapshots()
    assert exchange(client, app, identity_provider.mint("entra")).status_code == 200

    # then the shared cache let neither write
    assert FederatedCredential.objects.get(pk=credential.pk).last_used_at is None
    assert FederatedCredential.objects.get(pk=credentials["github"].pk).last_used_at is None


def test_a_token_presented_again_is_refused_once_its_key_leaves_the_jwks(
    client, app, credentials, identity_provider, clock
):
    # given a token accepted once (this process remembers it verified)
    token = identity_provider.mint("github")
    assert exchange(client, app, token).status_code == 200

    # when the provider drops its key, and the cached keys are refreshed
    identity_provider.rotate_keys("github")
    clock.advance(hours=1, minutes=1)
    a_minute_passes(identity_provider.issuer("github"))

    # then
    assert_refused_once(exchange(client, app, token), "unknown_kid")


def test_a_token_presented_again_is_refused_once_its_kid_names_another_key(
    client, app, credentials, identity_provider, clock
):
    # given a token accepted once (this process remembers the key that verified it)
    token = identity_provider.mint("github")
    assert exchange(client, app, token).status_code == 200

    # when the provider publishes another key under the same kid, and the keys are refreshed
    kid = identity_provider.key("github").kid
    identity_provider.serve_jwks("github", {"keys": [{**IdpKey.generate().public_jwk, "kid": kid}]})
    clock.advance(hours=1, minutes=1)
    a_minute_passes(identity_provider.issuer("github"))

    # then
    assert_refused_once(exchange(client, app, token), "bad_signature")


def test_a_token_presented_again_is_refused_once_it_expires(
    client, app, credentials, identity_provider, monkeypatch
):
    # given a token accepted once (this process remembers it verified)
    token = identity_provider.mint("github", lifetime=300)
    assert exchange(client, app, token).status_code == 200

    # when its lifetime and the leeway have passed
    later = time.time() + 300 + 61
    monkeypatch.setattr(time, "time", lambda: later)

    # then
    assert_refused_once(exchange(client, app, token), "expired")


def test_a_token_presented_again_is_refused_once_its_credential_changes(
    client, app, credentials, identity_provider
):
    token = identity_provider.mint("github")
    assert exchange(client, app, token).status_code == 200

    federated_credential_update(
        credential=credentials["github"],
        actor=TEST_ACTOR,
        **{
            **{f: getattr(credentials["github"], f) for f in CREDENTIAL_FIELDS},
            "subject": "repo:octo-org/octo-repo:environment:prod",
        },
    )

    assert_refused_once(exchange(client, app, token), "no_credential_for_subject")


# --- the request's form: invalid_request ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"client_assertion_type": ""}, "assertion_type_missing", id="no type"),
        pytest.param(
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            "assertion_type_unsupported",
            id="saml2 type",
        ),
        pytest.param({"client_assertion": ""}, "assertion_missing", id="type without assertion"),
        pytest.param({"client_id": ""}, "client_id_missing", id="no client_id"),
    ],
)
def test_a_malformed_assertion_request_is_an_invalid_request(
    client, app, credentials, identity_provider, change, reason
):
    form = {**assertion_form(app[0].client.client_id, identity_provider.mint("github")), **change}

    assert_refused_once(client.post(TOKEN_URL, form), reason, "invalid_request", 400)


def test_a_secret_and_an_assertion_together_are_an_invalid_request(
    client, app, credentials, identity_provider
):
    oauth_client, secret = app
    form = assertion_form(oauth_client.client_id, identity_provider.mint("github"))

    response = client.post(TOKEN_URL, {**form, "client_secret": secret})

    assert_refused_once(response, "multiple_authentication_methods", "invalid_request", 400)


def test_basic_credentials_and_an_assertion_together_are_an_invalid_request(
    client, app, credentials, identity_provider
):
    oauth_client, secret = app
    basic = base64.b64encode(f"{oauth_client.client_id}:{secret}".encode()).decode()
    form = assertion_form(oauth_client.client_id, identity_provider.mint("github"))

    response = client.post(TOKEN_URL, form, headers={"Authorization": f"Basic {basic}"})

    assert_refused_once(response, "multiple_authentication_methods", "invalid_request", 400)


def test_a_repeated_assertion_is_an_invalid_request(client, app, credentials, identity_provider):
    token = identity_provider.mint("github")
    body = (
        f"grant_type=client_credentials&client_id={app[0].client.client_id}"
        f"&client_assertion_type={JWT_BEARER}&client_assertion={token}&client_assertion={token}"
    )

    response = client.post(TOKEN_URL, body, content_type="application/x-www-form-urlencoded")

    assert_refused_once(response, "duplicate_parameter", "invalid_request", 400)


# --- the assertion: invalid_client ----------------------------------------------------------


def sized(identity_provider, size: int) -> str:
    """A valid github token of exactly `size` bytes, padded with a claim (and, for the
    lengths base64 cannot reach through the payload alone, a header parameter)."""
    for header_pad in range(4):
        header = {"x-pad": "h" * header_pad}
        base = len(identity_provider.mint("github", header=header, claims={"pad": ""}))
        estimate = (size - base) * 3 // 4
        for pad in range(max(0, estimate - 4), estimate + 5):
            token = identity_provider.mint("github", header=header, claims={"pad": "p" * pad})
            if len(token) == size:
                return token
    raise AssertionError(f"no token of {size} bytes")


def test_an_assertion_of_8192_bytes_is_accepted(client, app, credentials, identity_provider):
    response = exchange(client, app, sized(identity_provider, 8192))

    assert response.status_code == 200, response.content


def test_an_assertion_of_8193_bytes_is_refused_before_parsing(
    client, app, credentials, identity_provider
):
    response = exchange(client, app, sized(identity_provider, 8193))

    assert_refused_once(response, "assertion_too_large")
    assert jwks_fetches(identity_provider) == 0


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param({"alg": "none"}, "alg_not_allowed", id="alg none"),
        pytest.param({"alg": "HS256"}, "alg_not_allowed", id="HS256 keyed with the public key"),
        pytest.param({"alg": "RS512"}, "alg_not_allowed", id="RS512"),
        pytest.param({"alg": "ES256"}, "alg_not_allowed", id="ES256"),
        pytest.param({"alg": "PS256"}, "alg_not_allowed", id="PS256"),
        pytest.param({"kid": REMOVE}, "kid_missing", id="no kid"),
        pytest.param({"kid": ""}, "kid_missing", id="empty kid"),
        pytest.param({"jku": "https://attacker.example/jwks"}, "key_header_forbidden", id="jku"),
        pytest.param({"x5u": "https://attacker.example/cert"}, "key_header_forbidden", id="x5u"),
        pytest.param({"crit": ["exp"]}, "crit_not_supported", id="crit"),
    ],
)
def test_a_header_outside_the_rules_is_refused(
    client, app, credentials, identity_provider, header, reason
):
    response = exchange(client, app, identity_provider.mint("github", header=header))

    assert_refused_once(response, reason)


def test_a_jwk_header_with_the_attackers_own_key_is_refused(
    client, app, credentials, identity_provider
):
    attacker = IdpKey.generate()
    token = identity_provider.mint(
        "github", header={"kid": attacker.kid, "jwk": attacker.public_jwk}, key=attacker
    )

    assert_refused_once(exchange(client, app, token), "key_header_forbidden")


def test_a_signature_by_another_key_under_the_providers_kid_is_refused(
    client, app, credentials, identity_provider
):
    token = identity_provider.mint("github", key=IdpKey.generate())

    assert_refused_once(exchange(client, app, token), "bad_signature")


def test_a_tampered_payload_is_refused(client, app, credentials, identity_provider):
    header, _payload, signature = identity_provider.mint("github").split(".")
    claims = identity_provider.default_claims("github", now=int(time.time()), lifetime=300)
    forged = b64url(json.dumps({**claims, "repository": "attacker/repo"}).encode())

    assert_refused_once(exchange(client, app, f"{header}.{forged}.{signature}"), "bad_signature")


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        pytest.param(lambda now: {"now": now - 3600, "lifetime": 300}, "expired", id="expired"),
        pytest.param(lambda now: {"claims": {"exp": REMOVE}}, "expired", id="no exp"),
        pytest.param(
            lambda now: {"claims": {"nbf": now + 120}}, "not_yet_valid", id="nbf 2 min ahead"
        ),
        pytest.param(
            lambda now: {"claims": {"iat": now + 120}}, "issued_in_future", id="iat 2 min ahead"
        ),
        pytest.param(
            lambda now: {"lifetime": 24 * 3600 + 120},
            "lifetime_too_long",
            id="exp 24 h 2 min ahead",
        ),
        pytest.param(
            lambda now: {"claims": {"exp": str(now + 300)}}, "invalid_claims", id="exp a string"
        ),
        pytest.param(lambda now: {"claims": {"exp": None}}, "invalid_claims", id="exp null"),
        pytest.param(lambda now: {"claims": {"exp": True}}, "invalid_claims", id="exp a boolean"),
        pytest.param(lambda now: {"claims": {"nbf": "now"}}, "invalid_claims", id="nbf a string"),
        pytest.param(lambda now: {"claims": {"sub": 42}}, "invalid_claims", id="sub a number"),
        pytest.param(
            lambda now: {"claims": {"aud": ["a", 1]}}, "invalid_claims", id="aud with a number"
        ),
    ],
)
def test_times_and_claim_types_outside_the_rules_are_refused(
    client, app, credentials, identity_provider, mint, reason
):
    response = exchange(client, app, identity_provider.mint("github", **mint(int(time.time()))))

    assert_refused_once(response, reason)


@pytest.mark.parametrize(
    "mint",
    [
        pytest.param(lambda now: {"claims": {"nbf": now + 50}}, id="nbf 50 s ahead"),
        pytest.param(lambda now: {"claims": {"iat": now + 50}}, id="iat 50 s ahead"),
        pytest.param(lambda now: {"now": now - 350, "lifetime": 300}, id="expired 50 s ago"),
        pytest.param(lambda now: {"lifetime": 24 * 3600 + 50}, id="exp 24 h 50 s ahead"),
    ],
)
def test_times_within_the_leeway_are_accepted(client, app, credentials, identity_provider, mint):
    response = exchange(client, app, identity_provider.mint("github", **mint(int(time.time()))))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param(
            lambda idp: {"iss": idp.issuer("github") + "/"},
            "no_credential_for_issuer",
            id="issuer with a trailing slash",
        ),
        pytest.param(lambda idp: {"iss": REMOVE}, "no_credential_for_issuer", id="no issuer"),
        pytest.param(
            lambda idp: {"sub": "repo:Octo-Org/octo-repo:ref:refs/heads/main"},
            "no_credential_for_subject",
            id="subject differing by case",
        ),
        pytest.param(
            lambda idp: {"sub": "repo:octo-org/octo-repo:pull_request"},
            "no_credential_for_subject",
            id="pull request subject",
        ),
        pytest.param(lambda idp: {"aud": REMOVE}, "no_credential_for_audience", id="no audience"),
        pytest.param(
            lambda idp: {"aud": "https://github.com/other-org"},
            "no_credential_for_audience",
            id="another audience",
        ),
        pytest.param(
            lambda idp: {"aud": ["https://github.com/Octo-Org"]},
            "no_credential_for_audience",
            id="audience differing by case in a list",
        ),
    ],
)
def test_claims_that_match_no_credential_exactly_are_refused_without_a_fetch(
    client, app, credentials, identity_provider, claims, reason
):
    token = identity_provider.mint("github", claims=claims(identity_provider))

    assert_refused_once(exchange(client, app, token), reason)
    assert identity_provider.requests_served == 0


def test_an_audience_among_several_is_accepted(client, app, credentials, identity_provider):
    _subject, audience = identity_provider.subject_and_audience("github")
    token = identity_provider.mint("github", claims={"aud": ["https://other.example", audience]})

    assert exchange(client, app, token).status_code == 200


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        pytest.param(
            lambda idp: idp.sign_raw(b'{"alg":"RS256","kid":"K","alg":"none"}', {"sub": "x"}),
            "invalid_json",
            id="duplicate keys in the header",
        ),
        pytest.param(
            lambda idp: idp.sign_raw(
                {"alg": "RS256", "kid": idp.key("github").kid},
                json.dumps(idp.default_claims("github", now=int(time.time()), lifetime=300))[
                    :-1
                ].encode()
                + b', "sub": "repo:attacker/repo:ref:refs/heads/main"}',
            ),
            "invalid_json",
            id="duplicate sub in the payload",
        ),
        pytest.param(
            lambda idp: idp.sign_raw(
                {"alg": "RS256", "kid": "K"}, b'{"a":' * 40 + b"1" + b"}" * 40
            ),
            "invalid_json",
            id="nested 40 deep",
        ),
        pytest.param(
            lambda idp: idp.sign_raw({"alg": "RS256", "kid": "K"}, b"[" * 2000 + b"]" * 2000),
            "invalid_json",
            id="nested 2000 deep",
        ),
        pytest.param(
            lambda idp: idp.sign_raw({"alg": "RS256", "kid": "K"}, b'["not", "an", "object"]'),
            "invalid_json",
            id="payload an array",
        ),
        pytest.param(
            lambda idp: idp.sign_raw({"alg": "RS256", "kid": "K"}, b'{"exp": NaN}'),
            "invalid_json",
            id="NaN",
        ),
        pytest.param(
            lambda idp: idp.sign_raw({"alg": "RS256", "kid": "K"}, b"\xff\xfe{}"),
            "invalid_json",
            id="payload not UTF-8",
        ),
        pytest.param(
            lambda idp: idp.mint("github").replace(".", ".=", 1),
            "malformed",
            id="base64 padding",
        ),
        pytest.param(
            lambda idp: idp.mint("github").replace("-", "+").replace("_", "/") + "+/",
            "malformed",
            id="standard base64 alphabet",
        ),
        pytest.param(
            lambda idp: idp.mint("github")[:10] + "*" + idp.mint("github")[10:],
            "malformed",
            id="a character outside base64url",
        ),
        pytest.param(lambda idp: idp.mint("github") + ".x", "malformed", id="four parts"),
        pytest.param(lambda idp: "a.b", "malformed", id="two parts"),
        pytest.param(lambda idp: "é.é.é", "malformed", id="not ASCII"),
        pytest.param(lambda idp: "....", "malformed", id="only dots"),
    ],
)
def test_a_malformed_assertion_is_refused_never_a_server_error(
    client, app, credentials, identity_provider, build, reason
):
    response = exchange(client, app, build(identity_provider))

    assert_refused_once(response, reason)


def test_an_unknown_client_is_refused(client, app, credentials, identity_provider):
    response = client.post(
        TOKEN_URL, assertion_form(str(uuid.uuid4()), identity_provider.mint("gcp"))
    )

    assert_refused_once(response, "unknown_client")


# --- which credentials count -------------------------------------------------------------


@pytest.fixture
def lone_app(admin_membership):
    """An application of the same organization without any credential."""
    return external_app(organization=admin_membership.organization, name="Lone", scopes=SCOPES)


@pytest.mark.parametrize("owner_organization", ["same", "another"])
def test_a_credential_of_another_application_does_not_count(
    client, lone_app, admin_membership, identity_provider, owner_organization
):
    # given a credential matching the token, of another application
    organization = (
        admin_membership.organization
        if owner_organization == "same"
        else MembershipFactory().organization
    )
    owner = external_app(organization=organization, name="Owner", scopes=SCOPES)
    shape_credential(owner[0], identity_provider, "github")
    token = identity_provider.mint("github")

    # when the token is presented for the application without credentials
    response = exchange(client, lone_app, token)

    # then
    assert_refused_once(response, "no_credential_for_issuer")
    assert exchange(client, owner, token).status_code == 200


def test_a_deleted_credential_stops_new_exchanges_at_once(
    client, app, credentials, identity_provider
):
    # given a token obtained with the credential
    first = exchange(client, app, identity_provider.mint("github"))
    assert first.status_code == 200

    # when the credential is deleted
    federated_credential_delete(credential=credentials["github"], actor=TEST_ACTOR)

    # then no new exchange, while the token already issued stays valid
    assert_refused_once(
        exchange(client, app, identity_provider.mint("github")), "no_credential_for_issuer"
    )
    assert access_token_decode(first.json()["access_token"])["client_id"]


def test_a_machine_cannot_use_an_assertion(client, admin_membership, identity_provider):
    machine, _secret = client_with_secret(
        organization=admin_membership.organization,
        kind=OAuthClient.Kind.MACHINE,
        tenant=admin_membership.organization.tenants.get(),
        scopes=["OrchestratorApiUserAccess"],
    )

    response = client.post(
        TOKEN_URL, assertion_form(machine.client_id, identity_provider.mint("github"))
    )

    assert_refused_once(response, "no_credential_for_issuer")


# --- keys at the provider --------------------------------------------------------------------


def test_an_unknown_kid_refetches_once_then_is_refused(client, app, credentials, identity_provider):
    # given the provider's keys cached a minute ago
    assert exchange(client, app, identity_provider.mint("github")).status_code == 200
    assert jwks_fetches(identity_provider) == 1
    a_minute_passes(identity_provider.issuer("github"))

    # when a token names a kid the provider does not publish
    stranger = IdpKey.generate()
    response = exchange(
        client, app, identity_provider.mint("github", key=stranger, header={"kid": stranger.kid})
    )

    # then the keys are fetched once more, and the token refused
    assert_refused_once(response, "unknown_kid")
    assert jwks_fetches(identity_provider) == 2

    # and a second unknown kid within the minute fetches nothing
    other = IdpKey.generate()
    again = exchange(
        client, app, identity_provider.mint("github", key=other, header={"kid": other.kid})
    )
    assert_refused(again, "invalid_client", 401)
    assert jwks_fetches(identity_provider) == 2


def test_a_key_rotation_at_the_provider_is_picked_up_without_a_restart(
    client, app, credentials, identity_provider
):
    # given
    assert exchange(client, app, identity_provider.mint("entra")).status_code == 200
    a_minute_passes(identity_provider.issuer("entra"))

    # when the provider signs with a new key, and no longer publishes the old one
    identity_provider.rotate_keys("entra")
    response = exchange(client, app, identity_provider.mint("entra"))

    # then
    assert response.status_code == 200, response.content
    assert jwks_fetches(identity_provider, "entra") == 2


def test_with_the_provider_down_a_warm_cache_still_serves(
    client, app, credentials, identity_provider
):
    assert exchange(client, app, identity_provider.mint("k8s")).status_code == 200

    identity_provider.down()
    response = exchange(client, app, identity_provider.mint("k8s"))

    assert response.status_code == 200, response.content


def test_with_the_provider_down_a_cold_cache_is_a_clear_refusal(
    client, app, credentials, identity_provider
):
    token = identity_provider.mint("k8s")
    identity_provider.down()

    response = exchange(client, app, token)

    assert_refused_once(response, "issuer_unreachable")


def test_keys_older_than_the_stale_limit_are_not_served(
    client, app, credentials, identity_provider, clock
):
    # given keys cached, then the provider down for more than a day
    assert exchange(client, app, identity_provider.mint("gcp")).status_code == 200
    identity_provider.down()
    clock.advance(hours=2)
    a_minute_passes(identity_provider.issuer("gcp"))
    assert exchange(client, app, identity_provider.mint("gcp")).status_code == 200  # stale, served

    # when
    clock.advance(hours=23)
    a_minute_passes(identity_provider.issuer("gcp"))
    response = exchange(client, app, identity_provider.mint("gcp"))

    # then
    assert_refused_once(response, "issuer_unreachable")


# --- replay protection ------------------------------------------------------------------


def test_without_replay_protection_a_token_may_be_presented_again(
    client, app, credentials, identity_provider
):
    token = identity_provider.mint("github")

    assert [exchange(client, app, token).status_code for _ in range(2)] == [200, 200]


@pytest.fixture
def replay_protection(settings):
    settings.FEDERATION_ASSERTION_REPLAY_PROTECTION = True


def test_with_replay_protection_a_token_is_accepted_once(
    client, app, credentials, identity_provider, replay_protection
):
    token = identity_provider.mint("github")
    assert exchange(client, app, token).status_code == 200

    assert_refused_once(exchange(client, app, token), "assertion_replayed")
    assert exchange(client, app, identity_provider.mint("github")).status_code == 200


@pytest.mark.parametrize("shape", ["gcp", "entra"])
def test_with_replay_protection_a_token_without_jti_is_accepted_once(
    client, app, credentials, identity_provider, replay_protection, shape
):
    # given Google Cloud's and Entra's tokens, which carry no `jti` (SPEC §11)
    now = int(time.time())
    token = identity_provider.mint(shape, now=now)
    assert "jti" not in json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))

    # when it is presented twice
    first, again = exchange(client, app, token), exchange(client, app, token)

    # then it is accepted once, recognised by its SHA-256, and another token still is
    assert first.status_code == 200, first.content
    assert_refused_once(again, "assertion_replayed")
    other = identity_provider.mint(shape, now=now - 1)
    assert exchange(client, app, other).status_code == 200


def test_a_refused_token_does_not_use_up_its_jti(
    client, app, credentials, identity_provider, replay_protection
):
    claims = {"jti": "only-once"}
    forged = identity_provider.mint("github", claims=claims, key=IdpKey.generate())
    assert_refused_once(exchange(client, app, forged), "bad_signature")

    assert exchange(client, app, identity_provider.mint("github", claims=claims)).status_code == 200


def test_replay_protection_fails_closed_when_its_store_is_unreachable(
    client, app, credentials, identity_provider, replay_protection, shared_cache_down
):
    # when
    response = exchange(client, app, identity_provider.mint("github"))

    # then the token is refused, and the refusal audited all the same
    assert_refused_once(response, "replay_store_unavailable")


def test_without_replay_protection_an_unreachable_cache_does_not_stop_exchanges(
    client, app, credentials, identity_provider, shared_cache_down
):
    responses = [exchange(client, app, identity_provider.mint("github")) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert jwks_fetches(identity_provider) == 1  # this process's copy served the second


# --- key metadata (SPEC §11) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [{"key_ops": ["encrypt"]}, {"alg": "RS512"}, {"use": "enc"}],
    ids=["key_ops encrypt", "alg RS512", "use enc"],
)
def test_a_key_whose_metadata_forbids_rs256_does_not_verify_tokens(
    client, app, identity_provider, metadata
):
    # given the issuer's signing key published with metadata that forbids RS256 verifying,
    # beside another key that allows it
    signing = identity_provider.key("gcp").public_jwk
    other = IdpKey.generate().public_jwk
    identity_provider.serve_jwks("gcp", {"keys": [{**signing, **metadata}, other]})
    shape_credential(app[0], identity_provider, "gcp")

    # when a token signed with the restricted key is presented
    response = exchange(client, app, identity_provider.mint("gcp"))

    # then that key is not among the issuer's usable keys
    assert_refused_once(response, "unknown_kid")
