"""An application's own public keys, read from what an admin pastes (SPEC §11): a PEM
public key (RFC 7468 §13, SubjectPublicKeyInfo, or PKCS#1 `RSA PUBLIC KEY`) or a PEM
certificate (RFC 7468 §5), whose public key is what counts.

Each becomes a public JWK (RFC 7517, RFC 7518 §6.2-6.3) whose `kid` is its RFC 7638
thumbprint, so the token path works with one shape of key whatever was registered. Only
what can verify an accepted algorithm is taken: RSA of at least MIN_RSA_BITS (RS256,
PS256) or EC on P-256 (ES256). A private key is refused without being kept or echoed: the
one who pasted it has to treat it as exposed, and is told so.
"""

import base64
import hashlib
import json
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ValidationError
from django.utils import timezone

MIN_RSA_BITS = 2048
_PRIVATE_MARKER = "PRIVATE KEY-----"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, length: int | None = None) -> str:
    return _b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def thumbprint(members: dict) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without blanks."""
    compact = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64url(hashlib.sha256(compact).digest())


def _error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def public_jwk(public_key, field: str) -> tuple[dict, str]:
    """(the public JWK with its thumbprint as `kid`, a description such as "RSA 2048") of
    a `cryptography` public key; ValidationError keyed by `field` for a key we cannot use."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise _error(
                field,
                f"The RSA key has {public_key.key_size} bits; at least {MIN_RSA_BITS} are "
                "required.",
                "weak_key",
            )
        numbers = public_key.public_numbers()
        members = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
        description = f"RSA {public_key.key_size}"
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        numbers = public_key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _uint(numbers.x, 32),
            "y": _uint(numbers.y, 32),
        }
        description = "EC P-256"
    else:
        kind = (
            f"EC {public_key.curve.name}"
            if isinstance(public_key, ec.EllipticCurvePublicKey)
            else type(public_key).__name__.removeprefix("_").replace("PublicKey", "")
        )
        raise _error(
            field,
            f"Unsupported key type ({kind}): register an RSA key (RS256, PS256) or an EC "
            "P-256 key (ES256).",
            "unsupported_key_type",
        )
    return {**members, "kid": thumbprint(members)}, description


def _refuse_private(pem: str, field: str) -> None:
    if _PRIVATE_MARKER in pem:
        raise _error(
            field,
            "This is a private key: register only its public key. It was not stored; "
            "treat the private key as exposed and replace it.",
            "private_key",
        )


def public_key_read(pem: str) -> tuple[dict, str]:
    """A PEM public key as (JWK, description). ValidationError keyed `publicKeyPem`."""
    field = "publicKeyPem"
    _refuse_private(pem, field)
    try:
        public_key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnicodeError):
        raise _error(
            field,
            "Not a PEM public key: paste the block from -----BEGIN PUBLIC KEY----- to "
            "-----END PUBLIC KEY-----.",
            "invalid_pem",
        ) from None
    return public_jwk(public_key, field)


def certificate_read(pem: str, *, now: datetime | None = None) -> tuple[dict, str, datetime]:
    """A PEM certificate as (JWK of its public key, description, notAfter). An expired
    certificate is refused. ValidationError keyed `certificatePem`."""
    field = "certificatePem"
    _refuse_private(pem, field)
    try:
        certificate = x509.load_pem_x509_certificate(pem.strip().encode())
        public_key = certificate.public_key()
    except (ValueError, TypeError, UnicodeError):
        raise _error(
            field,
            "Not a PEM certificate: paste the block from -----BEGIN CERTIFICATE----- to "
            "-----END CERTIFICATE-----.",
            "invalid_pem",
        ) from None
    expires_at = certificate.not_valid_after_utc
    if expires_at <= (now or timezone.now()):
        raise _error(
            field,
            f"The certificate expired on {expires_at:%Y-%m-%d %H:%M} UTC.",
            "certificate_expired",
        )
    jwk, description = public_jwk(public_key, field)
    return jwk, description, expires_at
