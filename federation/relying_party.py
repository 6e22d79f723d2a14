"""The site as an OpenID Connect relying party of an organization's identity provider
(SPEC §9): the authorization code flow with PKCE, `state` and `nonce`.

- OpenID Connect Discovery 1.0 §4: the provider's configuration, whose `issuer` must equal
  the registered issuer exactly (§4.3); cached in the shared cache for DISCOVERY_SECONDS.
- RFC 6749 §4.1.1 / OpenID Connect Core §3.1.2.1: the authorization request, with `state`
  (RFC 6749 §10.12, CSRF), `nonce` (Core §3.1.2.1, replay) and an S256 PKCE challenge
  (RFC 7636 §4.2; RFC 9700 §2.1.1 wants PKCE even for confidential clients).
- RFC 6749 §4.1.3 / §2.3.1: the code exchanged at the token endpoint with the client's
  secret (`client_secret_basic`, the default of OpenID Connect Registration §2, or
  `client_secret_post` when the provider supports only that) and the PKCE verifier.
- OpenID Connect Core §3.1.3.7: the id_token's signature (RS256, a key of the provider's
  JWKS named by `kid`), `iss` exactly the issuer, `aud` holding the client ID (and `azp`
  when there are several), `exp`, `iat`, the `nonce` sent, `at_hash` when present.

Why Authlib: a well-kept OAuth/OpenID Connect library (RFC 6749, RFC 7636 and OpenID
Connect Core implemented and tested in one place), whose protocol pieces are plain
functions and claim classes that can run without its own HTTP session; its JOSE layer is
joserfc, by the same author. Authlib builds the authorization URL, the PKCE challenge, the
token request and the client authentication, and validates the id_token's claims; joserfc
checks the signature. Every outbound request goes through OUR guarded fetcher
(federation.jwks: discovery, the token endpoint, the JWKS), never an Authlib session, and
the keys come from the same key cache as federated credentials' (jwks.issuer_keys). This
module is the only one that imports Authlib or joserfc.

A refusal raises SignInRefused with a stable reason code for the audit log (SPEC §9):
`idp_token_invalid` for anything wrong with the code exchange or the id_token,
`idp_unreachable` when the provider cannot be reached through the guarded fetcher.
"""

import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote_plus

from authlib.common.security import generate_token
from authlib.oauth2.auth import encode_client_secret_basic, encode_client_secret_post
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from federation import jwks
from federation.jwks import DISCOVERY_PATH, IssuerUnreachable, _issuer_problem, _quoted
from identity_server import shared_cache

# OpenID Connect Discovery 1.0 §3: what a relying party of the code flow needs.
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
DISCOVERY_SECONDS = 3600
# The id_token's time claims: the same leeway as assertions (SPEC §5).
LEEWAY_SECONDS = 60
# Only RS256: the key cache holds RSA signing keys only (jwks.usable_rsa_keys), and OpenID
# Connect Core §15.1 makes RS256 the one algorithm every provider supports.
ID_TOKEN_ALGORITHMS = ["RS256"]
# What a pending sign-in's random values are made of: 48 characters from Authlib's
# alphabet (letters and digits), about 285 bits; the verifier within RFC 7636 §4.1's 43-128.
RANDOM_LENGTH = 48

TOKEN_INVALID = "idp_token_invalid"  # noqa: S105 (a reason code)
UNREACHABLE = "idp_unreachable"


