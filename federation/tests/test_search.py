"""Search in a tenant finds the organization's external applications and federated
credentials (tenants.search sources in federation.selectors), and only with their scope."""

import pytest

from federation.services import federated_credential_create
from federation.tests.factories import external_app
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import Api


def search_url(tenant, query: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/api/Search?{query}"


@pytest.fixture
def tenant(admin_membership):
    return admin_membership.organization.tenants.get()


@pytest.fixture
def found(tenant, other_admin_membership, identity_provider):
    """A deploy app with a credential here, and the same names in another organization."""
    for organization in (tenant.organization, other_admin_membership.organization):
        app, _ = external_app(organization=organization, name="Deploy pipeline")
        federated_credential_create(
            app=app,
            actor=TEST_ACTOR,
            name="GitHub deploy",
            description="main only",
            issuer=identity_provider.issuer("github"),
            audience="aud",
            subject="repo:o/r:ref:refs/heads/main",
        )
    return app


def search(client, issue_token, tenant, scopes, query):
    caller, secret = client_with_secret(organization=tenant.organization, scopes=scopes)
    response = Api(client, issue_token(caller, secret)).get(search_url(tenant, query))
    assert response.status_code == 200, response.content
    return response.json()["value"]


def test_search_finds_apps_and_credentials_of_this_organization_only(
    client, issue_token, tenant, found
):
    results = search(client, issue_token, tenant, ("PM.OAuthApp.Read",), "query=DEPLOY")

    assert sorted((r["type"], r["name"]) for r in results) == [
        ("external_app", "Deploy pipeline"),
        ("federated_credential", "GitHub deploy"),
    ]
    app = next(r for r in results if r["type"] == "external_app")
    assert app["id"] != found.client.client_id  # `found` is the other organization's


def test_search_filters_by_type(client, issue_token, tenant, found):
    results = search(
        client, issue_token, tenant, ("PM.OAuthApp",), "query=deploy&type=federated_credential"
    )

    assert [(r["type"], r["description"]) for r in results] == [
        ("federated_credential", "main only")
    ]


def test_without_the_apps_scope_they_are_left_out(client, issue_token, tenant, found):
    assert search(client, issue_token, tenant, ("OR.Machines.Read",), "query=deploy") == []
