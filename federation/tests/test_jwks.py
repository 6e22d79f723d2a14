"""The guarded fetcher, against the real HTTPS identity provider of tests/idp.py.

Every refusal is provoked over a real socket; a fake resolver (socket.getaddrinfo) stands
in for DNS only where a test needs a name to resolve to addresses of its choosing.
"""

import ipaddress
import json
import socket
import time

import pytest

from federation.jwks import (
    MAX_BODY_BYTES,
    IssuerUnreachable,
    address_is_public,
    fetch_json,
    issuer_keys_fetch,
    issuer_uri_problem,
    usable_rsa_keys,
)
from tests.idp import SHAPES, Answer, IdpKey
from tests.processes import free_port

DEADLINE = 1


@pytest.fixture
def short_deadline(settings):
    settings.FEDERATION_FETCH_TIMEOUT_SECONDS = DEADLINE


def refusal(call, *args, **kwargs) -> IssuerUnreachable:
    with pytest.raises(IssuerUnreachable) as caught:
        call(*args, **kwargs)
    refused = caught.value
    # The message is for the admin who named the issuer: one printable line, short.
    assert str(refused) == refused.message
    assert refused.message.isprintable() and len(refused.message) < 600
    assert refused.detail
    return refused


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
def resolver(monkeypatch):
    """Names of the test's choosing resolve to given addresses, one list per lookup."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


# --- the issuer string -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://token.actions.githubusercontent.com", None),
        ("https://login.microsoftonline.com/3f9a5e1c/v2.0", None),
        ("https://idp.example.com:8443/", None),
        ("http://token.actions.githubusercontent.com", "https://"),
        ("token.actions.githubusercontent.com", "https://"),
        ("https://user:pass@idp.example.com", "user name or password"),
        ("https://@idp.example.com", "user name or password"),
        ("https://idp.example.com/?tenant=1", "query or a fragment"),
        ("https://idp.example.com/#top", "query or a fragment"),
        ("https://idp.example.com?", "query or a fragment"),
        ("https:///path", "host"),
        ("https://idp.example.com:99999", "valid"),
        ("https://idp.example.com/a b", "spaces"),
        ("https://idp.example.com/\x00", "control"),
        ("https://idp.example.com/" + "a" * 1024, "1024"),
        ("", "HTTPS URI"),
    ],
)
def test_issuer_uri_problem(issuer, expected):
    problem = issuer_uri_problem(issuer)

    if expected is None:
        assert problem is None
    else:
        assert expected in problem


# --- addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        pytest.param("8.8.8.8", True, id="public-v4"),
        pytest.param("2606:4700::1111", True, id="public-v6"),
        pytest.param("::ffff:8.8.8.8", True, id="v4-mapped-public"),
        pytest.param("64:ff9b::808:808", True, id="nat64-public"),
        pytest.param("127.0.0.1", False, id="loopback"),
        pytest.param("127.255.0.1", False, id="loopback-range"),
        pytest.param("10.0.0.1", False, id="private-10"),
        pytest.param("172.16.0.1", False, id="private-172"),
        pytest.param("192.168.1.1", False, id="private-192"),
        pytest.param("100.64.0.1", False, id="shared-cgnat"),
        pytest.param("169.254.169.254", False, id="metadata"),
        pytest.param("169.254.1.1", False, id="link-local"),
        pytest.param("0.0.0.0", False, id="unspecified"),  # noqa: S104
        pytest.param("224.0.0.1", False, id="multicast"),
        pytest.param("240.0.0.1", False, id="reserved"),
        pytest.param("255.255.255.255", False, id="broadcast"),
        pytest.param("192.0.2.1", False, id="documentation"),
        pytest.param("198.18.0.1", False, id="benchmarking"),
        pytest.param("::1", False, id="v6-loopback"),
        pytest.param("::", False, id="v6-unspecified"),
        pytest.param("fe80::1", False, id="v6-link-local"),
        pytest.param("fc00::1", False, id="unique-local"),
        pytest.param("fd00:ec2::254", False, id="aws-metadata-v6"),
        pytest.param("fec0::1", False, id="site-local"),
        pytest.param("ff02::1", False, id="v6-multicast"),
        pytest.param("2001:db8::1", False, id="v6-documentation"),
        pytest.param("::ffff:127.0.0.1", False, id="v4-mapped-loopback"),
        pytest.param("::ffff:10.0.0.1", False, id="v4-mapped-private"),
        pytest.param("::ffff:169.254.169.254", False, id="v4-mapped-metadata"),
        pytest.param("::7f00:1", False, id="v4-compatible-loopback"),
        pytest.param("::808:808", False, id="v4-compatible-deprecated"),
        pytest.param("2002:a00:1::1", False, id="6to4-private"),
        pytest.param("2002:808:808::1", False, id="6to4-deprecated"),
        pytest.param("64:ff9b::a00:1", False, id="nat64-private"),
        pytest.param("64:ff9b::7f00:1", False, id="nat64-loopback"),
        pytest.param("2001::1", False, id="teredo"),
    ],
)
def test_address_is_public(address, public):
    assert address_is_public(ipaddress.ip_address(address)) is public


# --- happy paths -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_each_provider_shape_yields_its_keys(identity_provider, shape):
    keys = issuer_keys_fetch(identity_provider.issuer(shape))

    assert keys == identity_provider.jwks(shape)["keys"]
    assert identity_provider.requests_served == 2


def test_the_discovery_url_drops_one_trailing_slash_but_the_issuer_must_still_match(
    identity_provider,
):
    issuer = identity_provider.issuer("github")
    identity_provider.discovery_issuer("github", issuer + "/")

    keys = issuer_keys_fetch(issuer + "/")

    assert keys == identity_provider.jwks("github")["keys"]
    assert identity_provider.requests_for("/github/.well-known/openid-configuration") == 1


def test_charset_and_the_jwk_set_media_type_are_json(identity_provider):
    discovery = identity_provider.discovery_url("gcp")
    jwks = identity_provider.jwks_url("gcp")
    identity_provider.respond(
        _path(discovery),
        Answer(
            body=json.dumps(fetch_json(discovery)).encode(),
            content_type="Application/JSON; charset=utf-8",
        ),
    )
    identity_provider.respond(
        _path(jwks),
        Answer(
            body=json.dumps(identity_provider.jwks("gcp")).encode(),
            content_type="application/jwk-set+json",
        ),
    )

    assert issuer_keys_fetch(identity_provider.issuer("gcp"))


def test_environment_proxies_are_ignored(identity_provider, monkeypatch):
    # given: every proxy variable points at a port where nothing listens
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent.pem")

    # then
    assert issuer_keys_fetch(identity_provider.issuer("k8s"))


# --- refusals before any connection ----------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [
        ("http://{host}/github", "not_https"),
        ("https://user:secret@{host}/github", "has_userinfo"),
        ("https://{host}/github?x=1", "has_query_or_fragment"),
        ("https://{host}/github#x", "has_query_or_fragment"),
        ("https://{host}:0x1/github", "invalid_url"),
    ],
)
def test_malformed_issuers_are_refused_without_a_request(identity_provider, issuer, reason):
    host = f"127.0.0.1:{identity_provider.port}"

    refused = refusal(issuer_keys_fetch, issuer.format(host=host))

    assert refused.reason == reason
    assert identity_provider.requests_served == 0


def test_loopback_is_refused_without_the_allowlist(identity_provider, settings):
    settings.FEDERATION_OUTBOUND_ALLOWLIST = []

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "address_not_public"
    assert identity_provider.requests_served == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/.well-known/openid-configuration",
        "https://192.168.0.1:8443/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::1]/x",
        "https://0.0.0.0/x",
    ],
)
def test_non_public_addresses_are_refused_before_connecting(identity_provider, url):
    started = time.monotonic()

    refused = refusal(fetch_json, url)

    # A connection attempt to an unroutable address would end in connect_failed or the
    # deadline, not in this reason within milliseconds.
    assert refused.reason == "address_not_public"
    assert time.monotonic() - started < 0.5


def test_an_ipv4_mapped_loopback_is_refused_even_with_the_ipv4_form_allowlisted(
    identity_provider,
):
    url = f"https://[::ffff:127.0.0.1]:{identity_provider.port}/github/.well-known/jwks"

    assert refusal(fetch_json, url).reason == "address_not_public"
    assert identity_provider.requests_served == 0


def test_an_allowlisted_host_is_open_on_its_port_only(identity_provider, settings):
    # given: the provider allowed on its port, by address and by name
    other = identity_provider.port + 1 if identity_provider.port < 65535 else 1024

    # when
    by_address = refusal(fetch_json, f"https://127.0.0.1:{other}/github/.well-known/jwks")
    by_name = refusal(fetch_json, f"https://localhost:{other}/github/.well-known/jwks")

    # then
    assert by_address.reason == by_name.reason == "port_not_allowed"
    assert f"not {other}" in by_address.detail


def test_a_name_that_resolves_to_any_non_public_address_is_refused(identity_provider, resolver):
    # given: one public and one private answer (an allowlist names neither)
    answers, _ = resolver
    answers["mixed.example"] = [["93.184.215.14", "10.1.2.3"]]

    refused = refusal(fetch_json, "https://mixed.example/.well-known/openid-configuration")

    assert refused.reason == "address_not_public"
    assert "10.1.2.3" in refused.detail
    # The API's caller learns that the name is not public, not what is behind it.
    assert refused.message == (
        "Address not allowed: `mixed.example` does not resolve to a public address this server "
        "may fetch from (loopback, private, link-local and other non-public addresses are "
        "refused unless the operator allows them in FEDERATION_OUTBOUND_ALLOWLIST)."
    )


def test_an_unresolvable_name_is_refused(identity_provider):
    assert refusal(fetch_json, "https://no-such-host.invalid/x").reason == "dns_failed"


# --- pinning ---------------------------------------------------------------------------


def test_the_connection_goes_to_the_checked_address_with_the_real_name_for_tls(
    identity_provider, resolver
):
    # given: a name that resolves to the allowlisted address once, then elsewhere (DNS
    # rebinding); nothing listens on 127.0.0.2
    answers, lookups = resolver
    answers["identity-provider.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    url = f"https://identity-provider.test:{identity_provider.port}/github/.well-known/jwks"

    # when
    document = fetch_json(url)

    # then: one lookup, the connection to its answer, the certificate checked for the name
    assert document == identity_provider.jwks("github")
    assert lookups == ["identity-provider.test"]
    assert identity_provider.requests_for("/github/.well-known/jwks") == 1


def test_the_certificate_is_checked_against_the_name_in_the_url(identity_provider, resolver):
    # given: a name the provider's certificate does not cover, at the allowlisted address
    answers, _ = resolver
    answers["impostor.test"] = [["127.0.0.1"]]

    refused = refusal(fetch_json, f"https://impostor.test:{identity_provider.port}/github")

    assert refused.reason == "tls_failed"
    assert "impostor.test" in refused.detail or "match" in refused.detail


def test_a_provider_outside_the_ca_bundle_is_refused(identity_provider, settings):
    settings.FEDERATION_CA_BUNDLE = None

    assert refusal(issuer_keys_fetch, identity_provider.issuer("github")).reason == "tls_failed"
    assert identity_provider.requests_served == 0


def test_an_unloadable_ca_bundle_refuses_before_connecting(identity_provider, settings, tmp_path):
    settings.FEDERATION_CA_BUNDLE = str(tmp_path / "missing.pem")

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "tls_failed"
    assert "FEDERATION_CA_BUNDLE" in refused.detail


# --- the answer ------------------------------------------------------------------------


def test_a_redirect_to_an_internal_address_is_not_followed(identity_provider):
    # given
    discovery = identity_provider.discovery_url("github")
    identity_provider.redirect(_path(discovery), "https://169.254.169.254/latest/meta-data/")

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "redirect_refused"
    assert "169.254.169.254" in refused.detail
    assert identity_provider.requests_served == 1


def test_a_redirect_is_not_followed_even_to_the_same_provider(identity_provider):
    jwks = identity_provider.jwks_url("github")
    identity_provider.redirect(_path(jwks), identity_provider.jwks_url("gcp"), status=307)

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "redirect_refused"
    assert identity_provider.requests_for(_path(identity_provider.jwks_url("gcp"))) == 0


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
def test_an_oversized_body_is_refused(identity_provider, declare_length):
    jwks = identity_provider.jwks_url("github")
    identity_provider.oversized(_path(jwks), size=MAX_BODY_BYTES + 1, declare_length=declare_length)

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "too_large"


def test_a_body_at_the_cap_is_read(identity_provider):
    jwks = identity_provider.jwks_url("github")
    identity_provider.oversized(_path(jwks), size=MAX_BODY_BYTES, declare_length=False)

    assert len(fetch_json(jwks)["padding"]) > MAX_BODY_BYTES - 100


def test_a_slow_server_is_abandoned_at_the_deadline(identity_provider, short_deadline):
    identity_provider.slow(DEADLINE + 2)
    started = time.monotonic()

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "deadline_exceeded"
    assert DEADLINE <= time.monotonic() - started < DEADLINE + 0.5


def test_a_server_trickling_bytes_is_cut_at_the_deadline(identity_provider, short_deadline):
    # given: a byte every 50 ms, so no single read ever waits long
    identity_provider.slow(0.05, trickle=True)
    started = time.monotonic()

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "deadline_exceeded"
    assert time.monotonic() - started < DEADLINE + 0.5


def test_discovery_and_keys_share_one_deadline(identity_provider, short_deadline):
    # given: each answer alone fits in the deadline, both together do not
    identity_provider.slow(DEADLINE * 0.6)

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("github"))

    assert refused.reason == "deadline_exceeded"
    assert identity_provider.requests_served == 2


def test_a_deadline_already_past_fetches_nothing(identity_provider):
    refused = refusal(fetch_json, identity_provider.jwks_url("k8s"), deadline=time.monotonic())

    assert refused.reason == "deadline_exceeded"
    assert identity_provider.requests_served == 0


def test_a_provider_that_is_down_is_refused(identity_provider):
    identity_provider.down()
    try:
        refused = refusal(issuer_keys_fetch, identity_provider.issuer("entra"))
    finally:
        identity_provider.up()

    assert refused.reason == "connect_failed"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(Answer(status=500, body=b"{}"), "http_status", id="server-error"),
        pytest.param(Answer(status=404, body=b"{}"), "http_status", id="not-found"),
        pytest.param(
            Answer(body=b"<html></html>", content_type="text/html"), "not_json", id="html"
        ),
        pytest.param(Answer(body=b"{}", content_type=None), "not_json", id="no-content-type"),
        pytest.param(
            Answer(body=b"{}", content_type="application/jsonp"), "not_json", id="json-lookalike"
        ),
        pytest.param(Answer(body=b'{"keys": ['), "invalid_json", id="truncated"),
        pytest.param(Answer(body=b'[{"kty": "RSA"}]'), "invalid_json", id="array"),
        pytest.param(Answer(body=b"[" * 60000), "invalid_json", id="deep-nesting"),
        pytest.param(Answer(body=b"\xff\xfe{}"), "invalid_json", id="not-utf8"),
        pytest.param(
            Answer(body=b"\x1f\x8b", headers={"Content-Encoding": "gzip"}),
            "content_encoding",
            id="gzip",
        ),
    ],
)
def test_a_bad_answer_from_the_jwks_uri_is_refused(identity_provider, answer, reason):
    identity_provider.respond(_path(identity_provider.jwks_url("github")), answer)

    assert refusal(issuer_keys_fetch, identity_provider.issuer("github")).reason == reason


def test_non_json_discovery_is_refused(identity_provider):
    identity_provider.non_json(_path(identity_provider.discovery_url("github")))

    assert refusal(issuer_keys_fetch, identity_provider.issuer("github")).reason == "not_json"


def test_the_jwk_set_media_type_is_not_accepted_for_discovery(identity_provider):
    discovery = _path(identity_provider.discovery_url("github"))
    identity_provider.respond(
        discovery, Answer(body=b"{}", content_type="application/jwk-set+json")
    )

    assert refusal(issuer_keys_fetch, identity_provider.issuer("github")).reason == "not_json"


# --- discovery and keys ----------------------------------------------------------------


def test_a_discovery_document_for_another_issuer_is_refused(identity_provider):
    identity_provider.discovery_issuer("gcp", "https://accounts.google.com")

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("gcp"))

    assert refused.reason == "issuer_mismatch"
    assert "https://accounts.google.com" in refused.detail
    assert identity_provider.requests_served == 1  # the keys were not fetched


@pytest.mark.parametrize("jwks_uri", [None, "", 42])
def test_a_discovery_document_without_a_jwks_uri_is_refused(identity_provider, jwks_uri):
    issuer = identity_provider.issuer("k8s")
    document = {"issuer": issuer} if jwks_uri is None else {"issuer": issuer, "jwks_uri": jwks_uri}
    identity_provider.respond(
        _path(identity_provider.discovery_url("k8s")),
        Answer(body=json.dumps(document).encode()),
    )

    assert refusal(issuer_keys_fetch, issuer).reason == "jwks_uri_missing"


def test_a_jwks_uri_pointing_inside_is_guarded_too(identity_provider):
    issuer = identity_provider.issuer("k8s")
    document = {"issuer": issuer, "jwks_uri": "https://169.254.169.254/latest/meta-data/"}
    identity_provider.respond(
        _path(identity_provider.discovery_url("k8s")),
        Answer(body=json.dumps(document).encode()),
    )

    assert refusal(issuer_keys_fetch, issuer).reason == "address_not_public"


def test_a_jwks_without_rsa_signing_keys_is_refused(identity_provider):
    identity_provider.jwks_without_rsa("entra")

    refused = refusal(issuer_keys_fetch, identity_provider.issuer("entra"))

    assert refused.reason == "no_rsa_signing_key"


def _rsa_jwk(identity_provider, **changes) -> dict:
    jwk = {**identity_provider.key("github").public_jwk, **changes}
    return {name: value for name, value in jwk.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "usable"),
    [
        pytest.param({}, True, id="rsa-sig"),
        pytest.param({"use": None}, True, id="no-use"),
        pytest.param({"alg": None}, True, id="no-alg"),
        pytest.param({"use": "enc"}, False, id="encryption-key"),
        # SPEC §11: the key's own metadata must allow verifying RS256
        pytest.param({"key_ops": ["verify"]}, True, id="key-ops-verify"),
        pytest.param({"key_ops": ["encrypt"]}, False, id="key-ops-encrypt"),
        pytest.param({"key_ops": []}, False, id="key-ops-empty"),
        pytest.param({"key_ops": "verify"}, False, id="key-ops-not-a-list"),
        pytest.param({"alg": "RS512"}, False, id="alg-rs512"),
        pytest.param({"alg": "PS256"}, False, id="alg-ps256"),
        pytest.param({"kid": None}, False, id="no-kid"),
        pytest.param({"kid": ""}, False, id="empty-kid"),
        pytest.param({"kty": "EC"}, False, id="not-rsa"),
        pytest.param({"n": "AQAB"}, False, id="tiny-modulus"),
        pytest.param({"n": "not base64!"}, False, id="bad-modulus"),
        pytest.param({"n": None}, False, id="no-modulus"),
        pytest.param({"e": None}, False, id="no-exponent"),
    ],
)
def test_usable_rsa_keys(identity_provider, changes, usable):
    jwk = _rsa_jwk(identity_provider, **changes)

    assert usable_rsa_keys({"keys": [jwk, "junk", None]}) == ([jwk] if usable else [])


def test_a_1024_bit_key_is_not_usable():
    assert usable_rsa_keys({"keys": [IdpKey.generate(bits=1024).public_jwk]}) == []


@pytest.mark.parametrize("jwks", [{}, {"keys": {}}, {"keys": "x"}], ids=["none", "object", "str"])
def test_a_key_set_without_a_key_list_has_no_usable_key(jwks):
    assert usable_rsa_keys(jwks) == []


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_a_key_set_with_a_private_member_is_refused_at_fetch(identity_provider, member):
    # given the issuer's signing key published with a private member
    leaked = {**identity_provider.key("github").public_jwk, member: "AQAB"}
    identity_provider.serve_jwks("github", {"keys": [leaked]})

    # when
    with pytest.raises(IssuerUnreachable) as refused:
        issuer_keys_fetch(identity_provider.issuer("github"))

    # then no key of that set is trusted, not even the public one beside it
    assert refused.value.reason == "private_key_published"


def test_a_symmetric_key_beside_a_good_one_refuses_the_set(identity_provider):
    good = identity_provider.key("github").public_jwk
    identity_provider.serve_jwks("github", {"keys": [good, {"kty": "oct", "k": "c2VjcmV0"}]})

    with pytest.raises(IssuerUnreachable) as refused:
        issuer_keys_fetch(identity_provider.issuer("github"))

    assert refused.value.reason == "private_key_published"