class SignInRefused(Exception):
    """The sign-in stops here: `reason` for the audit log (SPEC §9), `detail` for the
    operator (never a token or a secret), `user` the account concerned if known."""

    def __init__(self, reason: str, detail: str = "", *, user=None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.user = user  # the account it was about, when one was found


def _cache_key(issuer: str) -> str:
    return jwks.cache_key("discovery", issuer)


def provider_configuration_fetch(issuer: str, *, deadline: float | None = None) -> dict:
    """The provider's discovery document, fetched now and checked: its `issuer` equals
    `issuer` exactly, and it names the authorization, token and JWKS endpoints as HTTPS
    URLs. Raises IssuerUnreachable (federation.jwks reasons, plus `endpoint_missing`)."""
    problem = _issuer_problem(issuer)
    if problem is not None:
        raise IssuerUnreachable(problem[0], problem[1], problem[1])
    url = issuer.rstrip("/") + DISCOVERY_PATH
    configuration = jwks.fetch_json(url, deadline=deadline, what="The discovery document")
    if configuration.get("issuer") != issuer:
        raise IssuerUnreachable(
            "issuer_mismatch",
            f"{url} names the issuer {configuration.get('issuer')!r}, not {issuer!r}",
            f"The discovery document at {_quoted(url)} names another issuer; the issuer "
            "must be exactly the one it names.",
        )
    for name in REQUIRED_ENDPOINTS:
        value = configuration.get(name)
        if not isinstance(value, str) or not value.startswith("https://"):
            raise IssuerUnreachable(
                "endpoint_missing",
                f"{url} has no https `{name}`",
                f"The discovery document at {_quoted(url)} names no https `{name}`.",
            )
    shared_cache.cache_set(_cache_key(issuer), configuration, DISCOVERY_SECONDS)
    return configuration


def provider_configuration(issuer: str) -> dict:
    """The provider's discovery document from the shared cache, else fetched."""
    cached = shared_cache.cache_get(_cache_key(issuer))
    if isinstance(cached, dict):
        return cached
    return provider_configuration_fetch(issuer)


@dataclass(frozen=True)
class PendingSignIn:
    """What the callback needs of a sign-in that went to the provider; kept in the
    browser's session (so `state` is bound to it) and used once."""

    state: str
    nonce: str
    code_verifier: str
    provider_id: str
    redirect_uri: str
    token_endpoint: str
    auth_methods: tuple[str, ...]
    next_url: str
    test: bool  # "test sign-in": show the claims, sign no one in (SPEC §9)
    started_at: float

    def as_session(self) -> dict:
        return {**asdict(self), "auth_methods": list(self.auth_methods)}

    @classmethod
    def from_session(cls, data: dict) -> "PendingSignIn":
        return cls(**{**data, "auth_methods": tuple(data.get("auth_methods", ()))})


def authorization_request(
    provider, *, redirect_uri: str, next_url: str, test: bool, login_hint: str = ""
) -> tuple[str, PendingSignIn]:
    """The URL to send the browser to, and the pending sign-in to keep in its session.
    Raises SignInRefused(`idp_unreachable`) when the provider's configuration cannot be
    had."""
    try:
        configuration = provider_configuration(provider.issuer)
    except IssuerUnreachable as error:
        raise SignInRefused(UNREACHABLE, f"{error.reason}: {error.detail}") from None
    pending = PendingSignIn(
        state=generate_token(RANDOM_LENGTH),
        nonce=generate_token(RANDOM_LENGTH),
        code_verifier=generate_token(RANDOM_LENGTH),
        provider_id=str(provider.pk),
        redirect_uri=redirect_uri,
        token_endpoint=configuration["token_endpoint"],
        auth_methods=tuple(
            m
            for m in configuration.get("token_endpoint_auth_methods_supported", ())
            if isinstance(m, str)
        ),
        next_url=next_url,
        test=test,
        started_at=time.time(),
    )
    url = prepare_grant_uri(
        configuration["authorization_endpoint"],
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=provider.scopes,
        state=pending.state,
        nonce=pending.nonce,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
        login_hint=login_hint or None,
    )
    return url, pending


def _client_authentication(provider, client_secret: str, methods, body: str):
    """RFC 6749 §2.3.1: client_secret_basic (id and secret form-encoded first), unless the
    provider lists only client_secret_post."""
    if methods and "client_secret_basic" not in methods and "client_secret_post" in methods:
        client = SimpleNamespace(client_id=provider.client_id, client_secret=client_secret)
        _, headers, body = encode_client_secret_post(client, "POST", "", {}, body)
        return headers, body
    client = SimpleNamespace(
        client_id=quote_plus(provider.client_id), client_secret=quote_plus(client_secret)
    )
    _, headers, body = encode_client_secret_basic(client, "POST", "", {}, body)
    return headers, body


def _form(body: str) -> dict[str, str]:
    return dict(parse_qsl(body, keep_blank_values=True))


def code_exchange(provider, pending: PendingSignIn, *, code: str, client_secret: str) -> dict:
    """RFC 6749 §4.1.3: the code for tokens at the provider's token endpoint; then the
    id_token checked (module docstring). Returns the id_token's claims. Raises
    SignInRefused."""
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=pending.redirect_uri,
        code_verifier=pending.code_verifier,
    )
    headers, body = _client_authentication(provider, client_secret, pending.auth_methods, body)
    try:
        status, answer = jwks.post_form_json(pending.token_endpoint, _form(body), headers=headers)
    except IssuerUnreachable as error:
        raise SignInRefused(
            UNREACHABLE, f"token endpoint: {error.reason}: {error.detail}"
        ) from None
    if status != 200:
        # RFC 6749 §5.2: the provider's error code is safe to log; its description may
        # echo what was sent, so it is cut short.
        error = str(answer.get("error", ""))[:64]
        description = str(answer.get("error_description", ""))[:200]
        raise SignInRefused(
            TOKEN_INVALID, f"token endpoint answered {status} {error}: {description}"
        )
    id_token = answer.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused(TOKEN_INVALID, "the token response has no id_token")
    access_token = answer.get("access_token")
    return id_token_validate(
        provider,
        id_token,
        nonce=pending.nonce,
        access_token=access_token if isinstance(access_token, str) else None,
    )


