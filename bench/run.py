"""`make bench`: token endpoint throughput, ours against oidc-provider and stock DOT.

Measures client-credentials token requests per second, p50 and p99 latency, CPU time per
successful request and errors, for

- `secret`: this project served as production would (identity_server.serve: granian, DEBUG
  off; PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else a throwaway SQLite
  file and the in-process cache), POSTing client id and secret to /identity_/connect/token;
- `assertion`: the same server, POSTing a client id and a JWT client assertion (RFC 7523)
  from the test identity provider (tests/idp.py, HTTPS on loopback, run by this script):
  each of the four applications has a federated credential for each of the provider's four
  issuers (GitHub, Entra, GCP and Kubernetes shapes), each with its own subject, so 16
  distinct credentials are cycled: the same token presented again, as a CI job does until
  it nears expiry. Measured warm: the warm-up repeats until a round makes no request to the
  provider, and the provider's request counter must not move while wrk runs (`outbound`);
- `assertion_unique`: the same credentials, but a token never presented before on every
  request (its own `jti` and signature, minted by the test provider before each slice), so
  every request parses and verifies one; replay protection as the server is configured
  (FEDERATION_ASSERTION_REPLAY_PROTECTION, off unless set in the environment);
- `expression`: the same server and provider, one more application with 20 federated
  credentials of the GitHub issuer, each a claims-matching expression (SPEC §11: a branch
  pattern and the repository owner's id), the matching one created last, so the token path
  tries the 19 others first; tokens for 16 branches that it matches are cycled. Its target
  is 95% of the `assertion` rate in the same run;
- the peer, panva's oidc-provider 9 (Node.js; bench/peer: server.mjs, its version pinned by
  package-lock.json; `npm ci` into bench/peer/node_modules once per lock file), issuing an
  RS256-signed JWT access token per request (client credentials, a resource indicator whose
  accessTokenFormat is `jwt`, RFC 9068), NODE_ENV=production, as one process (`peer_*`) and
  as a node:cluster of 2 workers sharing the port (`peer_cluster_*`), the counterpart of our
  2 workers of ours: `peer_secret` / `peer_cluster_secret` (client_secret_post) and
  `peer_private_key_jwt` / `peer_cluster_private_key_jwt` (RFC 7523 client assertions
  signed RS256 by a key of the bench, a new one every request, since the peer refuses a
  `jti` it has seen). When node or npm is missing, too old, or `npm ci` fails, the bench
  says so, measures everything else, and exits with EXIT_WITHOUT_PEER (2);
- ours again with IDENTITY_SIGNING_ALGORITHM=ES256 (a second server of ours, after the
  first stopped; same database): `secret`, `assertion`, `assertion_unique`, interleaved
  with the peer's cluster (still RS256) once more. The alg of its tokens is printed and
  kept in the JSON (`es256.alg`), so a project that ignores the setting shows;
- `python_floor`: the yardstick, bench/floor.py under the same server as ours: a bare WSGI
  function that reads the form, compares one client's secret, and signs RS256 claims like
  ours with the same `cryptography` call, with no framework, no oauthlib and no log line.
  The least a Python worker can spend on a token; ours minus it is what Django,
  django-oauth-toolkit, oauthlib and our checks cost. Measured beside the peer's cluster
  in the first phase (`python_floor_vs_peer_cluster`, no target);
- `stock_dot`: a throwaway minimal django-oauth-toolkit project built here in a temporary
  folder, with its defaults: the client secret is stored hashed with Django's password
  hasher (PBKDF2), so every token request pays for one password check.

Ours and stock DOT run under the same server (granian, 2 workers, 1 thread each) on
loopback; every server is driven by `wrk` (16 connections, 2 threads; stock DOT 4
connections) for a fixed time with bench/token.lua, which cycles through request bodies,
each wrk thread through its own share (so that no body is sent twice while fresh ones last;
it counts any repeat). A scenario whose bodies must not repeat gets, before each slice, 1.5
times as many as the slice's seconds times the highest rate of any scenario of the same
server so far (1,000 per second at least); a slice that still ran out is measured again
with at least twice as many. The ratios of the rates are what the comparison is about;
absolute numbers depend on the machine (listed in the JSON).

`rps` counts successful responses only (status < 400), so a scenario that fails fast cannot
look fast. Latency percentiles cover every response. `cpu_ms_per_request` is the CPU time
(utime + stime in /proc/<pid>/stat, with reaped children's) of every process of the
server's session (granian's main process and workers, node's primary and workers), read
before and after each slice, over its successful requests; PostgreSQL and Redis are not in it.

The scenarios measured together run in alternating slices (BENCH_ROUNDS, 5: A B C ... C B
A ...), each peer scenario beside the one of ours it is compared with, so that the other
load of a shared machine weighs on both alike; a scenario's rate is over all its slices,
its p50 the median of theirs, its p99 the worst. The first phase is ours (RS256) with
`secret`, `expression`, `assertion`, `assertion_unique`, the four peer scenarios and
`python_floor`; the
second ours with ES256 and the peer's cluster; then stock DOT alone. Printed: each pair's
ratio (ours / peer, over all slices) with the spread of the rounds' ratios, and the targets
of issue 18: at least 1.0x the peer's cluster for `secret` and `assertion`, at least 0.85x
for `assertion_unique`, our p99 under 30 ms; and, as before, `assertion` at least 90% of
`secret`, `expression` 95% of `assertion`.

BENCH_JSON: every scenario of the first phase and `stock_dot` at the top level (`rps`,
`p50_ms`, `p99_ms`, `cpu_ms_per_request`, `errors`, `outbound` for the provider's);
`ratio` (secret / stock_dot), `assertion_ratio`, `expression_ratio` as before; `ratios`
(`secret_vs_peer_cluster`, `assertion_vs_peer_cluster`, `assertion_unique_vs_peer_cluster`,
the same `_vs_peer` for the single process, and `python_floor_vs_peer_cluster`; null
without the peer) and
`ratios_per_round` ([min, median, max] of the rounds' ratios); `es256`: `alg`, its
scenarios (`secret`, `assertion`, `assertion_unique`, `peer_cluster_secret`,
`peer_cluster_private_key_jwt`) and its own `ratios` / `ratios_per_round`; `meta`, the
machine, and `peer` (available, or what is `missing`; node and oidc-provider versions).

With the defaults, 14 scenarios of 10 s, a run takes about 3.5 to 4 minutes on a quiet
2-core machine (about a minute of it setting up ours twice and minting fresh assertions
between slices), more on a busy one.

Environment: BENCH_DURATION (seconds per scenario, 10), BENCH_ROUNDS (slices, 5),
BENCH_CONNECTIONS (for ours and the peer, 16), BENCH_JSON (a path: also write the figures
there as JSON), DATABASE_URL, REDIS_URL, and SECRET_KEY for a database whose signing key
was stored under another key than the bench's.
"""

