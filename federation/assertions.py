"""JWT client assertions from external identity providers (RFC 7521 §4.2, RFC 7523 §2.2
and §3; SPEC §5), checked in the order SPEC §5 gives, each refusal with a stable reason
code for the audit log:

1. size: at most MAX_ASSERTION_BYTES, before any parsing (`assertion_too_large`);
2. format: three strict base64url parts (RFC 7515 §2, no padding, no other characters;
   `malformed`), each a JSON object without duplicate keys, NaN or deep nesting
   (`invalid_json`); claims of the right types (`invalid_claims`);
3. header: `alg` exactly RS256 (RFC 8725 §3.1: the algorithm is ours to choose, never the
   token's; `alg_not_allowed`), a `kid` (`kid_missing`), no key-locating headers `jku`,
   `x5u`, `jwk` (RFC 8725 §3.10: keys come only from the issuer's JWKS;
   `key_header_forbidden`), no `crit` (RFC 7515 §4.1.11: we understand no extension;
   `crit_not_supported`);
4. a credential of the client whose issuer equals `iss`, subject equals `sub` (or whose
   claims-matching expression the claims match, SPEC §11), and audience is in `aud`
   (RFC 7523 §3 items 1-3), all exact and without any network call; exact credentials
   first, then the issuer's expression credentials in creation order, the first match
   winning (`no_credential_for_issuer`, `no_credential_for_subject`,
   `no_credential_matched` when the issuer has expression credentials,
   `no_credential_for_audience`: how far the closest credential got);
5. the signing key chosen by `kid` from that issuer's JWKS, through the cache of
   federation.jwks: RSA, for signing, at least 2048 bits (`unknown_kid`, `key_unusable`;
   `issuer_unreachable` when no keys can be had);
6. the signature (`bad_signature`);
7. times (RFC 7523 §3 items 4-6), LEEWAY_SECONDS either way: `exp` present and not past
   (`expired`), `nbf` and `iat` not in the future (`not_yet_valid`, `issued_in_future`),
   `exp` at most MAX_LIFETIME ahead (`lifetime_too_long`);
8. with FEDERATION_ASSERTION_REPLAY_PROTECTION (RFC 7523 §3 item 7): the (`iss`, `jti`)
   pair, or for a token without `jti` (Entra, Google Cloud) its SHA-256 (SPEC §11), not
   seen before (`assertion_replayed`), recorded atomically in the shared cache until the
   token expires; if the cache cannot record it, the assertion is refused
   (`replay_store_unavailable`). Off by default: several providers' tokens are
   legitimately presented more than once while they are valid.

An application may also sign its own assertions with a key it registered (SPEC §11,
`private_key_jwt` as RFC 7523 §2.2 is commonly meant): see "the application's own keys"
below for those checks.

Every decision (which algorithm, which claims are required) is made here, and the
signature is verified with `cryptography` directly, with the algorithm pinned by the key
(RFC 8725 §3.1); each public key is built once per process from its JWK. A new assertion
is parsed and decoded once, whichever route (federated or the application's own) takes it.

`client_assertion_authenticate` is the token endpoint's assertion authentication (the
validator's CLIENT_ASSERTION_AUTHENTICATOR): it reads the client with its credentials from
a per-process copy (identity_server.clients.ClientCache), so a warm request reads and
writes no database row, skips parsing and verifying an assertion it accepted before (see
`_accepted`), and marks the credential used at most once a minute.
`assertion_evaluate` runs the same checks against every credential of an application and
explains near misses, for admins; it never issues a token.
"""

import base64
import binascii
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.db.models import F

from federation import jwks
from federation.expressions import (
    Expression,
    ExpressionError,
    Term,
    expression_parse,
    pattern_hint,
)
from federation.models import AppKey, FederatedCredential
from identity_server import endpoints, shared_cache
from identity_server.clients import (
    CLIENT_FIELDS,
    ClientCache,
    ClientSnapshot,
    client_values,
    last_used_mark,
)
from identity_server.models import OAuthClient

