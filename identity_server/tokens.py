"""JWT access tokens (SPEC §3): claims, RS256 signing, verification, the published JWKS.

RFC 9068 shapes the token (`typ: at+jwt`, `client_id`, `jti`, `scope`), RFC 7517/7518
the published keys, RFC 7638 the key ids. With identity_server/federation/assertions.py,
this is the only module that uses python-jose, always with the algorithm pinned.

Signing keys come from IDENTITY_SIGNING_KEY_FILE (a mounted PEM) or from `SigningKey`
rows whose private half is encrypted with a key derived from SECRET_KEY. Each process
keeps the keys it has loaded and looks for a rotation every CURRENT_KEY_RECHECK seconds;
a retired key stays published until every token it signed has expired.
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
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from jose import jwk, jwt
from jose.exceptions import JOSEError

from identity_server.encryption import fernet
from identity_server.models import SigningKey
from identity_server.signin import email_verified

ALGORITHM = "RS256"
KEY_BITS = 2048
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


_lock = threading.Lock()
_verifiers: dict[str, KeyMaterial] = {}
_current: KeyMaterial | None = None
_current_checked_at = 0.0
_verifiers_loaded_at = 0.0


# --- key storage -----------------------------------------------------------------------


def _fernet() -> MultiFernet:
    """Encrypts stored private keys; SECRET_KEY_FALLBACKS still decrypt after a rotation."""
    return fernet("identity_server.tokens.signing-key")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_jwk(private_key: rsa.RSAPrivateKey) -> dict:
    numbers = private_key.public_key().public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    # RFC 7638 §3: the thumbprint hashes the required members in lexicographic order.
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": ALGORITHM}


def _pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _material(private_key: rsa.RSAPrivateKey | None, public_jwk: dict) -> KeyMaterial:
    signer = None
    if private_key is not None:
        signer = jwk.construct(_pem(private_key), ALGORITHM)
    return KeyMaterial(public_jwk["kid"], public_jwk, jwk.construct(public_jwk, ALGORITHM), signer)


def signing_key_file_load(path: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < KEY_BITS:
        raise ValueError(f"{path} must hold an RSA private key of at least {KEY_BITS} bits.")
    return key


def _stored_private_key(row: SigningKey) -> rsa.RSAPrivateKey:
    try:
        pem = _fernet().decrypt(row.private_key.encode())
    except InvalidToken:
        raise RuntimeError(
            f"Signing key {row.kid} cannot be decrypted: SECRET_KEY changed without the old "
            "key in SECRET_KEY_FALLBACKS."
        ) from None
    return serialization.load_pem_private_key(pem, password=None)


def signing_key_generate() -> SigningKey:
    """A new current key row (unsaved); identity_server.services.signing_key_rotate saves it."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = _pem(private_key)
    public = _public_jwk(private_key)
    return SigningKey(
        kid=public["kid"],
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
        private_key = signing_key_file_load(settings.IDENTITY_SIGNING_KEY_FILE)
        keys.append(_material(private_key, _public_jwk(private_key)))
    for path in settings.IDENTITY_SIGNING_KEY_PREVIOUS_FILES:
        keys.append(_material(None, _public_jwk(signing_key_file_load(path))))
    return keys


def _load_current() -> KeyMaterial:
    if settings.IDENTITY_SIGNING_KEY_FILE:
        return _file_keys()[0]
    row = SigningKey.objects.filter(current=True).first()
    if row is None:
        # First token ever: make the first key. A concurrent process may win the race;
        # the unique `current` column makes the loser read the winner's key.
        try:
            with transaction.atomic():
                row = signing_key_generate()
                row.save()
        except IntegrityError:
            row = SigningKey.objects.get(current=True)
    return _material(_stored_private_key(row), row.public_jwk)


def current_signing_key() -> KeyMaterial:
    global _current, _current_checked_at
    now = time.monotonic()
    if _current is None or now - _current_checked_at > CURRENT_KEY_RECHECK:
        material = _load_current()
        with _lock:
            if _current is None or _current.kid != material.kid:
                _current = material
            _current_checked_at = now
    return _current


def published_keys() -> list[dict]:
    """The JWKS `keys`: every public key whose tokens may still be valid."""
    keys = [k.public_jwk for k in _file_keys()]
    keys += [row.public_jwk for row in _published_rows()]
    if not keys:
        keys.append(current_signing_key().public_jwk)
    unique = {
        key["kid"]: {k: key[k] for k in ("kty", "use", "alg", "kid", "n", "e")} for key in keys
    }
    return list(unique.values())


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
    global _current, _current_checked_at, _verifiers_loaded_at
    with _lock:
        _current = None
        _current_checked_at = 0.0
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
    """OpenID Connect Core §2: the id_token for `client_id`, RS256 with the current key."""
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
        claims, key.signer, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
    )


def access_token_encode(claims: dict) -> str:
    key = current_signing_key()
    return jwt.encode(
        claims, key.signer, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE}
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
            algorithms=[ALGORITHM],
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
    of our published keys, RS256, our issuer, a client as `aud`, a `sub`), expired or not:
    the hint names who is signing out, and a session often outlives its id_token. An access
    token is not an id_token. InvalidAccessToken otherwise."""
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
            algorithms=[ALGORITHM],
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
        claims, key.signer, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": LOGOUT_TOKEN_TYPE}
    )
