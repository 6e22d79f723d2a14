"""The token endpoint across processes: the server's workers on one side, an operator's
commands on the other, sharing PostgreSQL or SQLite and Redis as a deployment does.

A change made in one process must reach the others: a new secret works at once, a deleted
secret's tokens are refused at once by our APIs, and the secret itself stops
authenticating within identity_server.clients.GENERATION_CHECK_SECONDS.
"""

import json
import os
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests

from identity_server.clients import GENERATION_CHECK_SECONDS
from tests.processes import (
    python_ok,
    secret_created_elsewhere,
    secret_deleted_elsewhere,
    served_project,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="processes share client changes through Redis; set REDIS_URL to test it",
)


def _own_redis_database(url: str) -> str:
    """The test run's Redis server, another database: the suite flushes its own."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/14", "", ""))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("deployment")
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "REDIS_URL": _own_redis_database(os.environ["REDIS_URL"]),
    }
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()  # nothing from an earlier run
    with served_project(**env) as base:
        yield base, env


def _token(base, client_id, secret) -> requests.Response:
    return requests.post(
        f"{base}/identity_/connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=5,
    )


def test_secret_changes_in_one_process_reach_the_workers(deployment):
    base, env = deployment
    # given an app created by an operator's command, in another process
    credentials = json.loads(
        python_ok("manage.py", "create_client", "--org", "demo", "--name", "Cross",
                  "--scopes", "OR.Machines", "--json", **env)
    )  # fmt: skip
    client_id = credentials["client_id"]
    # (several requests, so that both workers have the client in memory)
    assert {
        _token(base, client_id, credentials["client_secret"]).status_code for _ in range(6)
    } == {200}

    # when a second secret is created elsewhere, it works at once in every worker
    created = secret_created_elsewhere(client_id, **env)
    assert {_token(base, client_id, created["secret"]).status_code for _ in range(6)} == {200}
    token = _token(base, client_id, created["secret"]).json()["access_token"]
    machines = f"{base}/demo/DefaultTenant/orchestrator_/odata/Machines"
    bearer = {"Authorization": f"Bearer {token}"}
    first = requests.get(machines, headers=bearer, timeout=5)
    assert first.status_code == 200, first.text

    # when it is deleted elsewhere
    secret_deleted_elsewhere(created["id"], **env)

    # then its tokens are refused at once, and the secret within the generation check
    assert requests.get(machines, headers=bearer, timeout=5).status_code == 401
    time.sleep(GENERATION_CHECK_SECONDS)
    assert {_token(base, client_id, created["secret"]).status_code for _ in range(6)} == {401}
    assert _token(base, client_id, credentials["client_secret"]).status_code == 200