MAX_ASSERTION_BYTES = 8192
LEEWAY_SECONDS = 60
MAX_LIFETIME = timedelta(hours=24)
MAX_JSON_DEPTH = 16
ALGORITHM = "RS256"
MIN_RSA_BITS = 2048
_KEY_HEADERS = ("jku", "x5u", "jwk")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class AssertionRejected(Exception):
    """A refusal: `reason` is the stable code for the audit log, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ParsedAssertion:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        return [aud] if isinstance(aud, str) else list(aud or [])


# --- parsing ------------------------------------------------------------------------------


_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
# RFC 4648 §3.5: the last character of a part of 4n+2 (4n+3) characters carries 2 (4) bits
# of data and 4 (2) unused bits, which must be zero, so one token has exactly one spelling.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _b64url_decode(part: str) -> bytes:
    """RFC 7515 §2: base64url without padding; anything else is refused, not repaired."""
    if not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise AssertionRejected("malformed", "A part of the JWT is not base64url.")
    remainder = len(part) % 4
    if remainder and part[-1] not in _CANONICAL_LAST[remainder]:
        raise AssertionRejected("malformed", "A part of the JWT is not canonical base64url.")
    try:
        # The alphabet is checked above: nothing is skipped silently.
        standard = part.encode("ascii").translate(_TO_STANDARD_ALPHABET)
        return binascii.a2b_base64(standard + b"=" * (-remainder % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise AssertionRejected("malformed", "A part of the JWT is not base64url.") from None


def _no_duplicate_keys(pairs):
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("duplicate key")
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


# One decoder for every part (json.loads with hooks would build one per call).
_STRICT_JSON = json.JSONDecoder(
    object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant
)


def _too_deep(value: dict, limit: int) -> bool:
    """Whether an object or array sits more than `limit` levels deep (the top is level 1);
    only containers are visited."""
    pending = [(value, 1)]
    while pending:
        container, level = pending.pop()
        if level > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = _STRICT_JSON.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise AssertionRejected("invalid_json", f"The JWT {what} is not strict JSON.") from None
    if not isinstance(value, dict):
        raise AssertionRejected("invalid_json", f"The JWT {what} is not a JSON object.")
    # Fewer brackets than levels cannot nest too deeply (brackets in strings only add).
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets > MAX_JSON_DEPTH and _too_deep(value, MAX_JSON_DEPTH):
        raise AssertionRejected("invalid_json", f"The JWT {what} is nested too deeply.")
    return value


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_claim_types(claims: dict) -> None:
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise AssertionRejected("invalid_claims", f"The `{name}` claim must be a string.")
    aud = claims.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise AssertionRejected(
            "invalid_claims", "The `aud` claim must be a string or a list of strings."
        )
    for name in ("exp", "nbf", "iat"):
        # RFC 7519 §2 NumericDate; a string or null is not one.
        if name in claims and not _is_number(claims[name]):
            raise AssertionRejected("invalid_claims", f"The `{name}` claim must be a number.")


def assertion_structure(assertion: str) -> ParsedAssertion:
    """Checks 1-2 of the module docstring (size, format, claim types), which every route
    shares: the one parse and decode of a new assertion."""
    # A JSON body (evaluate) can carry a lone surrogate, which strict UTF-8 cannot encode.
    if len(assertion.encode("utf-8", "surrogatepass")) > MAX_ASSERTION_BYTES:
        raise AssertionRejected(
            "assertion_too_large", f"The JWT is larger than {MAX_ASSERTION_BYTES} bytes."
        )
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AssertionRejected("malformed", "A JWT has three dot-separated parts.")
    header_raw, claims_raw, signature = (_b64url_decode(part) for part in parts)
    header = _json_object(header_raw, "header")
    claims = _json_object(claims_raw, "payload")
    _check_claim_types(claims)
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return ParsedAssertion(header, claims, signing_input, signature)


def header_check(
    parsed: ParsedAssertion, *, algorithms: tuple[str, ...] = (ALGORITHM,), kid_required=True
) -> ParsedAssertion:
    """Check 3 of the module docstring on a parsed assertion. An application's own
    assertion (SPEC §11) allows more `algorithms` and no `kid`."""
    header = parsed.header
    if header.get("alg") not in algorithms:
        raise AssertionRejected(
            "alg_not_allowed", f"The JWT must be signed with {' or '.join(algorithms)}."
        )
    kid = header.get("kid")
    if (kid_required or "kid" in header) and (not isinstance(kid, str) or not kid):
        raise AssertionRejected("kid_missing", "The JWT header has no `kid`.")
    forbidden = [name for name in _KEY_HEADERS if name in header]
    if forbidden:
        raise AssertionRejected(
            "key_header_forbidden",
            f"The JWT header may not name its own key ({', '.join(forbidden)}).",
        )
    if "crit" in header:
        raise AssertionRejected("crit_not_supported", "The JWT header has a `crit` extension.")
    return parsed


def assertion_parse(
    assertion: str, *, algorithms: tuple[str, ...] = (ALGORITHM,), kid_required: bool = True
) -> ParsedAssertion:
    """Checks 1-3 of the module docstring; AssertionRejected on the first that fails."""
    return header_check(
        assertion_structure(assertion), algorithms=algorithms, kid_required=kid_required
    )


# --- matching, signature and times --------------------------------------------------------


def _issuer_matches(credential, parsed: ParsedAssertion) -> bool:
    return parsed.claims.get("iss") == credential.issuer


def _subject_matches(credential, parsed: ParsedAssertion) -> bool:
    """`sub` equals the credential's subject, or the claims match its expression."""
    matcher = credential.matcher
    if matcher is None:
        return parsed.claims.get("sub") == credential.subject
    return matcher.matches(parsed.claims)


