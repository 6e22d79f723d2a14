"""JWT access tokens (SPEC §3): claims, signing, verification, the published JWKS.

RFC 9068 shapes the token (`typ: at+jwt`, `client_id`, `jti`, `scope`), RFC 7517/7518
the published keys, RFC 7638 the key ids. With identity_server/federation/assertions.py,
this is the only module that uses python-jose, always with the algorithm pinned.

Every token we sign (access tokens, id_tokens, logout tokens) is signed with
settings.IDENTITY_SIGNING_ALGORITHM: RS256 (RFC 7518 §3.3, RSA 2048, the default) or ES256
(§3.4, ECDSA on P-256, several times cheaper to sign). Each key is published with its own
`alg` and verifies only tokens of that algorithm (RFC 8725 §3.1), so after a switch the
other algorithm's keys keep verifying the tokens they signed until those expire.

Signing keys come from IDENTITY_SIGNING_KEY_FILE (a mounted PEM) or from `SigningKey`
rows whose private half is encrypted with a key derived from SECRET_KEY, one current row
per algorithm. Each process keeps the keys it has loaded and looks for a rotation every
CURRENT_KEY_RECHECK seconds; a retired key stays published until every token it signed
has expired.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from jose import jwk, jwt
from jose.exceptions import JOSEError

from identity_server.encryption import fernet
from identity_server.models import SigningKey
from identity_server.signin import email_verified

KEY_BITS = 2048
# RFC 7518 §3.1 `alg` → what its keys are (RFC 7518 §6.1 `kty`).
ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
TOKEN_TYPE = "at+jwt"  # noqa: S105  (RFC 9068 §2.1, not a secret)
# Clock skew tolerated when verifying our own tokens.
LEEWAY_SECONDS = 60
# How long a process signs with a key after another process rotated it (the old key stays
# published, so nothing breaks meanwhile).
CURRENT_KEY_RECHECK = 30
# An unknown `kid` reloads the published keys at most this often per process.
UNKNOWN_KID_RELOAD = 5

# Recognizable by secret scanners, like client secrets (SPEC §4).
REFRESH_TOKEN_PREFIX = "idrt_"  # noqa: S105  (a prefix, not a secret)

SUB_TYPES = {"machine": "robot", "external_app": "service.external"}


class InvalidAccessToken(Exception):
    """The token is malformed, not ours, not yet valid or expired."""


@dataclass(frozen=True)
class KeyMaterial:
    kid: str
    public_jwk: dict
    verifier: jwk.Key
    signer: jwk.Key | None = None

    @property
    def algorithm(self) -> str:
        return self.public_jwk["alg"]


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_lock = threading.Lock()
_verifiers: dict[str, KeyMaterial] = {}
_current: KeyMaterial | None = None
_current_checked_at = 0.0
_current_loaded_from: bytes | str | None = None
_verifiers_loaded_at = 0.0


def signing_algorithm() -> str:
    """The algorithm new tokens and new keys use (settings.IDENTITY_SIGNING_ALGORITHM)."""
    return settings.IDENTITY_SIGNING_ALGORITHM


# --- key storage -----------------------------------------------------------------------


def _fernet() -> MultiFernet:
    """Encrypts stored private keys; SECRET_KEY_FALLBACKS still decrypt after a rotation."""
    return fernet("identity_server.tokens.signing-key")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_coordinate(value: int) -> str:
    # RFC 7518 §6.2.1.2: a P-256 coordinate is always 32 octets, leading zeros kept.
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _public_jwk(private_key: PrivateKey) -> dict:
    numbers = private_key.public_key().public_numbers()
    if isinstance(private_key, rsa.RSAPrivateKey):
        members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        alg = "RS256"
    else:
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url_coordinate(numbers.x),
            "y": _b64url_coordinate(numbers.y),
        }
        alg = "ES256"
    # RFC 7638 §3.2: the thumbprint hashes the required members in lexicographic order.
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": alg}


def _pem(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _material(private_key: PrivateKey | None, public_jwk: dict) -> KeyMaterial:
    # The key's own `alg`, never the token's (RFC 8725 §3.1).
    alg = public_jwk["alg"]
    signer = None
    if private_key is not None:
        # The loaded key itself: from its PEM, python-jose would parse and check it again.
        signer = jwk.construct(private_key, alg)
    return KeyMaterial(public_jwk["kid"], public_jwk, jwk.construct(public_jwk, alg), signer)


def signing_key_file_load(path: str, algorithm: str | None = None) -> PrivateKey:
    """The PEM private key in `path`: RSA of at least KEY_BITS, or EC on P-256; of the kind
    `algorithm` signs with, when given."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    is_rsa = isinstance(key, rsa.RSAPrivateKey) and key.key_size >= KEY_BITS
    is_p256 = isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    if not (is_rsa or is_p256):
        raise ValueError(
            f"{path} must hold an RSA private key of at least {KEY_BITS} bits or an EC P-256 key."
        )
    if algorithm is not None and ALGORITHMS[algorithm] != ("RSA" if is_rsa else "EC"):
        raise ValueError(
            f"{path} holds an {'RSA' if is_rsa else 'EC'} key, and IDENTITY_SIGNING_ALGORITHM "
            f"{algorithm} signs with an {ALGORITHMS[algorithm]} key."
        )
    return key


