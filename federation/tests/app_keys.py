"""An application's own signing keys for tests (SPEC §11): the private half stays here, as
it stays with a real application; the server gets a PEM public key, a PEM certificate or a
JWKS URL served by the test identity provider."""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from federation import services
from identity_server.tests.factories import TEST_ACTOR
from tests.idp import Answer, b64url

JWKS_PATH = "/apps/deployments/jwks.json"


@dataclass(frozen=True)
class SigningKey:
    private_key: object
    alg: str

    @classmethod
    def rsa(cls, bits: int = 2048, alg: str = "RS256") -> "SigningKey":
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits), alg)

    @classmethod
    def ec(cls, curve=None) -> "SigningKey":
        return cls(ec.generate_private_key(curve or ec.SECP256R1()), "ES256")

    @classmethod
    def ed25519(cls) -> "SigningKey":
        return cls(ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def certificate_pem(self, *, days: int = 365, expired: bool = False) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deployments")])
        now = datetime.now(UTC)
        start, end = (
            (now - timedelta(days=2), now - timedelta(days=1))
            if expired
            else (now - timedelta(minutes=5), now + timedelta(days=days))
        )
        algorithm = (
            None if isinstance(self.private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(self.private_key, algorithm)
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def public_jwk(self, kid: str = "deployments-1", **extra) -> dict:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            members = {
                "kty": "RSA",
                "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": b64url(numbers.e.to_bytes(3, "big")),
            }
        else:
            numbers = public.public_numbers()
            members = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            }
        return {**members, "kid": kid, "use": "sig", **extra}


def serve_app_jwks(identity_provider, jwks: dict) -> str:
    """The test identity provider serves `jwks` as an application's key set; its URL."""
    identity_provider.respond(JWKS_PATH, Answer(body=json.dumps(jwks).encode()))
    return identity_provider.base_url + JWKS_PATH


def registered_key(app, key: SigningKey, *, name: str = "Deployments key", **source):
    """`key` registered on `app` through the real service, as its PEM public key unless a
    `certificate_pem` or `jwks_uri` is given."""
    if not source:
        source = {"public_key_pem": key.public_pem}
    return services.app_key_create(app=app, actor=TEST_ACTOR, name=name, **source)


def now() -> int:
    return int(time.time())