def _audience_matches(credential, parsed: ParsedAssertion) -> bool:
    return credential.audience in parsed.audiences


# RFC 7523 §3 items 1-3, exactly: no case folding, no trailing-slash forgiveness. The token
# path and evaluate both decide with these.
CREDENTIAL_MATCHES = (
    ("issuer", _issuer_matches),
    ("subject", _subject_matches),
    ("audience", _audience_matches),
)


def credential_match(parsed: ParsedAssertion, credentials: Iterable):
    """Check 4: the first credential whose issuer, subject (or expression) and audience all
    match: exact credentials first, then expression credentials, each in creation order
    (SPEC §11). The audience, a cheap comparison, is looked at before an expression."""
    issuer = parsed.claims.get("iss")
    candidates = [credential for credential in credentials if credential.issuer == issuer]
    if not candidates:
        raise _no_match("issuer")
    audiences = parsed.audiences
    exact = [c for c in candidates if c.matcher is None and _subject_matches(c, parsed)]
    expressions = [c for c in candidates if c.matcher is not None]
    for credential in exact:
        if credential.audience in audiences:
            return credential
    for credential in expressions:
        if credential.audience in audiences and credential.matcher.matches(parsed.claims):
            return credential
    if exact or any(c.matcher.matches(parsed.claims) for c in expressions):
        raise _no_match("audience")
    raise _no_match("matched" if expressions else "subject")


def _no_match(stage: str) -> AssertionRejected:
    reason = "no_credential_matched" if stage == "matched" else f"no_credential_for_{stage}"
    return AssertionRejected(
        reason,
        "No federated credential of this application matches the JWT's `iss`, `sub` and `aud`.",
    )


def _rsa_bits(key: dict) -> int:
    modulus = key.get("n")
    return _modulus_bits(modulus) if isinstance(modulus, str) else 0


@functools.lru_cache(maxsize=256)
def _modulus_bits(modulus: str) -> int:
    """Decoded once per key and process: a key cache hands out the same strings."""
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def signing_key_select(parsed: ParsedAssertion, keys: Iterable[dict]) -> dict:
    """The issuer's key named by the token's `kid`, if it may verify RS256."""
    key = next((k for k in keys if k.get("kid") == parsed.header["kid"]), None)
    if key is None:
        raise AssertionRejected("unknown_kid", "The issuer's JWKS has no key with this `kid`.")
    if key.get("kty") != "RSA" or not jwks.key_verifies(key, ALGORITHM):
        # RFC 7517 §4.2-4.4: the key's own `use`, `key_ops` and `alg` must allow this.
        raise AssertionRejected(
            "key_unusable", f"The key with this `kid` is not an RSA key for verifying {ALGORITHM}."
        )
    if _rsa_bits(key) < MIN_RSA_BITS:
        raise AssertionRejected("key_unusable", f"The key is shorter than {MIN_RSA_BITS} bits.")
    return key


def issuer_signing_key(parsed: ParsedAssertion, issuer: str) -> dict:
    """Check 5: the key named by the token's `kid` among the issuer's cached keys (fetched
    on a cold cache or an unknown `kid`, within federation.jwks's limits)."""
    try:
        keys = jwks.issuer_keys(issuer, kid=parsed.header["kid"])
    except jwks.IssuerUnreachable:
        # The caller gets one message; the fetcher has logged the precise reason.
        raise AssertionRejected("issuer_unreachable", jwks.UNREACHABLE_MESSAGE) from None
    return signing_key_select(parsed, keys)


def _uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


# Building a public key from its JWK costs more than verifying with it, so this process
# builds each key once, keyed by its public members (the key cache hands out the same
# strings, whose hashes Python keeps).
_BUILT_KEYS_LIMIT = 256
_built_keys: dict[tuple, rsa.RSAPublicKey | ec.EllipticCurvePublicKey] = {}


def _public_key(key: dict):
    """A `cryptography` public key from an RSA or EC P-256 JWK, built once."""
    if key["kty"] == "RSA":
        identity = ("RSA", key["n"], key["e"])
    else:
        identity = ("EC", key["crv"], key["x"], key["y"])
    built = _built_keys.get(identity)
    if built is None:
        if identity[0] == "RSA":
            built = rsa.RSAPublicNumbers(_uint(key["e"]), _uint(key["n"])).public_key()
        elif key["crv"] == "P-256":
            built = ec.EllipticCurvePublicNumbers(
                _uint(key["x"]), _uint(key["y"]), ec.SECP256R1()
            ).public_key()
        else:
            raise ValueError("only P-256 keys verify ES256")
        if len(_built_keys) >= _BUILT_KEYS_LIMIT:
            _built_keys.clear()
        _built_keys[identity] = built
    return built


