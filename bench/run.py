"""`make bench`: token endpoint throughput, ours against stock django-oauth-toolkit.

Measures client-credentials token requests per second, p50 and p99 latency and errors, for

- `secret`: this project served as production would (gunicorn, DEBUG off; PostgreSQL and
  Redis when DATABASE_URL / REDIS_URL are set, else a throwaway SQLite file and the
  in-process cache), POSTing client id and secret to /identity_/connect/token;
- `assertion`: the same server, POSTing a client id and a JWT client assertion (RFC 7523)
  from the test identity provider (tests/idp.py, HTTPS on loopback, run by this script):
  each of the four applications has a federated credential for each of the provider's four
  issuers (GitHub, Entra, GCP and Kubernetes shapes), each with its own subject, so 16
  distinct credentials are cycled. Measured warm: the warm-up repeats until a round makes
  no request to the provider, and the provider's request counter must not move while wrk
  runs (`outbound`, reported);
- `expression`: the same server and provider, one more application with 20 federated
  credentials of the GitHub issuer, each a claims-matching expression (SPEC §11: a branch
  pattern and the repository owner's id), the matching one created last, so the token path
  tries the 19 others first; tokens for 16 branches that it matches are cycled. Its target
  is 95% of the `assertion` rate in the same run;
- `stock_dot`: a throwaway minimal django-oauth-toolkit project built here in a temporary
  folder, with its defaults: the client secret is stored hashed with Django's password
  hasher (PBKDF2), so every token request pays for one password check.

Both run with the same gunicorn command on loopback and are driven by `wrk` for a fixed
time with bench/token.lua, which cycles through request bodies. The ratio of the two rates
is what the comparison is about; absolute numbers depend on the machine (listed in the JSON).
The assertion path's target is 90% of the secret path's rate in the same run.

`rps` counts successful responses only (status < 400), so a scenario that fails fast cannot
look fast. Latency percentiles cover every response.

The scenarios of one server run in alternating slices (BENCH_ROUNDS, 5: secret, assertion,
assertion, secret...), so that the other load of a shared machine weighs on both alike; a
scenario's rate is over all its slices, its p50 the median of theirs, its p99 the worst.

Environment: BENCH_DURATION (seconds per scenario, 10), BENCH_CONNECTIONS (for ours, 16),
BENCH_JSON (a path: also write the figures there as JSON), DATABASE_URL, REDIS_URL, and
SECRET_KEY for a database whose signing key was stored under another key than the bench's.
"""

import json
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOKEN_SCRIPT = PROJECT_DIR / "bench" / "token.lua"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(PROJECT_DIR))

from tests.idp import SHAPES, IdentityProvider  # noqa: E402  (the project's test provider)

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


@dataclass
class Scenario:
    name: str
    path: str
    bodies: Callable[[Site], list[str]]
    connections: int
    timeout_s: int = 5


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    successes: int
    outbound: int | None = None  # requests to the identity provider while wrk ran
    seconds: float = 0.0


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


