"""GET /orchestrator_/api/status/version (SPEC §8): what the `uipath` CLI probes."""

import tomllib

import pytest
from django.conf import settings


def our_version() -> str:
    with (settings.BASE_DIR / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["version"]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/orchestrator_/api/status/version", id="root"),
        pytest.param("/acme/DefaultTenant/orchestrator_/api/status/version", id="tenant"),
        # Nothing is looked up: an organization that does not exist gets the same answer.
        pytest.param("/nowhere/Nothing/orchestrator_/api/status/version", id="no-such-tenant"),
    ],
)
def test_the_version_is_answered_to_anyone(client, db, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"version": our_version()}


def test_another_method_is_a_json_405(client, db):
    response = client.post("/orchestrator_/api/status/version")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
