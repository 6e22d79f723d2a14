"""A real OpenID identity provider for tests and the demo: HTTPS on loopback, throwaway CA.

Federated credentials (SPEC §5) trust tokens from GitHub Actions, Entra ID, Google Cloud and
Kubernetes. This server stands in for all four on one port, each issuer under its own path,
serving its discovery document (OpenID Connect Discovery 1.0 §4) and its JWKS (RFC 7517)
at the same paths as the real provider, and minting tokens with the claims each one puts
in its tokens:

    github  {base}/github                 like https://token.actions.githubusercontent.com
    entra   {base}/entra/{tenant}/v2.0    like https://login.microsoftonline.com/{tenant}/v2.0
    gcp     {base}/gcp                    like https://accounts.google.com
    k8s     {base}/k8s                    like a cluster's service account issuer

It can also misbehave the ways the guarded fetcher (federation/jwks.py) must survive, so
those cases are tested against a real socket: go down, answer slowly or a byte at a time,
redirect, serve oversized or non-JSON bodies, claim another issuer or none, name no
`jwks_uri`, publish no RSA key.
`sign_raw` signs any header and payload bytes, for malformed and hostile tokens.

Tests get it through the `identity_provider` fixture (one server per test session,
`reset()` before each test, settings pointed at it); child processes through `env`; the
demo through `manage.py test_identity_provider`. Signing uses `cryptography` directly:
python-jose belongs to federation/assertions.py and identity_server/tokens.py alone.
"""

import base64
import hashlib
import json
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.fakes.base import send_raw

SHAPES = ("github", "entra", "gcp", "k8s")
ENTRA_TENANT = "3f9a5e1c-2b7d-4c8e-9a61-5d0f7e2b4c13"
# Names the server's certificate is valid for; `identity-provider.test` (RFC 6761) lets a
# test resolve a name of its choosing to the server.
CERTIFICATE_NAMES = ("localhost", "127.0.0.1", "identity-provider.test")

# A claim or header override with this value removes the claim or header parameter.
REMOVE = object()

# Each issuer's path and its JWKS path, laid out as the real provider publishes them.
_PATHS = {
    "github": ("/github", "/github/.well-known/jwks"),
    "entra": (f"/entra/{ENTRA_TENANT}/v2.0", f"/entra/{ENTRA_TENANT}/discovery/v2.0/keys"),
    "gcp": ("/gcp", "/gcp/oauth2/v3/certs"),
    "k8s": ("/k8s", "/k8s/openid/v1/jwks"),
}
_RSA_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class IdpKey:
    """An RSA signing key of one issuer; `kid` is its RFC 7638 thumbprint."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls, bits: int = 2048) -> "IdpKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        numbers = key.public_key().public_numbers()
        members = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
        return cls(key, b64url(hashlib.sha256(_compact_json(members)).digest()))

    @property
    def public_jwk(self) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def x5t(self) -> str:
        """GitHub sends a SHA-1 thumbprint beside `kid`; here, of the public key."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(hashlib.sha1(der).digest())  # noqa: S324  (a thumbprint, as GitHub's)