def _unverified_header(id_token: str) -> dict:
    return jws.extract_compact(id_token.encode()).protected


def id_token_validate(provider, id_token: str, *, nonce: str, access_token: str | None) -> dict:
    """OpenID Connect Core §3.1.3.7 (module docstring); the claims, or SignInRefused."""
    if len(id_token) > 16 * 1024:
        raise SignInRefused(TOKEN_INVALID, "the id_token is longer than 16 KiB")
    try:
        header = _unverified_header(id_token)
    except (ValueError, JoseError, TypeError):
        raise SignInRefused(TOKEN_INVALID, "the id_token is not a JWS") from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ID_TOKEN_ALGORITHMS:
        raise SignInRefused(TOKEN_INVALID, f"id_token alg {str(algorithm)[:20]!r} is not RS256")
    if not isinstance(kid, str) or not kid:
        raise SignInRefused(TOKEN_INVALID, "the id_token header has no kid")
    try:
        keys = [k for k in jwks.issuer_keys(provider.issuer, kid=kid) if k.get("kid") == kid]
    except IssuerUnreachable as error:
        raise SignInRefused(UNREACHABLE, f"keys: {error.reason}: {error.detail}") from None
    if not keys:
        raise SignInRefused(TOKEN_INVALID, f"no key {kid[:64]!r} in the provider's JWKS")
    try:
        token = jwt.decode(id_token, KeySet.import_key_set({"keys": keys}), ID_TOKEN_ALGORITHMS)
    except (JoseError, ValueError, TypeError) as error:
        raise SignInRefused(TOKEN_INVALID, f"signature: {type(error).__name__}") from None
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": provider.client_id},
        },
        params={"nonce": nonce, "client_id": provider.client_id, "access_token": access_token},
    )
    try:
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError, TypeError) as error:
        claim = getattr(error, "claim", "")
        raise SignInRefused(TOKEN_INVALID, f"claim {claim}: {error}"[:300]) from None
    return dict(token.claims)