import base64
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOKEN_SCRIPT = PROJECT_DIR / "bench" / "token.lua"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.idp import SHAPES, IdentityProvider, IdpKey, b64url  # noqa: E402  (the test provider)

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
# Scenarios of one server are measured in this many alternating slices (BENCH_ROUNDS).
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
# Each stock request spends about half a second in PBKDF2; more connections than workers
# would only queue.
STOCK_CONNECTIONS = 4
WORKERS = 2
CLIENTS = 4
ASSERTION_TARGET = 0.9
EXPRESSION_TARGET = 0.95
EXPRESSION_CREDENTIALS = 20
# Warm-up rounds for the assertion path before giving up on a round without outbound calls.
WARM_UP_ROUNDS = 20

# The peer: oidc-provider (bench/peer), as one process and as a cluster of PEER_WORKERS.
PEER_DIR = PROJECT_DIR / "bench" / "peer"
PEER_WORKERS = 2
PEER_SCOPE = "OR.Machines"
PEER_RESOURCE = "https://127.0.0.1/orchestrator_"
# Targets of ours against the peer's cluster, in the same run (issue 18), and of our p99.
PEER_TARGETS = {
    "secret_vs_peer_cluster": 1.0,
    "assertion_vs_peer_cluster": 1.0,
    "assertion_unique_vs_peer_cluster": 0.85,
}
P99_TARGET_MS = 30.0
# Scenarios whose requests must never repeat get, before each slice, UNIQUE_MARGIN times as
# many fresh assertions as the slice's seconds times the highest rate any scenario of the
# same server reached so far (its secret one runs first), or UNIQUE_MIN_RATE if higher.
# A slice that still ran out (token.lua counts repeats) is measured again with at least twice
# as many, up to UNIQUE_ATTEMPTS times in all; if the last one did too, the bench fails.
UNIQUE_MARGIN = 1.5
UNIQUE_MIN_RATE = 1000
UNIQUE_ATTEMPTS = 3
# Exit status when every scenario of ours ran but the peer could not (node, npm, npm ci).
EXIT_WITHOUT_PEER = 2


class BenchError(Exception):
    """A step failed; the message says which and why."""


@dataclass
class Site:
    """A served project and the confidential clients created in it."""

    base_url: str
    clients: list[tuple[str, str]]  # (client_id, client_secret)
    log: Path  # the server's output, shown when a step fails
    # (client_id, JWT) pairs of the clients' federated credentials, and their provider
    assertions: list[tuple[str, str]] = field(default_factory=list)
    # (client_id, JWT) pairs for the application whose credentials are expressions
    expression_assertions: list[tuple[str, str]] = field(default_factory=list)
    identity_provider: IdentityProvider | None = None
    # (client_id, provider shape, subject) of each federated credential: fresh tokens for it
    credentials: list[tuple[str, str, str]] = field(default_factory=list)
    # The session id of the server's processes (CPU time of all of them, /proc)
    session: int | None = None
    # The peer's private_key_jwt client and the bench's key for it
    jwt_client_id: str = ""
    jwt_key: IdpKey | None = None


@dataclass
class Scenario:
    name: str
    path: str
    # bodies(site), cycled by wrk; with `unique`, bodies(site, count): count bodies, each
    # sent once (new ones before every slice)
    bodies: Callable[..., list[str]]
    connections: int
    timeout_s: int = 5
    unique: bool = False


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    successes: int
    outbound: int | None = None  # requests to the identity provider while wrk ran
    seconds: float = 0.0
    cpu_s: float | None = None  # CPU time of the server's processes while wrk ran
    rates: list[float] = field(default_factory=list)  # each slice's rps, in order
    wrapped: bool = False  # a `unique` scenario ran out of fresh bodies (some repeated)

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.cpu_s is None or self.successes == 0:
            return None
        return self.cpu_s * 1000 / self.successes


def secret_bodies(site: Site) -> list[str]:
    return [
        urlencode({"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
        for cid, secret in site.clients
    ]


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _assertion_bodies(pairs: list[tuple[str, str]]) -> list[str]:
    return [
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": cid,
                "client_assertion_type": JWT_BEARER,
                "client_assertion": token,
            }
        )
        for cid, token in pairs
    ]


def assertion_bodies(site: Site) -> list[str]:
    return _assertion_bodies(site.assertions)


def expression_bodies(site: Site) -> list[str]:
    return _assertion_bodies(site.expression_assertions)


def unique_assertion_bodies(site: Site, count: int) -> list[str]:
    """`count` tokens never presented before, from the identity provider, for the federated
    credentials in turn: each its own `jti` (and signature), as a workload asking for a new
    token every time would send. Replay protection is as the server is configured
    (FEDERATION_ASSERTION_REPLAY_PROTECTION, off unless set in the environment)."""
    provider = site.identity_provider
    pairs = []
    for n in range(count):
        client_id, shape, subject = site.credentials[n % len(site.credentials)]
        claims = {"sub": subject, "jti": str(uuid.uuid4())}
        pairs.append((client_id, provider.mint(shape, claims=claims, lifetime=3600)))
    return _assertion_bodies(pairs)


# Scenarios whose tokens come from the identity provider (warmed until it is not called).
PROVIDER_BODIES = (assertion_bodies, expression_bodies, unique_assertion_bodies)


