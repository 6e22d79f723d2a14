"""A real OpenID Connect provider that nobody here wrote, for the relying-party tests (SPEC
§9): panva's `oidc-provider` on Node, pinned by tests/oidc_provider/package-lock.json and
started by tests/oidc_provider/server.mjs on loopback HTTPS with a throwaway CA (trustme).

`npm ci` runs once, when tests/oidc_provider/node_modules is missing or older than the lock
file (it is not committed; the registry is needed that first time).

Two instances run for the session:
- `oidc_provider.issuer`: the provider. Tests add accounts (`account(id, **claims)`) and
  register clients through its own dynamic registration (`register_client(redirect_uri)`).
  Its login interaction signs in the account named by the request's `login_hint`.
- `oidc_provider.impostor`: the same software with its own keys, whose discovery names
  the provider's key set: every id_token it signs carries a `kid` of the provider's keys
  but no published key verifies it ("an id_token signed by another key").

Tests take the `oidc_provider` fixture, which points the guarded fetcher at them
(FEDERATION_OUTBOUND_ALLOWLIST and FEDERATION_CA_BUNDLE).
"""

import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.idp import b64url
from tests.processes import free_port

HERE = Path(__file__).parent / "oidc_provider"
KID = "oidc-test-key-1"
START_SECONDS = 30


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def private_jwk(kid: str) -> dict:
    """A new RSA 2048 private key as a JWK (RFC 7518 §6.3), for the provider to sign with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()
    public = numbers.public_numbers
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": _uint(public.n),
        "e": _uint(public.e),
        "d": _uint(numbers.d),
        "p": _uint(numbers.p),
        "q": _uint(numbers.q),
        "dp": _uint(numbers.dmp1),
        "dq": _uint(numbers.dmq1),
        "qi": _uint(numbers.iqmp),
    }


def npm_installed() -> None:
    """`npm ci` in tests/oidc_provider unless its node_modules match the lock file."""
    marker = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm (Node 20+) is needed to run the OpenID Connect provider of the tests")
    subprocess.run(  # noqa: S603
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=HERE,
        check=True,
        capture_output=True,
        timeout=300,
    )


class OpenIDProvider:
    """One `node server.mjs` process."""

    def __init__(self, *, cert: Path, key: Path, ca_bundle: str, jwk: dict, **extra):
        self.port = free_port()
        self.issuer = f"https://127.0.0.1:{self.port}"
        self.ca_bundle = ca_bundle
        self._config = {
            "issuer": self.issuer,
            "port": self.port,
            "cert": str(cert),
            "key": str(key),
            "jwks": {"keys": [jwk]},
            "cookieKeys": [secrets.token_urlsafe(32)],
            **extra,
        }
        self._process = None
        self._config_file = None

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def start(self) -> "OpenIDProvider":
        with tempfile.NamedTemporaryFile(
            "w", prefix="oidc-provider-", suffix=".json", delete=False
        ) as f:
            json.dump(self._config, f)
        self._config_file = Path(f.name)
        # Its warnings go to a file: a pipe nobody reads would block it once full.
        self._log = self._config_file.with_suffix(".log")
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(  # noqa: S603
                [shutil.which("node") or "node", str(HERE / "server.mjs"), f.name],
                cwd=HERE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self._log.read_text()[-2000:]}")
            try:
                answer = self.http().get(f"{self.issuer}/.well-known/openid-configuration")
                if answer.status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("oidc-provider did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if self._config_file is not None:
            self._config_file.unlink(missing_ok=True)
            self._log.unlink(missing_ok=True)

    def http(self) -> requests.Session:
        """A session that trusts the provider's CA (what a browser with it installed is)."""
        session = requests.Session()
        session.verify = self.ca_bundle
        session.trust_env = False
        return session

    def account(self, account_id: str, **claims) -> str:
        """Adds (or replaces) an account whose login_hint is its id or email."""
        answer = self.http().put(f"{self.issuer}/_test/accounts/{account_id}", json=claims)
        assert answer.status_code == 204, answer.text
        return account_id

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """RFC 7591 dynamic registration at the provider: a confidential client of the code
        flow; its client ID and secret."""
        answer = self.http().post(
            f"{self.issuer}/reg",
            json={
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return body["client_id"], body["client_secret"]


class Providers:
    """The session's provider and its impostor (module docstring)."""

    def __init__(self, main: OpenIDProvider, impostor: OpenIDProvider, ca_bundle: str):
        self.main, self.impostor, self.ca_bundle = main, impostor, ca_bundle

    def __getattr__(self, name):
        return getattr(self.main, name)

    @property
    def allowlist(self) -> list[str]:
        return [f"127.0.0.1:{self.main.port}", f"127.0.0.1:{self.impostor.port}"]


@pytest.fixture(scope="session")
def oidc_provider_server(tmp_path_factory):
    """The two provider processes for the whole session; use `oidc_provider` in tests."""
    npm_installed()
    folder = tmp_path_factory.mktemp("oidc-provider")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key))
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(bundle))
    main = OpenIDProvider(cert=cert, key=key, ca_bundle=str(bundle), jwk=private_jwk(KID))
    main.start()
    impostor = OpenIDProvider(
        cert=cert,
        key=key,
        ca_bundle=str(bundle),
        jwk=private_jwk(KID),  # the provider's kid, another key
        published_jwks_uri=main.jwks_uri,
    )
    try:
        impostor.start()
    except Exception:
        main.stop()
        raise
    yield Providers(main, impostor, str(bundle))
    impostor.stop()
    main.stop()


@pytest.fixture
def oidc_provider(oidc_provider_server, settings):
    """The OpenID Connect provider, with the guarded fetcher allowed to reach it (and its
    impostor) and trusting its CA."""
    settings.FEDERATION_OUTBOUND_ALLOWLIST = oidc_provider_server.allowlist
    settings.FEDERATION_CA_BUNDLE = oidc_provider_server.ca_bundle
    return oidc_provider_server