@dataclass
class Answer:
    """What the server sends for one path (see `respond`)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict = field(default_factory=dict)
    declare_length: bool = True


class IdentityProvider:
    """The server and its state. Every method is safe to call from any thread."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1"):
        self._host = host
        self._ca = trustme.CA()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*CERTIFICATE_NAMES).configure_cert(self._tls)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.port = port
        self.ca_bundle = ""
        self._initial_keys = {shape: IdpKey.generate() for shape in SHAPES}
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self._counts: Counter[str] = Counter()
        self._wake = threading.Event()
        self.reset()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> "IdentityProvider":
        """Listens (on a free port unless one was given) and writes the CA to `ca_bundle`."""
        with tempfile.NamedTemporaryFile("wb", prefix="idp-ca-", suffix=".pem", delete=False) as f:
            f.write(self.ca_pem)
        self.ca_bundle = f.name
        self.up()
        return self

    def stop(self) -> None:
        self.down()
        Path(self.ca_bundle).unlink(missing_ok=True)

    def up(self) -> None:
        """Accepts connections again, on the same port."""
        with self._lock:
            if self._server is not None:
                return
            server = _Server((self._host, self.port), _Handler)
            server.idp = self
            self.port = server.server_address[1]
            self._server = server
            threading.Thread(
                target=server.serve_forever, name=f"idp-{self.port}", daemon=True
            ).start()

    def down(self) -> None:
        """Closes the listening socket: connections are refused until `up()`."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def reset(self) -> None:
        """Back to the initial keys and well-behaved answers; counters start from zero."""
        with self._lock:
            self._keys = {shape: [key] for shape, key in self._initial_keys.items()}
            self._overrides: dict[str, Answer] = {}
            self._discovery_issuers: dict[str, str] = {}
            self._discovery_changes: dict[str, dict] = {}
            self._delay = 0.0
            self._trickle = False
            # Handlers still sleeping for an earlier test wake up and finish.
            self._wake.set()
            self._wake = threading.Event()
            self._counts.clear()

    # --- where it is -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://{self._host}:{self.port}"

    def issuer(self, shape: str) -> str:
        return self.base_url + _PATHS[shape][0]

    def discovery_url(self, shape: str) -> str:
        return self.issuer(shape) + "/.well-known/openid-configuration"

    def jwks_url(self, shape: str) -> str:
        return self.base_url + _PATHS[shape][1]

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    @property
    def allowlist(self) -> list[str]:
        """FEDERATION_OUTBOUND_ALLOWLIST entries that open this server, and only it."""
        return [f"{self._host}:{self.port}", f"localhost:{self.port}"]

    @property
    def env(self) -> dict[str, str]:
        """The environment a child process (tests/processes.py) needs to fetch from it."""
        return {
            "FEDERATION_OUTBOUND_ALLOWLIST": ",".join(self.allowlist),
            "FEDERATION_CA_BUNDLE": self.ca_bundle,
        }

    # --- keys and tokens -------------------------------------------------------------

    def key(self, shape: str) -> IdpKey:
        """The issuer's current signing key."""
        with self._lock:
            return self._keys[shape][0]

    def rotate_keys(self, shape: str | None = None, *, keep_previous: bool = False) -> None:
        """A new signing key (new `kid`) for one issuer or all; the old one leaves the JWKS
        unless `keep_previous`."""
        for name in [shape] if shape else SHAPES:
            new = IdpKey.generate()
            with self._lock:
                self._keys[name] = [new, *self._keys[name]] if keep_previous else [new]

    def jwks(self, shape: str) -> dict:
        with self._lock:
            return {"keys": [key.public_jwk for key in self._keys[shape]]}

    def subject_and_audience(self, shape: str) -> tuple[str, str]:
        """The `sub` and (first) `aud` of a `shape` token as minted: what a federated
        credential accepting it names."""
        claims = self.default_claims(shape, now=0, lifetime=0)
        audience = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
        return claims["sub"], audience

    def default_claims(self, shape: str, *, now: int, lifetime: int) -> dict:
        """The claims the real provider puts in a token (its public documentation)."""
        times = {"iat": now, "nbf": now, "exp": now + lifetime}
        iss = self.issuer(shape)
        if shape == "github":
            sha = hashlib.sha1(str(now).encode()).hexdigest()  # noqa: S324  (a commit id)
            workflow = "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main"
            return {
                "jti": str(uuid.uuid4()),
                "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
                "aud": "https://github.com/octo-org",
                "ref": "refs/heads/main",
                "sha": sha,
                "repository": "octo-org/octo-repo",
                "repository_owner": "octo-org",
                "repository_owner_id": "65436504",
                "repository_id": "74",
                "repository_visibility": "private",
                "run_id": "5109384923",
                "run_number": "10",
                "run_attempt": "1",
                "runner_environment": "github-hosted",
                "actor": "octocat",
                "actor_id": "583231",
                "workflow": "deploy",
                "workflow_ref": workflow,
                "workflow_sha": sha,
                "job_workflow_ref": workflow,
                "job_workflow_sha": sha,
                "head_ref": "",
                "base_ref": "",
                "event_name": "push",
                "ref_type": "branch",
                "ref_protected": "true",
                "iss": iss,
                **times,
            }
        if shape == "entra":
            object_id = "5d2e6a40-8b0f-4c1e-9f3a-27c4d1b8e9a6"
            return {
                "aud": "api://identity-server",
                "iss": iss,
                **times,
                "aio": b64url(uuid.uuid4().bytes),
                "azp": "b1c7f2de-44a9-4d6b-8e13-0f5a9c3d2e71",
                "azpacr": "2",
                "idtyp": "app",
                "oid": object_id,
                "rh": "0.AXEA" + b64url(uuid.uuid4().bytes),
                "sub": object_id,
                "tid": ENTRA_TENANT,
                "uti": b64url(uuid.uuid4().bytes[:12]),
                "ver": "2.0",
            }
        if shape == "gcp":
            unique_id = "108815346920384756123"
            return {
                "aud": "https://identity-server.example",
                "azp": unique_id,
                "email": "ci-runner@example-project.iam.gserviceaccount.com",
                "email_verified": True,
                **times,
                "iss": iss,
                "sub": unique_id,
            }
        if shape == "k8s":
            return {
                "aud": ["https://kubernetes.default.svc.cluster.local"],
                **times,
                "iss": iss,
                "jti": str(uuid.uuid4()),
                "kubernetes.io": {
                    "namespace": "ci",
                    "node": {"name": "node-1", "uid": str(uuid.uuid4())},
                    "pod": {"name": "runner-7d9f4", "uid": str(uuid.uuid4())},
                    "serviceaccount": {"name": "runner", "uid": str(uuid.uuid4())},
                    "warnafter": now + lifetime // 2,
                },
                "sub": "system:serviceaccount:ci:runner",
            }
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")

    def mint(
        self,
        shape: str,
        *,
        claims: dict | None = None,
        header: dict | None = None,
        lifetime: int = 300,
        now: int | None = None,
        key=None,
    ) -> str:
        """A token shaped like the provider's, signed with the issuer's current key.

        `claims` and `header` override the defaults (a value of REMOVE drops the entry); the
        header's `alg` chooses the signature, and `key` another key (see `sign_raw`).
        """
        now = int(time.time()) if now is None else now
        current = self.key(shape)
        default_header = {"alg": "RS256", "kid": current.kid, "typ": "JWT"}
        if shape == "github":
            default_header["x5t"] = current.x5t
        elif shape == "k8s":
            del default_header["typ"]
        return self.sign_raw(
            _merged(default_header, header),
            _merged(self.default_claims(shape, now=now, lifetime=lifetime), claims),
            shape=shape,
            key=key,
        )

    def sign_raw(
        self,
        header: bytes | dict,
        payload: bytes | dict,
        *,
        shape: str = "github",
        key=None,
        alg: str | None = None,
    ) -> str:
        """`b64url(header).b64url(payload).b64url(signature)` of exactly these bytes.

        Dicts are serialized compactly; bytes are used as they are (duplicate keys, bad
        JSON...). `alg` defaults to the header's `alg` (RS256 for bytes): RS*/PS256 sign with
        `key` or the issuer's current RSA key, ES256 with `key` or `ec_key`, HS* with `key`
        bytes or, by default, the issuer's public key PEM (the key-confusion attack);
        `none` gives an empty signature.
        """
        if alg is None:
            alg = header.get("alg", "RS256") if isinstance(header, dict) else "RS256"
        header_bytes = _compact_json(header) if isinstance(header, dict) else header
        payload_bytes = _compact_json(payload) if isinstance(payload, dict) else payload
        signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}".encode()
        return f"{signing_input.decode()}.{b64url(self._sign(signing_input, shape, key, alg))}"

    def _sign(self, data: bytes, shape: str, key, alg: str) -> bytes:
        family, bits = alg[:2], alg[2:]
        if alg == "none":
            return b""
        if family in ("RS", "PS") and bits in _RSA_HASHES:
            private = key or self.key(shape).private_key
            if isinstance(private, IdpKey):
                private = private.private_key
            digest = _RSA_HASHES[bits]()
            scheme = (
                padding.PKCS1v15()
                if family == "RS"
                else padding.PSS(padding.MGF1(digest), padding.PSS.DIGEST_LENGTH)
            )
            return private.sign(data, scheme, digest)
        if alg == "ES256":
            r, s = decode_dss_signature((key or self.ec_key).sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if family == "HS" and bits in _RSA_HASHES:
            mac = hmac.HMAC(key or self.key(shape).public_pem, _RSA_HASHES[bits]())
            mac.update(data)
            return mac.finalize()
        raise ValueError(f"cannot sign with alg {alg!r}")

    # --- misbehaviour ----------------------------------------------------------------

    def respond(self, path: str, answer: Answer) -> None:
        """Answer `path` (exact, without query) with `answer` until reset()."""
        with self._lock:
            self._overrides[path] = answer

    def slow(self, seconds: float, *, trickle: bool = False) -> None:
        """Every answer waits `seconds` first; with `trickle`, each byte of it does."""
        with self._lock:
            self._delay, self._trickle = seconds, trickle

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.respond(path, Answer(status=status, content_type=None, headers={"Location": location}))

    def oversized(self, path: str, size: int = 128 * 1024, *, declare_length: bool = True) -> None:
        """Valid JSON of `size` bytes; without `declare_length`, no Content-Length either."""
        padding_ = max(0, size - len('{"keys":[],"padding":""}'))
        body = _compact_json({"keys": [], "padding": "x" * padding_})
        self.respond(path, Answer(body=body, declare_length=declare_length))

    def non_json(self, path: str) -> None:
        self.respond(path, Answer(body=b"<html>sign in</html>", content_type="text/html"))

    def discovery_issuer(self, shape: str, value: str) -> None:
        """The discovery document names `value` as its issuer."""
        with self._lock:
            self._discovery_issuers[shape] = value

    def discovery_fields(self, shape: str, **fields) -> None:
        """The discovery document's members changed (a value of REMOVE drops the member):
        `discovery_fields("github", jwks_uri=REMOVE)`."""
        with self._lock:
            self._discovery_changes[shape] = fields

    def serve_jwks(self, shape: str, jwks: dict) -> None:
        """The issuer's JWKS endpoint serves exactly `jwks`."""
        self.respond(urlsplit(self.jwks_url(shape)).path, Answer(body=_compact_json(jwks)))

    def jwks_without_rsa(self, shape: str) -> None:
        """The JWKS publishes only an EC P-256 key."""
        numbers = self.ec_key.public_key().public_numbers()
        ec_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "kid": "ec-1",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        self.serve_jwks(shape, {"keys": [ec_jwk]})

    # --- what it served --------------------------------------------------------------

    @property
    def requests_served(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def requests_for(self, path: str) -> int:
        with self._lock:
            return self._counts[path]

    # --- serving ---------------------------------------------------------------------

    def _answer(self, target: str) -> tuple[Answer, float, bool, threading.Event]:
        parts = urlsplit(target)
        with self._lock:
            self._counts[parts.path] += 1
            override = self._overrides.get(parts.path)
            timing = (self._delay, self._trickle, self._wake)
        if override is not None:
            return (override, *timing)
        if parts.path == "/mint":
            return (self._mint_answer(parse_qs(parts.query)), *timing)
        for shape, (issuer_path, jwks_path) in _PATHS.items():
            if parts.path == issuer_path + "/.well-known/openid-configuration":
                return (Answer(body=_compact_json(self._discovery(shape))), *timing)
            if parts.path == jwks_path:
                return (Answer(body=_compact_json(self.jwks(shape))), *timing)
        return (Answer(status=404, body=b'{"error":"not_found"}'), *timing)

    def _discovery(self, shape: str) -> dict:
        with self._lock:
            issuer = self._discovery_issuers.get(shape, self.issuer(shape))
            changes = self._discovery_changes.get(shape)
        document = {
            "issuer": issuer,
            "jwks_uri": self.jwks_url(shape),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        return _merged(document, changes)

    def _mint_answer(self, query: dict[str, list[str]]) -> Answer:
        """GET /mint?shape=github&sub=...&aud=...&lifetime=... (the demo's curl)."""
        shape = query.get("shape", ["github"])[0]
        if shape not in SHAPES:
            return Answer(status=400, body=_compact_json({"error": f"shape: {SHAPES}"}))
        claims = {name: query[name][0] for name in ("sub", "aud") if name in query}
        lifetime = int(query.get("lifetime", ["300"])[0])
        token = self.mint(shape, claims=claims, lifetime=lifetime)
        return Answer(body=token.encode(), content_type="text/plain")


def _merged(defaults: dict, overrides: dict | None) -> dict:
    merged = {**defaults, **(overrides or {})}
    return {name: value for name, value in merged.items() if value is not REMOVE}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # down() must not wait for a handler still sleeping in slow mode.
    block_on_close = False
    idp: IdentityProvider

    def handle_error(self, request, client_address):
        """Clients that give up (deadline, refused certificate) are part of the tests."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self):
        # The TLS handshake happens here, in the connection's own thread, so a client that
        # stalls it holds up no one else.
        self.request = self.server.idp._tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_GET(self):
        answer, delay, trickle, wake = self.server.idp._answer(self.path)
        headers = dict(answer.headers)
        if answer.content_type:
            headers["Content-Type"] = answer.content_type
        if answer.declare_length:
            headers["Content-Length"] = str(len(answer.body))
        send_raw(self, answer.status, headers, answer.body, delay=delay, trickle=trickle, wake=wake)

    def log_message(self, format, *args):
        """Quiet: the test output is not the place for an access log."""


# --- pytest -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def identity_provider_server():
    """One server for the whole test session; use `identity_provider` in tests."""
    server = IdentityProvider().start()
    yield server
    server.stop()


@pytest.fixture
def identity_provider(identity_provider_server, settings):
    """The test identity provider, reset, with the settings allowing only it."""
    identity_provider_server.reset()
    identity_provider_server.up()  # an earlier test may have taken it down
    settings.FEDERATION_OUTBOUND_ALLOWLIST = identity_provider_server.allowlist
    settings.FEDERATION_CA_BUNDLE = identity_provider_server.ca_bundle
    yield identity_provider_server
    identity_provider_server.reset()
    identity_provider_server.up()