def peer_secret_bodies(site: Site) -> list[str]:
    return [
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": cid,
                "client_secret": secret,
                "scope": PEER_SCOPE,
            }
        )
        for cid, secret in site.clients
    ]


def peer_assertion_bodies(site: Site, count: int) -> list[str]:
    """`count` private_key_jwt assertions (RFC 7523 §3, RS256 by the bench's key) for the
    peer's client, each with its own `jti`: the peer refuses one it has seen."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "RS256", "kid": site.jwt_key.kid, "typ": "JWT"}).encode())
    bodies = []
    for _ in range(count):
        claims = {
            "iss": site.jwt_client_id,
            "sub": site.jwt_client_id,
            "aud": site.base_url,  # the peer's issuer identifier
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 3600,
        }
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
        signature = site.jwt_key.private_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        token = f"{signing_input}.{b64url(signature)}"
        bodies.append(
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": site.jwt_client_id,
                    "client_assertion_type": JWT_BEARER,
                    "client_assertion": token,
                    "scope": PEER_SCOPE,
                }
            )
        )
    return bodies


# --- processes ---------------------------------------------------------------------------


def run(args: list[str], *, env: dict[str, str], cwd: Path) -> str:
    """Runs a setup command to completion; its stdout, or BenchError with its stderr."""
    result = subprocess.run(  # noqa: S603  (our own commands, no shell)
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"`{' '.join(args[1:])}` failed:\n{result.stderr.strip()}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(wsgi_module: str, port: int) -> list:
    """The project's own server (identity_server.serve: granian, one thread per worker, as
    `make run` and production run it); any other WSGI module through granian with the same
    settings, so that both sides are served alike."""
    if wsgi_module == "identity_server.wsgi":
        server = [sys.executable, "-m", "identity_server.serve"]
        return [*server, "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
    return [
        VENV_BIN / "granian",
        *("--interface", "wsgi", "--blocking-threads", "1", "--no-access-log"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)),
        f"{wsgi_module}:application",
    ]


@contextmanager
def wsgi_server(wsgi_module: str, *, env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """Serves `wsgi_module` on a free loopback port (access log off); yields its base URL."""
    port = free_port()
    with log.open("w") as log_file:
        server = subprocess.Popen(  # noqa: S603
            server_command(wsgi_module, port),
            env=env,
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise BenchError(f"the server of {wsgi_module} exited:\n{tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"the server of {wsgi_module} did not listen:\n{tail(log)}"
                    ) from error
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (the server and its workers); SIGKILL if it lingers."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- the two projects ----------------------------------------------------------------------


# Stable across runs: the project encrypts its token signing key with SECRET_KEY, and a
# DATABASE_URL database keeps that key from one run to the next. Only for benchmark databases.
BENCH_SECRET_KEY = "bench-only-secret-key-never-used-for-a-deployment-0123456789abcdef"  # noqa: S105


def project_env(tmp: Path) -> dict[str, str]:
    """Production settings (README, Production) on loopback; the database and cache as given."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "identity_server.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or BENCH_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        # The checks refuse a plain-http issuer outside DEBUG; nothing fetches it here.
        "IDENTITY_ISSUER": "https://127.0.0.1/identity_",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'project.sqlite3'}",
    }


# Federated credentials through the real service, which fetches each issuer as an admin's
# request would (so the provider must be allowed: FEDERATION_OUTBOUND_ALLOWLIST).
CREATE_CREDENTIALS = """\
import json, os
from federation.models import ExternalApp
from federation.services import federated_credential_create
from tenants.services import Actor

for item in json.loads(os.environ["BENCH_CREDENTIALS"]):
    app = ExternalApp.objects.get(client__client_id=item.pop("client_id"))
    federated_credential_create(app=app, actor=Actor.system("bench"), **item)
"""