# Scenarios whose tokens come from the identity provider (warmed until it is not called).
PROVIDER_BODIES = (assertion_bodies, expression_bodies)


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
    """SIGTERM to the process group (gunicorn and its workers); SIGKILL if it lingers."""
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
) -> tuple[list[dict], list[tuple[str, str]]]:
    """For every client and provider shape, a credential with its own subject, and a token
    (valid an hour) that matches it: what to create, and (client_id, JWT) pairs."""
    credentials, assertions = [], []
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
    return credentials, assertions


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
def serve_project(tmp: Path) -> Iterator[Site]:
    provider = IdentityProvider().start()
    try:
        env = {
            **project_env(tmp),
            **provider.env,
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
        credentials, assertions = federated_credentials(provider, clients, run_id)
        args = [*create, "--name", f"bench-{run_id}-expressions", "--scopes", "OR.Machines"]
        out = run([*args, "--json"], env=env, cwd=PROJECT_DIR)
        expression_client = json.loads(out.strip().splitlines()[-1])["client_id"]
        more, expression_assertions = expression_credentials(provider, expression_client, run_id)
        run(
            [*manage, "shell", "-c", CREATE_CREDENTIALS],
            env={**env, "BENCH_CREDENTIALS": json.dumps(credentials + more)},
            cwd=PROJECT_DIR,
        )
        log = tmp / "project.log"
        with wsgi_server("identity_server.wsgi", env=env, cwd=PROJECT_DIR, log=log) as url:
            yield Site(
                url,
                clients,
                log,
                assertions=assertions,
                identity_provider=provider,
                expression_assertions=expression_assertions,
            )
    finally:
        provider.stop()


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


# Each served project and the scenarios run against it while it is up.
SERVERS = [
    (
        serve_project,
        [
            Scenario("secret", "/identity_/connect/token", secret_bodies, CONNECTIONS),
            Scenario("assertion", "/identity_/connect/token", assertion_bodies, CONNECTIONS),
            Scenario("expression", "/identity_/connect/token", expression_bodies, CONNECTIONS),
        ],
    ),
    (
        serve_stock_dot,
        [Scenario("stock_dot", "/o/token/", secret_bodies, STOCK_CONNECTIONS, timeout_s=10)],
    ),
]


# --- measuring -----------------------------------------------------------------------------


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
    """Writes the scenario's bodies for wrk and warms the server up with them."""
    url = site.base_url + scenario.path
    bodies = scenario.bodies(site)
    bodies_file = tmp / f"{scenario.name}.bodies"
    bodies_file.write_text("\n".join(bodies) + "\n")
    progress(f"{scenario.name}: warm-up")
    if scenario.bodies in PROVIDER_BODIES:
        warm_up_until_quiet(url, bodies, site, scenario.connections)
    else:
        warm_up(url, bodies, scenario.connections, site.log)
    return bodies_file


def measure(wrk: str, scenario: Scenario, site: Site, bodies_file: Path, seconds: int) -> Result:
    """One wrk run of `seconds`; `outbound` counts the identity provider's requests meanwhile."""
    url = site.base_url + scenario.path
    threads = min(2, scenario.connections)
    load = [f"-t{threads}", f"-c{scenario.connections}", f"-d{seconds}s"]
    options = [f"--timeout={scenario.timeout_s}s", "--latency", "-s", str(TOKEN_SCRIPT)]
    args = [wrk, *load, *options, url, "--", str(bodies_file)]
    provider = site.identity_provider if scenario.bodies in PROVIDER_BODIES else None
    served_before = provider.requests_served if provider is not None else 0
    output = run(args, env=dict(os.environ), cwd=PROJECT_DIR)
    outbound = provider.requests_served - served_before if provider is not None else None
    line = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if line is None:
        raise BenchError(f"wrk printed no BENCH line:\n{output}")
    figures = {k: int(v) for k, v in (pair.split("=") for pair in line.group(1).split())}
    successes = figures["requests"] - figures["status"]
    return Result(
        rps=successes / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=sum(figures[k] for k in ("status", "connect", "read", "write", "timeout")),
        successes=successes,
        outbound=outbound,
        seconds=figures["duration_us"] / 1e6,
    )


def combined(slices: list[Result]) -> Result:
    """The slices of one scenario as one result: the rate over their whole time, the median
    of their medians, the worst of their 99th percentiles."""
    seconds = sum(r.seconds for r in slices)
    successes = sum(r.successes for r in slices)
    outbound = [r.outbound for r in slices if r.outbound is not None]
    return Result(
        rps=successes / seconds,
        p50_ms=statistics.median(r.p50_ms for r in slices),
        p99_ms=max(r.p99_ms for r in slices),
        errors=sum(r.errors for r in slices),
        successes=successes,
        outbound=sum(outbound) if outbound else None,
        seconds=seconds,
    )


def measure_interleaved(wrk: str, scenarios: list[Scenario], site: Site, tmp: Path) -> dict:
    """Each scenario for DURATION seconds in all, in ROUNDS slices taken in turn (ABBA...),
    so that a change in the machine's other load weighs on each alike."""
    bodies = {s.name: prepare(s, site, tmp) for s in scenarios}
    rounds = ROUNDS if len(scenarios) > 1 else 1
    seconds = max(1, round(DURATION / rounds))
    progress(f"{', '.join(bodies)}: wrk, {rounds} slices of {seconds} s each")
    slices: dict[str, list[Result]] = {s.name: [] for s in scenarios}
    for n in range(rounds):
        for scenario in scenarios if n % 2 == 0 else scenarios[::-1]:
            result = measure(wrk, scenario, site, bodies[scenario.name], seconds)
            progress(f"  {scenario.name}: {result.rps:.0f} requests/s")
            slices[scenario.name].append(result)
    return {name: combined(results) for name, results in slices.items()}


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0 and shutil.which("apt-get"):
        progress("wrk is missing; apt-get install -y wrk")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False)  # noqa: S607
        wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: `sudo apt-get install wrk` (Debian, Ubuntu).")
    return wrk


def machine(scenarios: list[Scenario]) -> dict:
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
        "gunicorn_workers": WORKERS,
        "duration_s": DURATION,
        "rounds": ROUNDS,
        "connections": {s.name: s.connections for s in scenarios},
    }


def report(results: dict[str, Result]) -> dict[str, float | None]:
    """Prints the table and the ratios; returns them (None where a rate is missing)."""
    print(f"\n{'scenario':<12}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'outbound':>10}")
    for name, r in results.items():
        outbound = "" if r.outbound is None else str(r.outbound)
        print(
            f"{name:<12}{r.rps:>10.1f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{r.errors:>8}{outbound:>10}"
        )

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


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main() -> int:
    # A plain `kill` of this script still stops the servers (the `finally` blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = find_wrk()
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        tmp = Path(tmp_name)
        for serve, scenarios in SERVERS:
            with serve(tmp) as site:
                results |= measure_interleaved(wrk, scenarios, site, tmp)
    ratios = report(results)
    if path := os.environ.get("BENCH_JSON"):
        figures = {
            name: {
                "rps": round(r.rps, 1),
                "p50_ms": round(r.p50_ms, 2),
                "p99_ms": round(r.p99_ms, 2),
                "errors": r.errors,
                **({"outbound": r.outbound} if r.outbound is not None else {}),
            }
            for name, r in results.items()
        }
        meta = machine([s for _, scenarios in SERVERS for s in scenarios])
        rounded = {k: round(v, 3) if v is not None else None for k, v in ratios.items()}
        document = {
            **figures,
            "ratio": rounded["secret/stock_dot"],
            "assertion_ratio": rounded["assertion/secret"],
            "expression_ratio": rounded["expression/assertion"],
            "meta": meta,
        }
        Path(path).write_text(json.dumps(document, indent=2) + "\n")
    for name in ("assertion", "expression"):
        if results.get(name) and results[name].outbound:
            progress(f"the {name} path called the identity provider {results[name].outbound} times")
            return 1
    failed = [name for name, r in results.items() if r.successes == 0]
    if failed:
        progress(f"no successful request in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        progress(str(error))
        sys.exit(1)