def _stored_private_key(row: SigningKey) -> PrivateKey:
    try:
        pem = _fernet().decrypt(row.private_key.encode())
    except InvalidToken:
        raise RuntimeError(
            f"Signing key {row.kid} cannot be decrypted: SECRET_KEY changed without the old "
            "key in SECRET_KEY_FALLBACKS."
        ) from None
    return serialization.load_pem_private_key(pem, password=None)


def signing_key_generate(algorithm: str | None = None) -> SigningKey:
    """A new current key row (unsaved) for `algorithm` (by default the configured one);
    identity_server.services.signing_key_rotate saves it."""
    algorithm = algorithm or signing_algorithm()
    if ALGORITHMS[algorithm] == "RSA":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
    pem = _pem(private_key)
    public = _public_jwk(private_key)
    return SigningKey(
        kid=public["kid"],
        algorithm=algorithm,
        private_key=_fernet().encrypt(pem).decode(),
        public_jwk=public,
        current=True,
    )


def token_validity() -> timedelta:
    """How long after issuance a token may still be accepted: its lifetime plus leeway."""
    return timedelta(seconds=settings.ACCESS_TOKEN_LIFETIME + LEEWAY_SECONDS)


def _published_rows():
    """Stored keys whose tokens may still be valid: the current one and those retired less
    than a token's validity ago."""
    oldest_useful = timezone.now() - token_validity()
    return SigningKey.objects.filter(Q(current=True) | Q(retired_at__gt=oldest_useful))


def _file_keys() -> list[KeyMaterial]:
    keys = []
    if settings.IDENTITY_SIGNING_KEY_FILE:
        private_key = signing_key_file_load(settings.IDENTITY_SIGNING_KEY_FILE, signing_algorithm())
        keys.append(_material(private_key, _public_jwk(private_key)))
    for path in settings.IDENTITY_SIGNING_KEY_PREVIOUS_FILES:
        keys.append(_material(None, _public_jwk(signing_key_file_load(path))))
    return keys


def _current_source() -> bytes | str | None:
    """What the current key is loaded from, cheaply read: the key file's bytes, or the `kid`
    of the algorithm's current row (None without one)."""
    if settings.IDENTITY_SIGNING_KEY_FILE:
        return Path(settings.IDENTITY_SIGNING_KEY_FILE).read_bytes()
    current = SigningKey.objects.filter(algorithm=signing_algorithm(), current=True)
    return current.values_list("kid", flat=True).first()