_ES256_SIGNATURE_BYTES = 64
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def signature_verifies(parsed: ParsedAssertion, key: dict, alg: str) -> bool:
    """RFC 7518 §3.3 (RS256), §3.5 (PS256, salt as long as the hash), §3.4 (ES256, R || S),
    with `alg` chosen by the caller from what the key allows, never by the token."""
    data, signature = parsed.signing_input, parsed.signature
    try:
        public_key = _public_key(key)
        if alg == "RS256":
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            public_key.verify(signature, data, _PSS, hashes.SHA256())
        elif alg == "ES256":
            if len(signature) != _ES256_SIGNATURE_BYTES:
                return False
            r, s = (int.from_bytes(signature[i : i + 32], "big") for i in (0, 32))
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, KeyError, AttributeError):
        return False
    return True


def signature_verify(parsed: ParsedAssertion, key: dict) -> None:
    """Check 6: RS256 with the issuer's key (signing_key_select checked it is RSA)."""
    if not signature_verifies(parsed, key, ALGORITHM):
        raise AssertionRejected("bad_signature", "The JWT's signature does not verify.")


def times_check(parsed: ParsedAssertion, *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    claims = parsed.claims
    if "exp" not in claims:
        raise AssertionRejected("expired", "The JWT has no `exp` claim.")
    if claims["exp"] <= now - LEEWAY_SECONDS:
        raise AssertionRejected("expired", "The JWT has expired.")
    if claims.get("nbf", now) > now + LEEWAY_SECONDS:
        raise AssertionRejected("not_yet_valid", "The JWT is not valid yet (`nbf`).")
    if claims.get("iat", now) > now + LEEWAY_SECONDS:
        raise AssertionRejected("issued_in_future", "The JWT was issued in the future (`iat`).")
    if claims["exp"] > now + MAX_LIFETIME.total_seconds() + LEEWAY_SECONDS:
        raise AssertionRejected("lifetime_too_long", "The JWT's `exp` is more than 24 hours ahead.")


def replay_check(
    parsed: ParsedAssertion, *, now: float | None = None, jti_required: bool = False
) -> None:
    """Check 8: records (`iss`, `jti`) until the token expires, once (`cache.add` is
    atomic); a token whose pair is already recorded is a replay. A token without `jti`
    (Entra's, Google Cloud's) is recorded by the SHA-256 of its signed content and signature
    (SPEC §11), unless `jti_required`. Fails closed."""
    jti = parsed.claims.get("jti")
    now = time.time() if now is None else now
    if jti:
        key = (
            "assertion-jti:" + hashlib.sha256(f"{parsed.claims['iss']}\n{jti}".encode()).hexdigest()
        )
    elif jti_required:
        raise AssertionRejected("jti_missing", "The JWT has no `jti`, needed against replays.")
    else:
        whole = hashlib.sha256(parsed.signing_input + b"." + parsed.signature).hexdigest()
        key = f"assertion-sha256:{whole}"
    ttl = max(1, math.ceil(parsed.claims["exp"] - now + LEEWAY_SECONDS))
    try:
        first = shared_cache.claim(f"federation:{key}", ttl)
    except shared_cache.SharedCacheUnavailable:
        raise AssertionRejected(
            "replay_store_unavailable", "The JWT cannot be checked against replays now."
        ) from None
    if not first:
        raise AssertionRejected("assertion_replayed", "This JWT has been used already.")


# --- the token endpoint -------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialRef:
    """What the token path needs of a federated credential."""

    id: str
    issuer: str
    subject: str
    audience: str
    matcher: Expression | None = None


@dataclass(frozen=True)
class FederatedClient:
    client: ClientSnapshot
    credentials: tuple[CredentialRef, ...]


def _federated_client_load(client_id: str) -> FederatedClient | None:
    """One query: the client, a row per credential (or one row without any)."""
    credential = "external_app__federated_credentials__"
    rows = list(
        OAuthClient.objects.filter(client_id=client_id)
        .order_by(f"{credential}created_at", f"{credential}id")
        .values(
            *CLIENT_FIELDS,
            credential_id=F(f"{credential}id"),
            issuer=F(f"{credential}issuer"),
            subject=F(f"{credential}subject"),
            audience=F(f"{credential}audience"),
            expression=F(f"{credential}claims_matching_expression"),
        )
    )
    if not rows:
        return None
    credentials = []
    for row in rows:
        if row["credential_id"] is None:
            continue
        try:
            # Compiled here, so it is kept with the client's copy (expression_parse caches).
            matcher = expression_parse(row["expression"]) if row["expression"] else None
        except ExpressionError:
            continue  # refused at every save; a row that fails now cannot match anything
        credentials.append(
            CredentialRef(
                str(row["credential_id"]),
                row["issuer"],
                row["subject"],
                row["audience"],
                matcher,
            )
        )
    return FederatedClient(client_values(rows[0]), tuple(credentials))


_federated_clients = ClientCache(_federated_client_load)


@dataclass(frozen=True)
class AssertionCheck:
    client: ClientSnapshot | None
    credential_id: str | None
    reason: str  # empty on success; otherwise a stable reason code for the audit log

    @property
    def authenticated_by(self) -> dict:
        """What the access token says authenticated the client (identity_server.tokens)."""
        return {"federated_credential_id": self.credential_id}


# A workload presents the same token until it nears expiry (Kubernetes, Entra and Google
# client libraries keep theirs), and parsing it and verifying its signature again would give
# the same answer: this process remembers the assertions it accepted, by their SHA-256, with
# the key that verified them. Everything that can change is checked on every request: the
# credential (still the client's, with the same fields), the key (still the issuer's, the
# same), the times, replays.
_ACCEPTED_LIMIT = 4096
_accepted: dict[bytes, tuple[ParsedAssertion, dict]] = {}


def _accepted_key(assertion: str) -> bytes | None:
    if len(assertion) > MAX_ASSERTION_BYTES:
        return None
    return hashlib.sha256(assertion.encode("utf-8", "surrogatepass")).digest()


def forget_accepted_assertions() -> None:
    """Between tests: the assertions this process remembers, and the keys it built."""
    _accepted.clear()
    _built_keys.clear()


def client_assertion_authenticate(client_id: str, assertion: str) -> AssertionCheck:
    """RFC 7523 §2.2: authenticates `client_id` with a JWT from one of its federated
    credentials' issuers, by checks 1-8 of the module docstring. The validator has checked
    the request's form (one authentication method, the assertion type). An assertion the
    application signed itself (`iss` = `sub` = its client ID) goes to
    `own_key_authenticate` instead; with it, `client_id` may be empty."""
    digest = _accepted_key(assertion)
    # Without a client_id only the application's own route can answer, so nothing remembered.
    remembered = _accepted.get(digest) if digest and client_id else None
    if remembered is not None:
        structure = remembered[0]  # accepted before by this process: the warm path
    else:
        # The one parse of a new assertion, whichever route takes it.
        try:
            structure = assertion_structure(assertion)
        except AssertionRejected as rejection:
            structure = rejection
        own = _own_key_route(client_id, structure)
        if own is not None:
            return own
    federated = _federated_clients.get(client_id) or _federated_clients.get(client_id, recheck=True)
    if federated is None:
        return AssertionCheck(None, None, "unknown_client")
    try:
        if isinstance(structure, AssertionRejected):
            raise structure
        parsed = structure if remembered else header_check(structure)
        try:
            credential = credential_match(parsed, federated.credentials)
        except AssertionRejected:
            # A credential created a moment ago in another process: read the client again.
            federated = _federated_clients.get(client_id, recheck=True) or federated
            credential = credential_match(parsed, federated.credentials)
        key = issuer_signing_key(parsed, credential.issuer)
        if remembered is None or remembered[1] != key:
            signature_verify(parsed, key)
        times_check(parsed)
        if settings.FEDERATION_ASSERTION_REPLAY_PROTECTION:
            replay_check(parsed)
    except AssertionRejected as rejection:
        return AssertionCheck(federated.client, None, rejection.reason)
    if digest and remembered is None:
        if len(_accepted) >= _ACCEPTED_LIMIT:
            _accepted.clear()
        _accepted[digest] = (parsed, key)
    last_used_mark(FederatedCredential, credential.id)
    return AssertionCheck(federated.client, credential.id, "")


# --- evaluation, for admins ---------------------------------------------------------------

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
_CREDENTIAL_CHECKS = ("issuer", "subject", "audience", "signature", "times")
# Which of the token's own checks a parsing refusal fails; every other is `algorithm`.
_TOKEN_CHECK_OF = {
    "assertion_too_large": "size",
    "malformed": "format",
    "invalid_json": "format",
    "invalid_claims": "format",
}


@dataclass
class Check:
    name: str
    result: str
    detail: str = ""
    hint: str = ""
    # A term of a claims-matching expression: the term, its literal, the token's value.
    term: dict | None = None

    def json(self) -> dict:
        body = {"check": self.name, "result": self.result, "detail": self.detail, "hint": self.hint}
        return body if self.term is None else {**body, **self.term}


@dataclass
class CredentialReport:
    credential: object
    checks: list[Check] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return all(check.result == PASSED for check in self.checks)


def _near_miss(expected: str, actual) -> str:
    """Why two values that should be equal are not, when the difference is a usual slip."""
    if not isinstance(actual, str):
        return ""
    if expected.lower() == actual.lower():
        return "They differ only in upper/lower case; the comparison is exact."
    if expected.rstrip("/") == actual.rstrip("/"):
        return "They differ only by a trailing slash; the comparison is exact."
    if expected.strip() == actual.strip() or "".join(expected.split()) == "".join(actual.split()):
        return "They differ only in blanks; the comparison is exact."
    return _github_subject_hint(expected, actual)


def _github_subject_hint(expected: str, actual: str) -> str:
    """GitHub Actions subjects name a repository, then a context: `ref:refs/heads/main`,
    `pull_request`, `environment:prod`. A workflow run for a pull request never carries the
    branch's subject."""
    pattern = re.compile(r"repo:([^:]+):(ref|pull_request|environment)(?::.*)?")
    want, got = pattern.fullmatch(expected), pattern.fullmatch(actual)
    if not (want and got) or want.group(1).lower() != got.group(1).lower():
        return ""
    if want.group(2) != got.group(2):
        return (
            f"Same repository, but the token's subject is for a `{got.group(2)}` context and "
            f"the credential's for a `{want.group(2)}` context (e.g. a pull request run "
            "versus a branch)."
        )
    return "Same repository, different branch, tag or environment."


_MATCH_PASSED = {
    "issuer": "`iss` matches.",
    "subject": "`sub` matches.",
    "audience": "`aud` contains the credential's audience.",
}


def _match_check(name: str, matches: Callable, credential, parsed: ParsedAssertion) -> Check:
    """One of CREDENTIAL_MATCHES as a check, with what differs and a near-miss hint."""
    if matches(credential, parsed):
        return Check(name, PASSED, _MATCH_PASSED[name])
    expected = getattr(credential, name)
    if name != "audience":
        actual = parsed.claims.get({"issuer": "iss", "subject": "sub"}[name])
        detail = f"The credential expects {expected!r}; the token has {actual!r}."
        return Check(name, FAILED, detail, _near_miss(expected, actual))
    audiences = parsed.audiences
    if not audiences:
        return Check(name, FAILED, "The token has no `aud` claim.")
    hints = [hint for aud in audiences if (hint := _near_miss(expected, aud))]
    detail = f"The credential expects {expected!r} in `aud`; the token has {audiences!r}."
    return Check(name, FAILED, detail, hints[0] if hints else "")


def _term_check(number: int, term: Term, parsed: ParsedAssertion) -> Check:
    """One term of an expression credential (SPEC §11): the pattern or value expected, the
    value the token presents, passed or failed, and a near-miss hint."""
    presented = term.value_of(parsed.claims)
    shown = {"term": term.text, "expected": term.literal, "presented": presented}
    name = f"term {number}"
    if term.matches(parsed.claims):
        return Check(name, PASSED, f"{term.text}: the token has {presented!r}.", term=shown)
    if presented is None:
        detail = f"{term.text}: the token has no `{term.claim}` claim."
        return Check(name, FAILED, detail, term=shown)
    if not isinstance(presented, str):
        detail = f"{term.text}: the token's `{term.claim}` is not a string ({presented!r})."
        return Check(name, FAILED, detail, term=shown)
    hint = _near_miss(term.literal, presented)
    if term.pattern is not None:
        hint = pattern_hint(term.pattern, presented) or _github_subject_hint(
            term.literal, presented
        )
    detail = f"{term.text}: the token has {presented!r}."
    return Check(name, FAILED, detail, hint, term=shown)


def _credential_match_checks(credential, parsed: ParsedAssertion) -> list[Check]:
    """Issuer, subject (or each term of the expression), audience."""
    checks = []
    for name, matches in CREDENTIAL_MATCHES:
        if name == "subject" and credential.matcher is not None:
            checks += [
                _term_check(number, term, parsed)
                for number, term in enumerate(credential.matcher.terms, 1)
            ]
        else:
            checks.append(_match_check(name, matches, credential, parsed))
    return checks


def _attempt(name: str, step: Callable[[], object], passed: str) -> Check:
    try:
        step()
    except AssertionRejected as rejection:
        return Check(name, FAILED, str(rejection))
    return Check(name, PASSED, passed)


def assertion_evaluate(
    assertion: str, credentials: Iterable
) -> tuple[list[Check], list[CredentialReport]]:
    """Every check of the module docstring but replay, for every credential: the checks of
    the token itself (size, format, algorithm), then one report per credential (issuer,
    subject, audience, signature, times), with the token path's own check functions and
    key cache."""
    token_checks = [
        Check("size", PASSED, f"At most {MAX_ASSERTION_BYTES} bytes."),
        Check("format", PASSED, "Three base64url parts of strict JSON."),
        Check("algorithm", PASSED, f"{ALGORITHM} with a `kid`, no key-locating headers."),
    ]
    try:
        parsed = assertion_parse(assertion)
    except AssertionRejected as rejection:
        failed = _TOKEN_CHECK_OF.get(rejection.reason, "algorithm")
        names = [check.name for check in token_checks]
        position = names.index(failed)
        token_checks[position] = Check(failed, FAILED, str(rejection))
        token_checks[position + 1 :] = [Check(name, SKIPPED) for name in names[position + 1 :]]
        skipped = [Check(name, SKIPPED) for name in _CREDENTIAL_CHECKS]
        return token_checks, [CredentialReport(c, list(skipped)) for c in credentials]
    reports = []
    for credential in credentials:
        checks = _credential_match_checks(credential, parsed)
        checks.append(
            _attempt(
                "signature",
                lambda c=credential: signature_verify(parsed, issuer_signing_key(parsed, c.issuer)),
                "Verified with the issuer's key named by `kid`.",
            )
        )
        checks.append(_attempt("times", lambda: times_check(parsed), "Within its validity period."))
        reports.append(CredentialReport(credential, checks))
    return token_checks, reports


# --- the application's own keys (SPEC §11; RFC 7523 §2.2 and §3 as private_key_jwt) -------
#
# The application signs the assertion itself with a key it registered (federation.keys,
# services.app_key_create). Checked in this order, each with its reason code:
# 1-3 as above, but RS256, PS256 or ES256 (RFC 7518 §3.1) and `kid` optional (Authlib and
#     other common libraries sign without one);
# 4. `iss` = `sub` = the client ID (RFC 7523 §3 items 1-2): that is how such an assertion is
#    told from a federated one (an issuer is an https URL, never a client ID), so anything
#    else goes to the federated checks above, or is `client_id_missing` without one;
# 5. `aud` names the issuer or the token endpoint, ours or the organization's (RFC 7523 §3
#    item 3; `audience_mismatch`);
# 6. one of the application's keys for that algorithm verifies the signature (a `kid`, when
#    sent, picks among a JWKS URL's keys): `no_key` (none registered or usable),
#    `key_expired` (its certificate has expired), `jwks_unreachable` (no other key, and its
#    JWKS URL cannot be fetched with nothing cached), `bad_signature`;
# 7. times as above, but at most OWN_KEY_MAX_LIFETIME (`lifetime_too_long`), which is what
#    common client libraries sign by default;
# 8. a `jti` (`jti_missing`), never seen before (`assertion_replayed`), whatever
#    FEDERATION_ASSERTION_REPLAY_PROTECTION says: the application chose to sign, and replay
#    protection is what makes its short-lived assertion safer than a secret.

OWN_KEY_ALGORITHMS = ("RS256", "PS256", "ES256")
OWN_KEY_MAX_LIFETIME = timedelta(hours=1)
_KEY_TYPE_OF = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}