def federated_credentials(
    provider: IdentityProvider, clients: list[tuple[str, str]], run_id: str
) -> tuple[list[dict], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """For every client and provider shape, a credential with its own subject, and a token
    (valid an hour) that matches it: what to create, (client_id, JWT) pairs, and
    (client_id, shape, subject) to mint more."""
    credentials, assertions, subjects = [], [], []
    for n, (client_id, _secret) in enumerate(clients):
        for shape in SHAPES:
            subject, audience = provider.subject_and_audience(shape)
            subject = f"{subject}-bench-{n}"
            credentials.append(
                {
                    "client_id": client_id,
                    "name": f"bench-{run_id}-{shape}",
                    "issuer": provider.issuer(shape),
                    "subject": subject,
                    "audience": audience,
                }
            )
            token = provider.mint(shape, claims={"sub": subject}, lifetime=3600)
            assertions.append((client_id, token))
            subjects.append((client_id, shape, subject))
    return credentials, assertions, subjects


def expression_credentials(
    provider: IdentityProvider, client_id: str, run_id: str
) -> tuple[list[dict], list[tuple[str, str]]]:
    """EXPRESSION_CREDENTIALS expression credentials of the GitHub issuer for `client_id`,
    each for its own release line of the repository and its owner; the last one created is
    the one the tokens match."""
    subject, audience = provider.subject_and_audience("github")
    repository = subject.split(":ref:")[0]
    owner_id = provider.default_claims("github", now=0, lifetime=0)["repository_owner_id"]
    lines = [f"line-{n}" for n in range(EXPRESSION_CREDENTIALS - 1)] + ["release"]
    credentials = [
        {
            "client_id": client_id,
            "name": f"bench-{run_id}-{line}",
            "issuer": provider.issuer("github"),
            "audience": audience,
            "claims_matching_expression": (
                f"claims['sub'] matches '{repository}:ref:refs/heads/{line}/*' "
                f"and claims['repository_owner_id'] eq '{owner_id}'"
            ),
        }
        for line in lines
    ]
    assertions = [
        (
            client_id,
            provider.mint(
                "github", claims={"sub": f"{repository}:ref:refs/heads/release/{n}"}, lifetime=3600
            ),
        )
        for n in range(16)
    ]
    return credentials, assertions


@contextmanager
def serve_project(tmp: Path, signing_algorithm: str = "RS256") -> Iterator[Site]:
    """This project, its clients and credentials; IDENTITY_SIGNING_ALGORITHM as given."""
    provider = IdentityProvider().start()
    try:
        env = {
            **project_env(tmp),
            **provider.env,
            "IDENTITY_SIGNING_ALGORITHM": signing_algorithm,
            # The provider's GitHub issuer is GitHub's family: expressions may use its claims.
            "FEDERATION_GITHUB_ISSUERS": provider.issuer("github"),
        }
        manage = [sys.executable, "manage.py"]
        progress("project: migrate, seed_demo, create_client, federated credentials")
        run([*manage, "migrate", "--noinput"], env=env, cwd=PROJECT_DIR)
        run([*manage, "seed_demo"], env=env, cwd=PROJECT_DIR)
        # Unique names: a PostgreSQL database keeps the clients of earlier runs.
        run_id = secrets.token_hex(4)
        create = [*manage, "create_client", "--org", "demo", "--kind", "external_app"]
        clients = []
        for n in range(CLIENTS):
            name = f"bench-{run_id}-{n}"
            args = [*create, "--name", name, "--scopes", "OR.Machines", "--json"]
            out = run(args, env=env, cwd=PROJECT_DIR)
            created = json.loads(out.strip().splitlines()[-1])
            clients.append((created["client_id"], created["client_secret"]))
        credentials, assertions, subjects = federated_credentials(provider, clients, run_id)
        args = [*create, "--name", f"bench-{run_id}-expressions", "--scopes", "OR.Machines"]
        out = run([*args, "--json"], env=env, cwd=PROJECT_DIR)
        expression_client = json.loads(out.strip().splitlines()[-1])["client_id"]
        more, expression_assertions = expression_credentials(provider, expression_client, run_id)
        run(
            [*manage, "shell", "-c", CREATE_CREDENTIALS],
            env={**env, "BENCH_CREDENTIALS": json.dumps(credentials + more)},
            cwd=PROJECT_DIR,
        )
        log = tmp / f"project-{signing_algorithm}.log"
        with wsgi_server("identity_server.wsgi", env=env, cwd=PROJECT_DIR, log=log) as url:
            yield Site(
                url,
                clients,
                log,
                assertions=assertions,
                identity_provider=provider,
                expression_assertions=expression_assertions,
                credentials=subjects,
            )
    finally:
        provider.stop()


@contextmanager
def serve_floor(tmp: Path) -> Iterator[Site]:
    """bench/floor.py (the `python_floor` yardstick) under the same server as ours, with
    one client of its own."""
    client = (f"floor-{secrets.token_hex(4)}", secrets.token_urlsafe(32))
    env = {
        **os.environ,
        "BENCH_FLOOR_CLIENT_ID": client[0],
        "BENCH_FLOOR_CLIENT_SECRET": client[1],
    }
    log = tmp / "floor.log"
    with wsgi_server("bench.floor", env=env, cwd=PROJECT_DIR, log=log) as url:
        yield Site(url, [client], log)


STOCK_SETTINGS = """\
from pathlib import Path

SECRET_KEY = {secret_key!r}
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"]
ROOT_URLCONF = "stock_site.urls"
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(__file__).resolve().parent.parent / "stock.sqlite3",
    }}
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

STOCK_URLS = """\
from django.urls import include, path

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]
"""

STOCK_WSGI = """\
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
"""

# Saving an Application hashes its client secret (hash_client_secret defaults to True).
STOCK_CREATE_APPLICATIONS = """\
import json, os
from oauth2_provider.models import Application

for client_id, client_secret in json.loads(os.environ["BENCH_CLIENTS"]):
    Application.objects.create(
        name=client_id, client_id=client_id, client_secret=client_secret,
        client_type="confidential", authorization_grant_type="client-credentials",
    )
