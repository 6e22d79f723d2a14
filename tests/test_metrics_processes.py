"""Metrics and logs of a deployment (SPEC §10), served by identity_server.serve: every
worker's counts in each scrape (multiprocess mode, set up by the server), and an access log
without query strings."""

import json
import os
import signal
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import project_serving, python_ok

METRICS_TOKEN = "scrape-" + "t" * 40
ISSUED = {
    "grant": "client_credentials",
    "auth_method": "client_secret_post",
    "outcome": "issued",
    "reason": "ok",
}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """The server with 2 workers, metrics on, its access log in a file."""
    tmp_path = tmp_path_factory.mktemp("metrics-deployment")
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "METRICS_BEARER_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        python_ok("manage.py", *command, **env)
    credentials = json.loads(
        python_ok(
            "manage.py", "create_client", "--org", "demo", "--name", "Scraped", "--json", **env
        )
    )
    # An earlier run's files in the folder must not count: the server empties it at start.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale")
    access_log = tmp_path / "access.log"
    with project_serving(env, f"--access-log={access_log}") as (base, server):
        yield base, credentials, tmp_path, server


def _scrape(base) -> dict:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _issued(scraped: dict) -> float:
    return scraped.get(("identity_token_requests_total", tuple(sorted(ISSUED.items()))), 0.0)


def _workers(server) -> list[int]:
    children = subprocess.run(  # noqa: S603
        ["/usr/bin/pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in children.stdout.split()]


def test_every_scrape_counts_every_workers_token_requests(deployment):
    # given
    base, credentials, tmp_path, server = deployment
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }
    # when: requests on fresh connections, which the two workers share: at least 12, and
    # more until both have served one (which worker accepts is the kernel's choice)
    sent, recorded = 0, set()
    deadline = time.monotonic() + 30
    while sent < 12 or (len(recorded) < 2 and time.monotonic() < deadline):
        response = requests.post(f"{base}/identity_/connect/token", data=form, timeout=5)
        assert response.status_code == 200
        sent += 1
        recorded = {p.name for p in (tmp_path / "metrics").glob("counter_*.db")}
    # then: each worker recorded into the folder, and any worker's scrape sums them all
    assert len(recorded) >= 2, recorded
    assert "counter_1.db" not in recorded
    assert {_issued(_scrape(base)) for _ in range(6)} == {sent}

    # when: a worker exits, and the server has started another
    workers = _workers(server)
    os.kill(workers[0], signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now_serving = _workers(server)
        if len(now_serving) == len(workers) and workers[0] not in now_serving:
            break
        time.sleep(0.1)
    assert _workers(server) != workers
    # then: what it counted still counts
    assert {_issued(_scrape(base)) for _ in range(4)} == {sent}


def test_the_access_log_has_no_query_string(deployment):
    base, _credentials, tmp_path, _server = deployment
    response = requests.get(
        f"{base}/identity_/connect/token?client_secret=leaked-in-url", timeout=5
    )
    assert response.status_code == 405
    time.sleep(0.3)  # the access log is written after the response
    log = (tmp_path / "access.log").read_text()
    assert "leaked-in-url" not in log
    assert '"GET /identity_/connect/token HTTP/1.1" 405' in log