@dataclass(frozen=True)
class OwnKeyRef:
    """What the token path needs of a registered key: the PEM's JWK, or a JWKS URL."""

    id: str
    jwk: dict | None
    jwks_uri: str
    expires_at: float | None  # a certificate's notAfter, as a timestamp


@dataclass(frozen=True)
class KeyedClient:
    client: ClientSnapshot
    keys: tuple[OwnKeyRef, ...]


def _keyed_client_load(client_id: str) -> KeyedClient | None:
    """One query: the client, a row per key (or one row without any)."""
    key = "external_app__keys__"
    rows = list(
        OAuthClient.objects.filter(client_id=client_id)
        .order_by(f"{key}created_at", f"{key}id")
        .values(
            *CLIENT_FIELDS,
            key_id=F(f"{key}id"),
            key_jwk=F(f"{key}jwk"),
            key_jwks_uri=F(f"{key}jwks_uri"),
            key_expires_at=F(f"{key}expires_at"),
        )
    )
    if not rows:
        return None
    keys = tuple(
        OwnKeyRef(
            str(row["key_id"]),
            row["key_jwk"],
            row["key_jwks_uri"],
            row["key_expires_at"].timestamp() if row["key_expires_at"] else None,
        )
        for row in rows
        if row["key_id"] is not None
    )
    return KeyedClient(client_values(rows[0]), keys)