def _load_current() -> KeyMaterial:
    if settings.IDENTITY_SIGNING_KEY_FILE:
        return _file_keys()[0]
    algorithm = signing_algorithm()
    row = SigningKey.objects.filter(algorithm=algorithm, current=True).first()
    if row is None:
        # First token ever, or the first since IDENTITY_SIGNING_ALGORITHM changed: make the
        # algorithm's first key (published beside the other algorithm's, which keeps
        # verifying). A concurrent process may win the race; the unique (`algorithm`,
        # `current`) pair makes the loser read the winner's key.
        try:
            with transaction.atomic():
                row = signing_key_generate(algorithm)
                row.save()
        except IntegrityError:
            row = SigningKey.objects.get(algorithm=algorithm, current=True)
    return _material(_stored_private_key(row), row.public_jwk)


def current_signing_key() -> KeyMaterial:
    """The key new tokens are signed with. Every CURRENT_KEY_RECHECK seconds the process
    reads where it comes from (the current row's `kid`, or the key file) and decrypts and
    loads a private key only when that changed: loading an RSA private key checks it (about
    27 ms of CPU for 2048 bits), which each worker did every 30 s, all of them at once,
    stalling every request queued behind it."""
    global _current, _current_checked_at, _current_loaded_from
    now = time.monotonic()
    if _current is not None and _current.algorithm == signing_algorithm():
        if now - _current_checked_at <= CURRENT_KEY_RECHECK:
            return _current
        source = _current_source()
        if source is not None and source == _current_loaded_from:
            with _lock:
                _current_checked_at = now
            return _current
    # A key file is read before loading (if it changes in between, the next recheck loads
    # it again); a stored key is the row whose `kid` the material has.
    key_file = _current_source() if settings.IDENTITY_SIGNING_KEY_FILE else None
    material = _load_current()
    with _lock:
        if _current is None or _current.kid != material.kid:
            _current = material
        _current_loaded_from = key_file if key_file is not None else material.kid
        _current_checked_at = now
    return _current


def published_keys() -> list[dict]:
    """The JWKS `keys`: every public key whose tokens may still be valid."""
    keys = [k.public_jwk for k in _file_keys()]
    keys += [row.public_jwk for row in _published_rows()]
    if not keys:
        keys.append(current_signing_key().public_jwk)
    unique = {key["kid"]: _public_members(key) for key in keys}
    return list(unique.values())


_PUBLIC_MEMBERS = {
    "RSA": ("kty", "use", "alg", "kid", "n", "e"),
    "EC": ("kty", "use", "alg", "kid", "crv", "x", "y"),
}


def _public_members(key: dict) -> dict:
    """RFC 7517 §4, RFC 7518 §6.3.1 and §6.2.1: the public members only, never `d`."""
    return {name: key[name] for name in _PUBLIC_MEMBERS[key["kty"]]}


def _verifier(kid: str) -> KeyMaterial | None:
    """The published key `kid`. The published set is re-read every CURRENT_KEY_RECHECK
    seconds, so a key that another process retired or revoked stops verifying here too, and
    sooner for an unknown `kid` (at most every UNKNOWN_KID_RELOAD seconds)."""
    global _verifiers_loaded_at
    now = time.monotonic()
    age = now - _verifiers_loaded_at
    if age > CURRENT_KEY_RECHECK or (kid not in _verifiers and age >= UNKNOWN_KID_RELOAD):
        loaded = {m.kid: m for m in _file_keys()}
        for row in _published_rows():
            loaded.setdefault(row.kid, _material(None, row.public_jwk))
        with _lock:
            _verifiers.clear()
            _verifiers.update(loaded)
            _verifiers_loaded_at = now
    return _verifiers.get(kid)


