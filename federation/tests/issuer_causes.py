"""Each way an issuer can fail the check at create and update, provoked on the test identity
provider (tests/idp.py), with the exact message the API and the site show for it and the
reason code the audit log records. Shared by the API's and the site's tests, which must
say the same thing."""

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.idp import REMOVE, Answer, IdpKey

SHAPE = "github"
DEADLINE = 1  # seconds, for the slow cases
HOSTILE = "https://evil.example/\u202egnp.exe\r\nX-Injected: 1" + "x" * 300


@dataclass(frozen=True)
class Cause:
    """`provoke(idp, settings)` makes the identity provider (or this server's settings)
    misbehave and returns the issuer to type, None for the shape's own; `message(idp)` is
    what the API answers under `issuer`."""

    provoke: object
    message: object
    reason: str


def _path(url: str) -> str:
    return urlsplit(url).path


def _host(idp) -> str:
    return urlsplit(idp.base_url).netloc


def _slow(idp, settings):
    settings.FEDERATION_FETCH_TIMEOUT_SECONDS = DEADLINE
    idp.slow(DEADLINE + 2)


def _small_rsa_key(idp, settings):
    idp.serve_jwks(SHAPE, {"keys": [IdpKey.generate(1024).public_jwk]})


def _no_rsa_suffix(what: str) -> str:
    return (
        " serves no RSA signing key (`kty` RSA, `use` sig or absent, `key_ops` absent or "
        f"with verify, `alg` absent or RS256, a `kid`, 2048 bits or more); it has {what}."
    )


