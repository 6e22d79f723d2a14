"""The scope catalogue holds UiPath's published Orchestrator application scopes."""

import pytest

from identity_server.scopes import CATALOGUE
from identity_server.tests.factories import client_with_secret

UIPATH_ORCHESTRATOR = [
    "OR.Administration",
    "OR.Analytics",
    "OR.Assets",
    "OR.Audit",
    "OR.BackgroundTasks",
    "OR.Execution",
    "OR.Folders",
    "OR.Hypervisor",
    "OR.Jobs",
    "OR.License",
    "OR.Machines",
    "OR.ML",
    "OR.Monitoring",
    "OR.Queues",
    "OR.Robots",
    "OR.Settings",
    "OR.Tasks",
    "OR.TestDataQueues",
    "OR.TestSetExecutions",
    "OR.TestSetSchedules",
    "OR.TestSets",
    "OR.Users",
    "OR.Webhooks",
]


@pytest.mark.parametrize("name", UIPATH_ORCHESTRATOR)
def test_each_orchestrator_scope_comes_whole_and_as_read_and_write(name):
    for variant in (name, f"{name}.Read", f"{name}.Write"):
        assert CATALOGUE[variant].resource == "Orchestrator"


def test_an_app_granted_or_execution_gets_a_token_for_it(client, admin_membership):
    # given: what the `uipath` CLI asks for by default

    app, secret = client_with_secret(
        organization=admin_membership.organization, scopes=("OR.Execution",)
    )

    # when
    response = client.post(
        "/identity_/connect/token",
        {
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": secret,
            "scope": "OR.Execution",
        },
    )

    # then
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "OR.Execution"
