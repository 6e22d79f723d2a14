"""`make run`'s server for real: identity_server.serve (granian) on loopback over a fresh
SQLite database."""

import re

import pytest
import requests

from tests.processes import served_project


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("served-site")
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "DEMO_ADMIN_PASSWORD": "served-site-demo-password",
    }
    with served_project(**env) as base:
        yield base


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