"""


@contextmanager
def serve_stock_dot(tmp: Path) -> Iterator[Site]:
    """A minimal django-oauth-toolkit project with every default, on SQLite."""
    site_dir = tmp / "stock"
    package = site_dir / "stock_site"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        STOCK_SETTINGS.format(secret_key=secrets.token_urlsafe(64))
    )
    (package / "urls.py").write_text(STOCK_URLS)
    (package / "wsgi.py").write_text(STOCK_WSGI)
    clients = [(f"bench-{n}", secrets.token_urlsafe(32)) for n in range(CLIENTS)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "stock_site.settings",
        "PYTHONPATH": str(site_dir),
        "BENCH_CLIENTS": json.dumps(clients),
    }
    progress("stock django-oauth-toolkit: migrate, create applications")
    django = [sys.executable, "-m", "django"]
    run([*django, "migrate", "--noinput"], env=env, cwd=site_dir)
    run([*django, "shell", "-c", STOCK_CREATE_APPLICATIONS], env=env, cwd=site_dir)
    log = tmp / "stock.log"
    with wsgi_server("stock_site.wsgi", env=env, cwd=site_dir, log=log) as url:
        yield Site(url, clients, log)


def peer_install() -> str | None:
    """Makes the peer runnable: None, or what is missing (said to the user, and the peer's
    scenarios are left out). `npm ci` into bench/peer/node_modules when that is older than
    the lock file, so once per lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return "node is not installed (Node.js 20 or later, e.g. `sudo apt-get install nodejs npm`)"
    if npm is None:
        return "npm is not installed (e.g. `sudo apt-get install npm`)"
    version = subprocess.run(  # noqa: S603
        [node, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < 20:
        return (
            f"node {version or '(unknown version)'} is too old: oidc-provider 9 needs 20 or later"
        )
    lock = PEER_DIR / "package-lock.json"
    installed = PEER_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        progress("peer: npm ci (bench/peer/node_modules, once per package-lock.json)")
        try:
            result = subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=PEER_DIR,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return "`npm ci` in bench/peer did not finish in 300 s"
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()[-15:]
            return "`npm ci` in bench/peer failed:\n" + "\n".join(lines)
    return None


def peer_versions() -> dict[str, str]:
    versions = {}
    with suppress(OSError, ValueError, subprocess.SubprocessError):
        node = subprocess.run(
            ["node", "--version"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        versions["node"] = node.stdout.strip()
        package = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
        versions["oidc_provider"] = json.loads(package.read_text())["version"]
    return versions


@contextmanager
def serve_peer(tmp: Path, *, workers: int, client_key: IdpKey) -> Iterator[Site]:
    """oidc-provider (bench/peer/server.mjs) on a free loopback port, `workers` processes
    (node:cluster when 2), NODE_ENV=production, signing RS256: one client_secret_post and
    one private_key_jwt client whose key is `client_key`."""
    node = shutil.which("node")
    name = "peer" if workers == 1 else "peer_cluster"
    port = free_port()
    secret_client = ("bench-secret", secrets.token_urlsafe(32))
    jwk = {**client_key.public_jwk}
    config = {
        "issuer": f"http://127.0.0.1:{port}",
        "port": port,
        "workers": workers,
        "algorithm": "RS256",
        "resource": PEER_RESOURCE,
        "scope": PEER_SCOPE,
        "secret_client": {"client_id": secret_client[0], "client_secret": secret_client[1]},
        "jwt_client": {"client_id": "bench-private-key-jwt", "jwks": {"keys": [jwk]}},
    }
    config_file = tmp / f"{name}.json"
    config_file.write_text(json.dumps(config))
    log = tmp / f"{name}.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(  # noqa: S603
            [node, str(PEER_DIR / "server.mjs"), str(config_file)],
            env={**os.environ, "NODE_ENV": "production"},
            cwd=PEER_DIR,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: CPU time and stop() cover its workers
        )
    try:
        deadline = time.monotonic() + 60
        while "peer: listening" not in log.read_text(errors="replace"):
            if server.poll() is not None:
                raise BenchError(f"the peer ({name}) exited:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"the peer ({name}) did not listen:\n{tail(log)}")
            time.sleep(0.1)
        yield Site(
            config["issuer"],
            [secret_client],
            log,
            session=server.pid,
            jwt_client_id=config["jwt_client"]["client_id"],
            jwt_key=client_key,
        )
    finally:
        stop(server)


def start_peer(stack: ExitStack, tmp: Path, workers: int, client_key: IdpKey) -> Site:
    """serve_peer in `stack`, tried a second time (on another port) if the first did not
    come up: a busy shared machine, or a port taken between free_port() and node's bind."""
    try:
        return stack.enter_context(serve_peer(tmp, workers=workers, client_key=client_key))
    except BenchError as error:
        progress(f"{error}\nstarting it again")
        return stack.enter_context(serve_peer(tmp, workers=workers, client_key=client_key))


# --- the scenarios -------------------------------------------------------------------------

TOKEN_PATH = "/identity_/connect/token"  # noqa: S105  (a path)
PEER_TOKEN_PATH = "/token"  # noqa: S105

SECRET = Scenario("secret", TOKEN_PATH, secret_bodies, CONNECTIONS)
ASSERTION = Scenario("assertion", TOKEN_PATH, assertion_bodies, CONNECTIONS)
EXPRESSION = Scenario("expression", TOKEN_PATH, expression_bodies, CONNECTIONS)
ASSERTION_UNIQUE = Scenario(
    "assertion_unique", TOKEN_PATH, unique_assertion_bodies, CONNECTIONS, unique=True
)
PEER_SECRET = Scenario("peer_secret", PEER_TOKEN_PATH, peer_secret_bodies, CONNECTIONS)
PEER_CLUSTER_SECRET = Scenario(
    "peer_cluster_secret", PEER_TOKEN_PATH, peer_secret_bodies, CONNECTIONS
)
PEER_PRIVATE_KEY_JWT = Scenario(
    "peer_private_key_jwt", PEER_TOKEN_PATH, peer_assertion_bodies, CONNECTIONS, unique=True
)
PEER_CLUSTER_PRIVATE_KEY_JWT = Scenario(
    "peer_cluster_private_key_jwt",
    PEER_TOKEN_PATH,
    peer_assertion_bodies,
    CONNECTIONS,
    unique=True,
)
PYTHON_FLOOR = Scenario("python_floor", TOKEN_PATH, secret_bodies, CONNECTIONS)
STOCK_DOT = Scenario("stock_dot", "/o/token/", secret_bodies, STOCK_CONNECTIONS, timeout_s=10)

# The servers' scenarios measured together, as (scenario, server): "ours", "peer" (one
# process), "peer_cluster" (PEER_WORKERS). Every peer scenario sits beside the scenario of
# ours it is compared with, so that alternate rounds (ABBA...) take them one after the other.
RS256_PLAN = [
    (SECRET, "ours"),
    (PEER_CLUSTER_SECRET, "peer_cluster"),
    (PEER_SECRET, "peer"),
    (PYTHON_FLOOR, "floor"),
    (EXPRESSION, "ours"),
    (ASSERTION, "ours"),
    (PEER_CLUSTER_PRIVATE_KEY_JWT, "peer_cluster"),
    (ASSERTION_UNIQUE, "ours"),
    (PEER_PRIVATE_KEY_JWT, "peer"),
]
# Ours with IDENTITY_SIGNING_ALGORITHM=ES256, against the peer's cluster (RS256) again.
ES256_PLAN = [
    (SECRET, "ours"),
    (PEER_CLUSTER_SECRET, "peer_cluster"),
    (ASSERTION, "ours"),
    (PEER_CLUSTER_PRIVATE_KEY_JWT, "peer_cluster"),
    (ASSERTION_UNIQUE, "ours"),
]
# (ours, the peer's, the ratio's name in BENCH_JSON's `ratios`)
PEER_PAIRS = [
    ("secret", "peer_cluster_secret", "secret_vs_peer_cluster"),
    ("assertion", "peer_cluster_private_key_jwt", "assertion_vs_peer_cluster"),
    ("assertion_unique", "peer_cluster_private_key_jwt", "assertion_unique_vs_peer_cluster"),
    ("secret", "peer_secret", "secret_vs_peer"),
    ("assertion", "peer_private_key_jwt", "assertion_vs_peer"),
    ("assertion_unique", "peer_private_key_jwt", "assertion_unique_vs_peer"),
    ("python_floor", "peer_cluster_secret", "python_floor_vs_peer_cluster"),
]
# Ours whose p99 has a target.
P99_SCENARIOS = ("secret", "assertion", "assertion_unique")


# --- measuring -----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str]:
    """/proc/<pid>/stat after the command name: fields 3 (state) onwards (proc(5))."""
    return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()


def listening_session(base_url: str) -> int | None:
    """The session id of the process listening on `base_url`'s port, found through
    /proc/net/tcp and the processes' descriptors; None when not found or when it is this
    script's own session (then its CPU time would include wrk's)."""
    port = int(base_url.rsplit(":", 1)[1])
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    sockets.add(f"socket:[{fields[9]}]")
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            for descriptor in (process / "fd").iterdir():
                if os.readlink(descriptor) in sockets:
                    session = int(_stat_fields(process.name)[3])
                    return None if session == os.getsid(0) else session
    return None


def session_cpu_seconds(session: int) -> float:
    """utime + stime of every process of `session` (the server and its workers), with the
    cutime + cstime of children they have reaped (a worker that was replaced)."""
    ticks = 0
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(process.name)
            if int(fields[3]) == session:
                ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


WARM_UP_BODIES = 16  # fresh bodies to warm a `unique` scenario up with


def warm_up(url: str, bodies: list[str], connections: int, log: Path) -> None:
    """A few concurrent requests, so that every worker has loaded and connected; all must
    answer 200 with an access token, or the measurement would be of errors."""

    def post(body: str) -> requests.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return requests.post(url, data=body, headers=headers, timeout=30)

    count = max(2 * WORKERS, min(connections, 8), len(bodies))
    with ThreadPoolExecutor(min(count, 8)) as pool:
        responses = list(pool.map(post, (bodies[i % len(bodies)] for i in range(count))))
    for response in responses:
        if response.status_code != 200 or "access_token" not in response.text:
            raise BenchError(
                f"warm-up POST {url} answered {response.status_code}: {response.text[:500]}\n"
                f"server log:\n{tail(log)}"
            )


def warm_up_until_quiet(url: str, bodies: list[str], site: Site, connections: int) -> None:
    """Warm-up rounds until one makes no request to the identity provider: each worker has
    every issuer's keys (with the in-process cache, each worker fetches its own)."""
    provider = site.identity_provider
    for _ in range(WARM_UP_ROUNDS):
        before = provider.requests_served
        warm_up(url, bodies, connections, site.log)
        if provider.requests_served == before:
            return
    raise BenchError(f"the identity provider was still called after {WARM_UP_ROUNDS} rounds")


def prepare(scenario: Scenario, site: Site, tmp: Path) -> Path:
    """Writes the scenario's bodies for wrk (for a `unique` one, measure_interleaved writes
    new ones before each slice) and warms the server up with them."""
    url = site.base_url + scenario.path
    bodies = scenario.bodies(site, WARM_UP_BODIES) if scenario.unique else scenario.bodies(site)
    bodies_file = tmp / f"{scenario.name}.bodies"
    bodies_file.write_text("\n".join(bodies) + "\n")
    progress(f"{scenario.name}: warm-up")
    if scenario.bodies in PROVIDER_BODIES:
        warm_up_until_quiet(url, bodies, site, scenario.connections)
    else:
        warm_up(url, bodies, scenario.connections, site.log)
    if site.session is None:
        site.session = listening_session(site.base_url)
    return bodies_file


def measure(
    wrk: str,
    scenario: Scenario,
    site: Site,
    bodies_file: Path,
    seconds: int,
) -> Result:
    """One wrk run of `seconds`; `outbound` counts the identity provider's requests meanwhile,
    `cpu_s` the server's CPU time; `wrapped` when a `unique` scenario sent a body twice
    (bench/token.lua counts them)."""
    url = site.base_url + scenario.path
    threads = min(2, scenario.connections)
    load = [f"-t{threads}", f"-c{scenario.connections}", f"-d{seconds}s"]
    options = [f"--timeout={scenario.timeout_s}s", "--latency", "-s", str(TOKEN_SCRIPT)]
    args = [wrk, *load, *options, url, "--", str(bodies_file), str(threads)]
    provider = site.identity_provider if scenario.bodies in PROVIDER_BODIES else None
    served_before = provider.requests_served if provider is not None else 0
    cpu_before = session_cpu_seconds(site.session) if site.session is not None else None
    output = run(args, env=dict(os.environ), cwd=PROJECT_DIR)
    cpu_after = session_cpu_seconds(site.session) if site.session is not None else None
    outbound = provider.requests_served - served_before if provider is not None else None
    line = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if line is None:
        raise BenchError(f"wrk printed no BENCH line:\n{output}")
    figures = {k: int(v) for k, v in (pair.split("=") for pair in line.group(1).split())}
    successes = figures["requests"] - figures["status"]
    rps = successes / (figures["duration_us"] / 1e6)
    return Result(
        rps=rps,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=sum(figures[k] for k in ("status", "connect", "read", "write", "timeout")),
        successes=successes,
        outbound=outbound,
        seconds=figures["duration_us"] / 1e6,
        cpu_s=cpu_after - cpu_before if cpu_before is not None else None,
        rates=[rps],
        wrapped=scenario.unique and figures["repeated"] > 0,
    )


def combined(slices: list[Result]) -> Result:
    """The slices of one scenario as one result: the rate over their whole time, the median
    of their medians, the worst of their 99th percentiles, the CPU time summed."""
    seconds = sum(r.seconds for r in slices)
    successes = sum(r.successes for r in slices)
    outbound = [r.outbound for r in slices if r.outbound is not None]
    cpu = [r.cpu_s for r in slices]
    return Result(
        rps=successes / seconds,
        p50_ms=statistics.median(r.p50_ms for r in slices),
        p99_ms=max(r.p99_ms for r in slices),
        errors=sum(r.errors for r in slices),
        successes=successes,
        outbound=sum(outbound) if outbound else None,
        seconds=seconds,
        cpu_s=None if None in cpu else sum(cpu),
        rates=[r.rps for r in slices],
        wrapped=any(r.wrapped for r in slices),
    )


def fresh_bodies(scenario: Scenario, site: Site, count: int) -> list[str]:
    """`count` new bodies of a `unique` scenario, signed on every core (the signatures, most
    of the work, run outside the GIL), between slices."""
    parts = os.cpu_count() or 1
    sizes = [count // parts + (1 if n < count % parts else 0) for n in range(parts)]
    with ThreadPoolExecutor(parts) as pool:
        chunks = pool.map(lambda size: scenario.bodies(site, size), sizes)
        return [body for chunk in chunks for body in chunk]


def measure_interleaved(wrk: str, plan: list[tuple[Scenario, Site]], tmp: Path) -> dict:
    """Each scenario for DURATION seconds in all, in ROUNDS slices taken in turn (ABBA...),
    so that a change in the machine's other load weighs on each alike. A `unique` scenario
    gets new bodies before each slice (UNIQUE_MARGIN, UNIQUE_MIN_RATE)."""
    bodies = {scenario.name: prepare(scenario, site, tmp) for scenario, site in plan}
    rounds = ROUNDS if len(plan) > 1 else 1
    seconds = max(1, round(DURATION / rounds))
    progress(f"{', '.join(bodies)}: wrk, {rounds} slices of {seconds} s each")
    slices: dict[str, list[Result]] = {scenario.name: [] for scenario, _ in plan}
    for n in range(rounds):
        for scenario, site in plan if n % 2 == 0 else plan[::-1]:
            same_server = (r.rps for other, at in plan if at is site for r in slices[other.name])
            rate = max([UNIQUE_MIN_RATE, *same_server])
            for attempt in range(UNIQUE_ATTEMPTS if scenario.unique else 1):
                if scenario.unique:
                    count = math.ceil(rate * seconds * UNIQUE_MARGIN)
                    fresh = fresh_bodies(scenario, site, count)
                    bodies[scenario.name].write_text("\n".join(fresh) + "\n")
                result = measure(wrk, scenario, site, bodies[scenario.name], seconds)
                cpu = result.cpu_ms_per_request
                progress(
                    f"  {scenario.name}: {result.rps:.0f} requests/s"
                    + (f", {cpu:.2f} ms CPU each" if cpu is not None else "")
                    + (" (ran out of fresh bodies)" if result.wrapped else "")
                )
                if not result.wrapped:
                    break
                if attempt + 1 < UNIQUE_ATTEMPTS:
                    # At least twice the last guess, and above every request it made
                    # (repeats included: cheaper than fresh ones).
                    made = (result.successes + result.errors) / result.seconds
                    rate = max(2 * rate, made)
                    progress(f"  {scenario.name}: this slice again, with more fresh bodies")
            slices[scenario.name].append(result)
    return {name: combined(results) for name, results in slices.items()}


def token_algorithm(site: Site) -> str:
    """The `alg` of an access token the site issues for its first client's secret."""
    response = requests.post(
        site.base_url + TOKEN_PATH,
        data=secret_bodies(site)[0],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    token = response.json()["access_token"]
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0 and shutil.which("apt-get"):
        progress("wrk is missing; apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)  # noqa: S607
        wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: `sudo apt-get install wrk` (Debian, Ubuntu).")
    return wrk


def machine(scenarios: list[Scenario], peer: dict) -> dict:
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = model.group(1) if model else cpu
    database_url = os.environ.get("DATABASE_URL", "")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "cache": "redis" if os.environ.get("REDIS_URL") else "locmem",
        "stock_dot_database": "sqlite",
        "server_workers": WORKERS,
        "duration_s": DURATION,
        "rounds": ROUNDS,
        "connections": {s.name: s.connections for s in scenarios},
        "peer": peer,
    }


def print_table(results: dict[str, Result]) -> None:
    print(
        f"{'scenario':<30}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"
        f"{'errors':>8}{'outbound':>10}"
    )
    for name, r in results.items():
        outbound = "" if r.outbound is None else str(r.outbound)
        cpu = "" if r.cpu_ms_per_request is None else f"{r.cpu_ms_per_request:.2f}"
        print(
            f"{name:<30}{r.rps:>9.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{cpu:>12}"
            f"{r.errors:>8}{outbound:>10}"
        )


def peer_ratios(results: dict[str, Result]) -> tuple[dict, dict]:
    """Prints ours against the peer, pair by pair: the ratio of the rates over all slices,
    the spread of the rounds' ratios (min, median, max) and, for the peer's cluster, the
    target. Returns the ratios and the spreads (None / absent where a side is missing)."""
    ratios, spreads = {}, {}
    for ours, peer, key in PEER_PAIRS:
        if ours not in results or peer not in results or results[peer].rps == 0:
            ratios[key] = None
            continue
        ratios[key] = results[ours].rps / results[peer].rps
        rounds = [a / b for a, b in zip(results[ours].rates, results[peer].rates, strict=True) if b]
        spreads[key] = [min(rounds), statistics.median(rounds), max(rounds)]
        target = PEER_TARGETS.get(key)
        met = "" if target is None else (" met" if ratios[key] >= target else " MISSED")
        print(
            f"ratio {ours}/{peer} = {ratios[key]:.2f}×"  # noqa: RUF001
            f" (rounds {spreads[key][0]:.2f}–{spreads[key][2]:.2f}, "  # noqa: RUF001
            f"median {spreads[key][1]:.2f})"
            + (f"; target {target:.2f}×:{met}" if target is not None else "")  # noqa: RUF001
        )
    for name in P99_SCENARIOS:
        if name in results:
            p99 = results[name].p99_ms
            met = "met" if p99 < P99_TARGET_MS else "MISSED"
            print(f"p99 {name} = {p99:.1f} ms (target < {P99_TARGET_MS:.0f} ms: {met})")
    return ratios, spreads


def report(results: dict[str, Result]) -> dict[str, float | None]:
    """Prints the table and the ratios; returns them (None where a rate is missing)."""
    print()
    print_table(results)

    def ratio(a: str, b: str) -> float | None:
        if a not in results or b not in results or results[b].rps == 0:
            return None
        return results[a].rps / results[b].rps

    ratios = {"secret/stock_dot": ratio("secret", "stock_dot")}
    ratios["assertion/secret"] = ratio("assertion", "secret")
    ratios["expression/assertion"] = ratio("expression", "assertion")
    if ratios["secret/stock_dot"] is not None:
        print(f"ratio secret/stock_dot = {ratios['secret/stock_dot']:.0f}×")  # noqa: RUF001
    if (assertion := ratios["assertion/secret"]) is not None:
        met = "met" if assertion >= ASSERTION_TARGET else "MISSED"
        print(
            f"ratio assertion/secret = {assertion:.1%} "
            f"(target {ASSERTION_TARGET:.0%}: {met}); outbound requests while measured: "
            f"{results['assertion'].outbound}"
        )
    if (expression := ratios["expression/assertion"]) is not None:
        met = "met" if expression >= EXPRESSION_TARGET else "MISSED"
        print(
            f"ratio expression/assertion = {expression:.1%} "
            f"(target {EXPRESSION_TARGET:.0%}: {met}); {EXPRESSION_CREDENTIALS} expression "
            f"credentials, the matching one last; outbound requests while measured: "
            f"{results['expression'].outbound}"
        )
    return ratios


STARTED = time.monotonic()


def progress(message: str) -> None:
    """A line on stderr, after the seconds since the bench started."""
    print(f"bench {time.monotonic() - STARTED:4.0f}s: {message}", file=sys.stderr, flush=True)


def figures(results: dict[str, Result]) -> dict:
    return {
        name: {
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 2),
            "p99_ms": round(r.p99_ms, 2),
            "cpu_ms_per_request": (
                round(r.cpu_ms_per_request, 3) if r.cpu_ms_per_request is not None else None
            ),
            "errors": r.errors,
            **({"outbound": r.outbound} if r.outbound is not None else {}),
        }
        for name, r in results.items()
    }


def rounded(ratios: dict[str, float | None]) -> dict[str, float | None]:
    return {k: round(v, 3) if v is not None else None for k, v in ratios.items()}


def main() -> int:
    # A plain `kill` of this script still stops the servers (the `finally` blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = find_wrk()
    results: dict[str, Result] = {}
    es256: dict[str, Result] = {}
    es256_alg = None
    peer_problem = peer_install()
    if peer_problem:
        progress(f"the peer's scenarios are LEFT OUT: {peer_problem}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        tmp = Path(tmp_name)
        with ExitStack() as peers:
            sites: dict[str, Site] = {"floor": peers.enter_context(serve_floor(tmp))}
            if not peer_problem:
                client_key = IdpKey.generate()
                try:
                    for name, workers in (("peer", 1), ("peer_cluster", PEER_WORKERS)):
                        progress(f"{name}: oidc-provider, {workers} process(es)")
                        sites[name] = start_peer(peers, tmp, workers, client_key)
                except BenchError as error:
                    peer_problem = str(error)
                    progress(f"the peer's scenarios are LEFT OUT: {peer_problem}")
                    peers.close()
                    sites = {"floor": peers.enter_context(serve_floor(tmp))}
            for algorithm, plan in (("RS256", RS256_PLAN), ("ES256", ES256_PLAN)):
                with serve_project(tmp, algorithm) as site:
                    sites["ours"] = site
                    chosen = [(s, sites[where]) for s, where in plan if where in sites]
                    progress(f"ours with IDENTITY_SIGNING_ALGORITHM={algorithm}")
                    measured = measure_interleaved(wrk, chosen, tmp)
                    if algorithm == "RS256":
                        results |= measured
                    else:
                        es256 = measured
                        es256_alg = token_algorithm(site)
        with serve_stock_dot(tmp) as site:
            results |= measure_interleaved(wrk, [(STOCK_DOT, site)], tmp)
    ratios = report(results)
    if peer_problem:
        print(f"the peer (oidc-provider) was NOT measured: {peer_problem}")
    peer, spreads = peer_ratios(results)
    print(f"\nours with IDENTITY_SIGNING_ALGORITHM=ES256 (its tokens' alg: {es256_alg})")
    print_table(es256)
    es256_peer, es256_spreads = peer_ratios(es256)
    if es256_alg != "ES256":
        progress(f"ours signed with {es256_alg} when asked for ES256")
    if path := os.environ.get("BENCH_JSON"):
        peer_meta = {"available": not peer_problem, **peer_versions()}
        if peer_problem:
            peer_meta["missing"] = peer_problem
        else:
            peer_meta |= {"cluster_workers": PEER_WORKERS, "algorithm": "RS256"}
        every = [s for s, _ in RS256_PLAN + ES256_PLAN] + [STOCK_DOT]
        document = {
            **figures(results),
            "ratio": rounded(ratios)["secret/stock_dot"],
            "assertion_ratio": rounded(ratios)["assertion/secret"],
            "expression_ratio": rounded(ratios)["expression/assertion"],
            "ratios": rounded(peer),
            "ratios_per_round": {k: [round(v, 3) for v in s] for k, s in spreads.items()},
            "es256": {
                "alg": es256_alg,
                **figures(es256),
                "ratios": rounded(es256_peer),
                "ratios_per_round": {k: [round(v, 3) for v in s] for k, s in es256_spreads.items()},
            },
            "meta": machine(list({s.name: s for s in every}.values()), peer_meta),
        }
        Path(path).write_text(json.dumps(document, indent=2) + "\n")
    failed = False
    for label, measured in (("", results), ("ES256 ", es256)):
        for name in ("assertion", "expression", "assertion_unique"):
            if measured.get(name) and measured[name].outbound:
                progress(f"the {label}{name} path called the identity provider")
                failed = True
        wrapped = [name for name, r in measured.items() if r.wrapped]
        if wrapped:
            progress(f"{label}ran out of fresh bodies (raise UNIQUE_MARGIN): {', '.join(wrapped)}")
            failed = True
        empty = [name for name, r in measured.items() if r.successes == 0]
        if empty:
            progress(f"{label}no successful request in: {', '.join(empty)}")
            failed = True
    if failed:
        return 1
    if peer_problem:
        progress(f"done WITHOUT the peer (exit {EXIT_WITHOUT_PEER}): {peer_problem}")
        return EXIT_WITHOUT_PEER
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        progress(str(error))
        sys.exit(1)