def forget_loaded_keys() -> None:
    """Drops this process's loaded keys (after a rotation here, and between tests)."""
    global _current, _current_checked_at, _current_loaded_from, _verifiers_loaded_at
    with _lock:
        _current = None
        _current_checked_at = 0.0
        _current_loaded_from = None
        _verifiers_loaded_at = 0.0
        _verifiers.clear()


# --- tokens ----------------------------------------------------------------------------


def _access_token_frame(now: int) -> dict:
    """The registered claims every access token has, a client's or a user's (SPEC §3)."""
    return {
        "iss": settings.IDENTITY_ISSUER,
        "aud": settings.IDENTITY_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + settings.ACCESS_TOKEN_LIFETIME,
        "jti": uuid.uuid4().hex,
    }


def access_token_claims(*, client, scopes, authenticated_by: dict) -> dict:
    """SPEC §3 claims for a token issued to `client` (an identity_server.clients
    ClientSnapshot); `authenticated_by` names the secret or credential that authenticated it."""
    now = int(time.time())
    claims = {
        **_access_token_frame(now),
        "client_id": client.client_id,
        "sub": client.client_id,
        "sub_type": SUB_TYPES[client.kind],
        "prt_id": client.organization_global_id,
        "scope": list(scopes),
        **authenticated_by,
    }
    if client.tenant_global_id:
        claims["tenant_id"] = client.tenant_global_id
        claims["tenant_name"] = client.tenant_name
    return claims


@dataclass(frozen=True)
class SignIn:
    """A user's sign-in behind a token request (SPEC §8), set on the oauthlib request by the
    validator's authorization code and refresh grants."""

    user: object
    organization_global_id: str
    grant_global_id: str
    sid: str
    auth_time: int
    amr: tuple[str, ...]
    nonce: str = ""


def user_access_token_claims(*, client_id: str, sign_in: SignIn, scopes) -> dict:
    """SPEC §8: a §3 token whose subject is the user, in the organization chosen at sign-in;
    `grant_id` lets revoking the grant deny-list it (identity_server.denylist)."""
    now = int(time.time())
    user = sign_in.user
    claims = {
        **_access_token_frame(now),
        "client_id": client_id,
        "sub": str(user.pk),
        "sub_type": "user",
        "prt_id": sign_in.organization_global_id,
        "preferred_username": user.get_username(),
        "auth_time": sign_in.auth_time,
        "amr": list(sign_in.amr),
        "scope": list(scopes),
        "grant_id": sign_in.grant_global_id,
    }
    if user.email:
        claims["email"] = user.email
    return claims