# Beside the federated view of a client, dropped with it by client_changed: a warm request
# reads no row.
_keyed_clients = ClientCache(_keyed_client_load)


@dataclass(frozen=True)
class OwnKeyCheck:
    client: ClientSnapshot | None
    key_id: str | None
    reason: str

    @property
    def authenticated_by(self) -> dict:
        """What the access token says authenticated the client (identity_server.tokens)."""
        return {"app_key_id": self.key_id}


def _own_key_route(
    client_id: str, structure: ParsedAssertion | AssertionRejected
) -> OwnKeyCheck | AssertionCheck | None:
    """Whether the assertion (parsed by `assertion_structure`, or its refusal) is the
    application's own: its check when it is, None for the federated path. Without a
    `client_id`, only a self-issued assertion can say who the client is; anything else is
    `client_id_missing` (the validator's invalid_request)."""
    try:
        if isinstance(structure, AssertionRejected):
            raise structure
        parsed = header_check(structure, algorithms=OWN_KEY_ALGORITHMS, kid_required=False)
    except AssertionRejected:
        return None if client_id else AssertionCheck(None, None, "client_id_missing")
    iss, sub = parsed.claims.get("iss"), parsed.claims.get("sub")
    if iss and iss == sub and iss == (client_id or iss):
        return own_key_authenticate(iss, parsed)
    return None if client_id else AssertionCheck(None, None, "client_id_missing")


