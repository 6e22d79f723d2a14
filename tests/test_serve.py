"""`make run`'s server for real: gunicorn on loopback over a fresh SQLite database."""

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.processes import project_env, run_python

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("served-site")
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "DEMO_ADMIN_PASSWORD": "served-site-demo-password",
    }
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = run_python("manage.py", *command, **env)
        assert result.returncode == 0, result.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [VENV_BIN / "gunicorn", "identity_server.wsgi", "--bind", f"127.0.0.1:{port}"],
        env=project_env(**env),
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/accounts/login/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.2)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_served_site_signs_in_the_demo_admin(served_site):
    session = requests.Session()
    login = session.get(f"{served_site}/accounts/login/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)

    home = session.post(
        f"{served_site}/accounts/login/",
        data={
            "csrfmiddlewaretoken": token,
            "username": "admin",
            "password": "served-site-demo-password",
        },
        timeout=5,
    )

    assert home.status_code == 200
    assert home.url == f"{served_site}/"
    assert "Demo Organization" in home.text
    assert "DefaultTenant" in session.get(f"{served_site}/demo/portal_/", timeout=5).text


def test_the_served_site_serves_its_stylesheet(served_site):
    response = requests.get(f"{served_site}/static/css/site.css", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
