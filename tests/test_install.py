"""A runtime-only install (SPEC §10): `requirements.lock` is what production installs, with
no test or lint package; `requirements-dev.lock` adds the `dev` extra for `.venv`; and a
virtualenv built from the runtime lock alone serves the project and passes the deploy
checks with production settings.

The runtime virtualenv is built once per lock and interpreter, in the system's temp
folder, so later runs reuse it (as tests/test_uipath_cli.py does with its CLI).
"""

import fcntl
import hashlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.processes import free_port, project_env

ROOT = Path(settings.BASE_DIR)
# Dev packages that a runtime package requires as well, and why they are in the runtime lock.
ALSO_RUNTIME = {"pyjwt": "msal (azure-identity's) requires it"}
# Test runners, linters, browsers and fakes that must never reach production, whoever pulls them.
NEVER_RUNTIME = {
    "pytest",
    "pytest-django",
    "pluggy",
    "ruff",
    "playwright",
    "moto",
    "factory-boy",
    "faker",
    "trustme",
    "pip-tools",
    "werkzeug",
    "flask",
}


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {
        name.lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)
    }


def test_the_runtime_lock_has_no_test_or_lint_package():
    # given
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    runtime = pins("requirements.lock")
    # then
    assert not (NEVER_RUNTIME & runtime.keys())
    assert {name for name in dev if name in runtime} == set(ALSO_RUNTIME)
    assert {_name(r) for r in project["dependencies"]} <= runtime.keys()


def test_the_dev_lock_pins_every_runtime_package_alike_and_the_dev_extra():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["optional-dependencies"]["dev"]} <= dev.keys()


def test_every_pinned_package_has_hashes():
    for lock in ("requirements.lock", "requirements-dev.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
        unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
        assert not unhashed, (lock, unhashed)


def _runtime_venv() -> Path:
    """A virtualenv of requirements.lock alone, built on first use under a lock."""
    lock_hash = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()[:12]
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    home = Path(tempfile.gettempdir()) / f"identity-server-runtime-{lock_hash}-{python}"
    ready = home / "ready"
    with open(f"{home}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            shutil.rmtree(home, ignore_errors=True)  # a build that was interrupted
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)  # noqa: S603
            install = subprocess.run(  # noqa: S603
                [
                    *(home / "bin" / "pip", "install", "--quiet", "--require-hashes"),
                    *("--no-deps", "-r", str(ROOT / "requirements.lock")),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if install.returncode != 0:
                pytest.fail(f"Could not install requirements.lock:\n{install.stderr[-2000:]}")
            ready.touch()
    return home / "bin"


@pytest.mark.slow
def test_a_production_install_from_the_runtime_lock_passes_the_checks_and_serves(tmp_path):
    # given: the runtime packages only, and production settings
    venv = _runtime_venv()
    env = project_env(
        SECRET_KEY=secrets.token_urlsafe(64),
        IDENTITY_ISSUER="https://id.example.test/identity_",
        ALLOWED_HOSTS="id.example.test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
    )
    env.pop("DEBUG", None)

    def manage(*args) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [venv / "python", "manage.py", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # then: no test or lint tool was installed
    for module in ("pytest", "ruff", "playwright", "moto"):
        probe = subprocess.run([venv / "python", "-c", f"import {module}"], check=False)  # noqa: S603
        assert probe.returncode != 0, module
    # and the deploy checks pass (warnings left to the operator), then it migrates
    check = manage("check", "--deploy")
    assert check.returncode == 0, check.stderr
    assert "ERRORS:" not in check.stderr
    migrate = manage("migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr

    # when: served by the runtime virtualenv's gunicorn
    port = free_port()
    log = tmp_path / "gunicorn.log"
    server = subprocess.Popen(  # noqa: S603
        [venv / "gunicorn", "identity_server.wsgi", f"--bind=127.0.0.1:{port}", "--workers=1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 30, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = requests.get(f"{base}/readyz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        # then
        if ready is None:
            pytest.fail(f"gunicorn did not serve:\n{log.read_text()[-2000:]}")
        assert ready.status_code == 200
        discovery = requests.get(
            f"{base}/identity_/.well-known/openid-configuration",
            headers={"Host": "id.example.test", "X-Forwarded-Proto": "https"},
            timeout=5,
        )
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == "https://id.example.test/identity_"
    finally:
        server.terminate()
        server.wait(timeout=10)