def _own_audiences(client: ClientSnapshot) -> set[str]:
    """RFC 7523 §3 item 3: the issuer, or the token endpoint the client was given (the
    server's, or its organization's)."""
    return {
        settings.IDENTITY_ISSUER,
        endpoints.token_endpoint(),
        endpoints.token_endpoint(org=client.organization_slug),
    }


def own_signature_verifies(parsed: ParsedAssertion, key: dict) -> bool:
    """The header's `alg`, already one of OWN_KEY_ALGORITHMS, and the key's type and
    metadata for it (`_own_candidates`): RFC 7518 §3.3, §3.5, §3.4."""
    return signature_verifies(parsed, key, parsed.header["alg"])


def _own_candidates(parsed: ParsedAssertion, keys: Iterable[OwnKeyRef], now: float):
    """(registered key, JWK) pairs that may verify this assertion: of the algorithm's key
    type, allowed by their metadata. A `kid` picks among a JWKS URL's keys; a PEM key is
    always tried (its `kid` is our thumbprint, which the client need not know), and there
    are at most five."""
    alg, kid = parsed.header["alg"], parsed.header.get("kid")
    missing = "no_key"  # why there is no candidate, if there is none
    candidates = []
    for ref in keys:
        if ref.expires_at is not None and ref.expires_at <= now:
            missing = "key_expired"
            continue
        if ref.jwk is not None:
            jwks_keys = [ref.jwk]
        else:
            try:
                jwks_keys = jwks.jwks_uri_keys(ref.jwks_uri, kid=kid)
            except jwks.IssuerUnreachable:
                # The fetcher has logged the precise reason.
                missing = "jwks_unreachable"
                continue
        for key in jwks_keys:
            if (
                key.get("kty") == _KEY_TYPE_OF[alg]
                and jwks.key_verifies(key, alg)
                and (ref.jwk is not None or kid is None or key.get("kid") in (kid, None))
            ):
                candidates.append((ref, key))
    return candidates, missing