CAUSES = [
    pytest.param(
        Cause(
            lambda idp, settings: idp.issuer(SHAPE) + "/",
            lambda idp: (
                f"The discovery document says `{idp.issuer(SHAPE)}` without the "
                "trailing slash; enter the issuer exactly as that."
            ),
            "issuer_mismatch",
        ),
        id="typed with a trailing slash the document does not have",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_issuer(SHAPE, idp.issuer(SHAPE) + "/"),
            lambda idp: (
                f"The discovery document says `{idp.issuer(SHAPE)}/`, with a trailing "
                "slash; enter the issuer exactly as that."
            ),
            "issuer_mismatch",
        ),
        id="the document has a trailing slash",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_issuer(SHAPE, idp.base_url + "/GitHub"),
            lambda idp: (
                f"The discovery document says `{idp.base_url}/GitHub`, which differs "
                "only in letter case; enter the issuer exactly as that."
            ),
            "issuer_mismatch",
        ),
        id="another letter case",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_issuer(SHAPE, "https://elsewhere.example"),
            lambda idp: (
                "The discovery document's issuer is `https://elsewhere.example`, not "
                f"`{idp.issuer(SHAPE)}`."
            ),
            "issuer_mismatch",
        ),
        id="another issuer",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_issuer(SHAPE, HOSTILE),
            lambda idp: (
                "The discovery document's issuer is `https://evil.example/\\u202egnp.exe"
                "\\u000d\\u000aX-Injected: 1" + "x" * 61 + "…`, not " + f"`{idp.issuer(SHAPE)}`."
            ),
            "issuer_mismatch",
        ),
        id="a hostile issuer is escaped and cut short",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_fields(SHAPE, issuer=REMOVE),
            lambda idp: (
                f"The discovery document at `{idp.discovery_url(SHAPE)}` names no `issuer` string."
            ),
            "issuer_mismatch",
        ),
        id="no issuer in the document",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_fields(SHAPE, jwks_uri=REMOVE),
            lambda idp: (
                f"The discovery document at `{idp.discovery_url(SHAPE)}` names no `jwks_uri`."
            ),
            "jwks_uri_missing",
        ),
        id="no jwks_uri",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.discovery_fields(
                SHAPE, jwks_uri=idp.jwks_url(SHAPE).replace("https:", "http:")
            ),
            lambda idp: (
                "The discovery document's jwks_uri "
                f"`{idp.jwks_url(SHAPE).replace('https:', 'http:')}` must be an https:// URI."
            ),
            "not_https",
        ),
        id="a jwks_uri over plain HTTP",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.jwks_without_rsa(SHAPE),
            lambda idp: f"The jwks_uri `{idp.jwks_url(SHAPE)}`" + _no_rsa_suffix("a `EC` key"),
            "no_rsa_signing_key",
        ),
        id="only an EC key",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.serve_jwks(
                SHAPE, {"keys": [{**idp.key(SHAPE).public_jwk, "key_ops": ["encrypt"]}]}
            ),
            lambda idp: (
                f"The jwks_uri `{idp.jwks_url(SHAPE)}`"
                + _no_rsa_suffix("an RSA key whose `use`, `key_ops` or `alg` forbids RS256")
            ),
            "no_rsa_signing_key",
        ),
        id="a key for encrypting only",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.serve_jwks(
                SHAPE, {"keys": [{**idp.key(SHAPE).public_jwk, "alg": "RS512"}]}
            ),
            lambda idp: (
                f"The jwks_uri `{idp.jwks_url(SHAPE)}`"
                + _no_rsa_suffix("an RSA key whose `use`, `key_ops` or `alg` forbids RS256")
            ),
            "no_rsa_signing_key",
        ),
        id="a key for RS512 only",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.serve_jwks(
                SHAPE, {"keys": [idp.key(SHAPE).public_jwk, {"kty": "oct", "k": "c2VjcmV0"}]}
            ),
            lambda idp: (
                f"The key set at `{idp.jwks_url(SHAPE)}` contains a private or symmetric key "
                "(a `d`, `p`, `q`, `dp`, `dq`, `qi` or `k` member): it must publish public "
                "keys only, and whoever holds that key set has leaked its key. None of its "
                "keys is trusted."
            ),
            "private_key_published",
        ),
        id="a symmetric key published",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.serve_jwks(SHAPE, {"keys": []}),
            lambda idp: f"The jwks_uri `{idp.jwks_url(SHAPE)}`" + _no_rsa_suffix("no keys"),
            "no_rsa_signing_key",
        ),
        id="no keys",
    ),
    pytest.param(
        Cause(
            _small_rsa_key,
            lambda idp: (
                f"The jwks_uri `{idp.jwks_url(SHAPE)}`" + _no_rsa_suffix("an RSA key of 1024 bits")
            ),
            "no_rsa_signing_key",
        ),
        id="an RSA key of 1024 bits",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.respond(
                _path(idp.discovery_url(SHAPE)), Answer(status=404, body=b'{"error":"nope"}')
            ),
            lambda idp: f"HTTP 404 at `{idp.discovery_url(SHAPE)}`.",
            "http_status",
        ),
        id="HTTP 404",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.non_json(_path(idp.discovery_url(SHAPE))),
            lambda idp: (
                f"Not JSON: `{idp.discovery_url(SHAPE)}` answered with Content-Type "
                "`text/html`, not application/json."
            ),
            "not_json",
        ),
        id="not JSON",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.respond(
                _path(idp.discovery_url(SHAPE)), Answer(body=b'{"issuer": "https://')
            ),
            lambda idp: f"`{idp.discovery_url(SHAPE)}` sent a body that is not valid JSON.",
            "invalid_json",
        ),
        id="invalid JSON",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.oversized(_path(idp.jwks_url(SHAPE))),
            lambda idp: f"`{idp.jwks_url(SHAPE)}` sent more than 64 KiB, this server's limit.",
            "too_large",
        ),
        id="an oversized key set",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.redirect(
                _path(idp.discovery_url(SHAPE)), "https://169.254.169.254/latest/meta-data/"
            ),
            lambda idp: (
                f"HTTP 302 at `{idp.discovery_url(SHAPE)}`: a redirect to "
                "`https://169.254.169.254/latest/meta-data/`, which this server does not follow; "
                "enter the address that answers itself."
            ),
            "redirect_refused",
        ),
        id="a redirect",
    ),
    pytest.param(
        Cause(
            _slow,
            lambda idp: (
                f"No complete answer from `{idp.discovery_url(SHAPE)}` within "
                f"{DEADLINE} s, this server's deadline for the discovery document and the key set "
                "together."
            ),
            "deadline_exceeded",
        ),
        id="slower than the deadline",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: idp.down(),
            lambda idp: f"No connection to `{_host(idp)}`: it refused or could not be reached.",
            "connect_failed",
        ),
        id="the provider is down",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: setattr(settings, "FEDERATION_CA_BUNDLE", None),
            lambda idp: (
                f"TLS certificate not trusted: the certificate of `{_host(idp)}` failed "
                "verification (unable to get local issuer certificate)."
            ),
            "tls_failed",
        ),
        id="a certificate this server does not trust",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: setattr(settings, "FEDERATION_OUTBOUND_ALLOWLIST", []),
            lambda idp: (
                "Address not allowed: `127.0.0.1` does not resolve to a public address this "
                "server may fetch from (loopback, private, link-local and other non-public "
                "addresses are refused unless the operator allows them in "
                "FEDERATION_OUTBOUND_ALLOWLIST)."
            ),
            "address_not_public",
        ),
        id="a loopback address",
    ),
    pytest.param(
        Cause(
            lambda idp, settings: "https://no-such-host.invalid/github",
            lambda idp: (
                # the same sentence as a private address: no map of the server's network
                "Address not allowed: `no-such-host.invalid` does not resolve to a public "
                "address this server may fetch from (loopback, private, link-local and other "
                "non-public addresses are refused unless the operator allows them in "
                "FEDERATION_OUTBOUND_ALLOWLIST)."
            ),
            "dns_failed",
        ),
        id="a name that does not resolve",
    ),
]