def _half_hash(value: str) -> str:
    """OpenID Connect Core §3.1.3.6 at_hash: the left half of SHA-256, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token_encode(*, client_id: str, sign_in: SignIn, access_token: str) -> str:
    """OpenID Connect Core §2: the id_token for `client_id`, signed like access tokens
    (IDENTITY_SIGNING_ALGORITHM) with the current key."""
    now = int(time.time())
    claims = {
        "iss": settings.IDENTITY_ISSUER,
        "aud": client_id,
        "sub": str(sign_in.user.pk),
        "iat": now,
        "exp": now + settings.ACCESS_TOKEN_LIFETIME,
        "auth_time": sign_in.auth_time,
        "amr": list(sign_in.amr),
        "at_hash": _half_hash(access_token),
        "sid": sign_in.sid,
        "prt_id": sign_in.organization_global_id,
    }
    if sign_in.nonce:
        claims["nonce"] = sign_in.nonce
    user = sign_in.user
    if user.email:
        # OpenID Connect Core §5.1; verified only as an identity provider said (SPEC §9).
        claims["email"] = user.email
        claims["email_verified"] = email_verified(user)
    key = current_signing_key()
    return jwt.encode(
        claims, key.signer, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"}
    )


def access_token_encode(claims: dict) -> str:
    key = current_signing_key()
    return jwt.encode(
        claims, key.signer, algorithm=key.algorithm, headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )


def access_token_generator(request) -> str:
    """DOT's ACCESS_TOKEN_GENERATOR: the validator has authenticated `request.client` and
    settled `request.scopes` (and, for a user's grant, `request.sign_in`); the claims stay
    on the request for the issuance log."""
    sign_in = getattr(request, "sign_in", None)
    if sign_in is not None:
        request.access_token_claims = user_access_token_claims(
            client_id=request.client.client_id, sign_in=sign_in, scopes=request.scopes
        )
    else:
        request.access_token_claims = access_token_claims(
            client=request.client, scopes=request.scopes, authenticated_by=request.authenticated_by
        )
    return access_token_encode(request.access_token_claims)


def refresh_token_generator(request) -> str:
    """DOT's REFRESH_TOKEN_GENERATOR: an opaque value (SPEC §8), stored only hashed by the
    validator's save_bearer_token."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def access_token_decode(token: str) -> dict:
    """The claims of one of our unexpired access tokens; InvalidAccessToken otherwise.
    Revocation is checked separately (identity_server.denylist)."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = _verifier(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != TOKEN_TYPE:
            raise InvalidAccessToken("unknown key")
        claims = jwt.decode(
            token,
            key.verifier,
            algorithms=[key.algorithm],
            audience=settings.IDENTITY_AUDIENCE,
            issuer=settings.IDENTITY_ISSUER,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_jti": True,
                "leeway": LEEWAY_SECONDS,
            },
        )
    except (JOSEError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise InvalidAccessToken(str(error)) from None
    if not isinstance(claims.get("client_id"), str) or not isinstance(claims.get("scope"), list):
        raise InvalidAccessToken("missing claims")
    return claims


# --- sign-out (SPEC §8) -------------------------------------------------------------------

# OpenID Connect Back-Channel Logout 1.0 §2.4.
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105  (a media type, not a secret)
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Long enough for the retries of identity_server.signout, short enough to be useless later.
LOGOUT_TOKEN_LIFETIME = 120
# Far above any id_token we sign; refused before any parsing.
ID_TOKEN_HINT_MAX_LENGTH = 8192


def id_token_hint_decode(token: str) -> dict:
    """OpenID Connect RP-Initiated Logout 1.0 §2: the claims of an id_token we issued (one
    of our published keys, in that key's algorithm, our issuer, a client as `aud`, a
    `sub`), expired or not: the hint names who is signing out, and a session often outlives
    its id_token. An access token is not an id_token. InvalidAccessToken otherwise."""
    if not isinstance(token, str) or len(token) > ID_TOKEN_HINT_MAX_LENGTH:
        raise InvalidAccessToken("not a token we issued")
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = _verifier(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") in (TOKEN_TYPE, LOGOUT_TOKEN_TYPE):
            raise InvalidAccessToken("unknown key")
        claims = jwt.decode(
            token,
            key.verifier,
            algorithms=[key.algorithm],
            issuer=settings.IDENTITY_ISSUER,
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_at_hash": False,  # a hint comes without its access token
                "leeway": LEEWAY_SECONDS,
            },
        )
    except (JOSEError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise InvalidAccessToken(str(error)) from None
    audience = claims.get("aud")
    if not isinstance(claims.get("sub"), str) or not isinstance(audience, str) or not audience:
        raise InvalidAccessToken("missing claims")
    return claims


def logout_token_encode(*, client_id: str, sub: str, sid: str) -> str:
    """OpenID Connect Back-Channel Logout 1.0 §2.4: a logout token for `client_id`, naming
    the user and the site session that ended; no nonce (§2.4 forbids one)."""
    now = int(time.time())
    claims = {
        "iss": settings.IDENTITY_ISSUER,
        "aud": client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME,
        "jti": uuid.uuid4().hex,
        "sub": sub,
        "sid": sid,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    key = current_signing_key()
    return jwt.encode(
        claims,
        key.signer,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": LOGOUT_TOKEN_TYPE},
    )