def own_key_authenticate(client_id: str, parsed: ParsedAssertion) -> OwnKeyCheck:
    """Checks 4-8 of this section for an assertion that names `client_id` as its `iss` and
    `sub` (checks 1-3 done by the caller)."""
    keyed = _keyed_clients.get(client_id) or _keyed_clients.get(client_id, recheck=True)
    if keyed is None:
        return OwnKeyCheck(None, None, "unknown_client")
    now = time.time()
    try:
        if not (set(parsed.audiences) & _own_audiences(keyed.client)):
            raise AssertionRejected(
                "audience_mismatch", "The JWT's `aud` is neither the issuer nor the token endpoint."
            )
        candidates, missing = _own_candidates(parsed, keyed.keys, now)
        if not candidates:
            # A key registered a moment ago in another process: read the client again.
            keyed = _keyed_clients.get(client_id, recheck=True) or keyed
            candidates, missing = _own_candidates(parsed, keyed.keys, now)
        if not candidates:
            raise AssertionRejected(missing, "No key of this application may verify the JWT.")
        ref = next((ref for ref, key in candidates if own_signature_verifies(parsed, key)), None)
        if ref is None:
            raise AssertionRejected("bad_signature", "The JWT's signature does not verify.")
        times_check(parsed, now=now)
        lifetime = parsed.claims["exp"] - parsed.claims.get("iat", now)
        ahead = parsed.claims["exp"] - now
        limit = OWN_KEY_MAX_LIFETIME.total_seconds()
        if lifetime > limit or ahead > limit + LEEWAY_SECONDS:
            raise AssertionRejected(
                "lifetime_too_long", "The JWT's lifetime is longer than one hour."
            )
        replay_check(parsed, now=now, jti_required=True)
    except AssertionRejected as rejection:
        return OwnKeyCheck(keyed.client, None, rejection.reason)
    last_used_mark(AppKey, ref.id)
    return OwnKeyCheck(keyed.client, ref.id, "")
