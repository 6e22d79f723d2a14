"""With the shared cache gone (Redis on a loopback port nobody listens on), the server keeps
working by the policy of identity_server.shared_cache: sign-in throttling fails open with a
warning, writes answer success, tokens keep being issued, and nothing answers 500. Replay
protection failing closed is in federation/tests/test_token_exchange.py
(test_replay_protection_fails_closed_when_its_store_is_unreachable).

The last test runs the project as a deployment does, in several processes (the
server's workers, operators' commands), with REDIS_URL pointing at that closed port.
"""

import json
import logging
import time

import pytest
import requests

from federation.tests.factories import external_app
from identity_server.clients import GENERATION_CHECK_SECONDS
from identity_server.models import ClientSecret
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, token_request
from machines.models import Machine
from tenants.models import AuditEvent
from tenants.tests.factories import PASSWORD
from tests.processes import (
    free_port,
    python_ok,
    secret_created_elsewhere,
    secret_deleted_elsewhere,
    served_project,
)
from tests.test_site_isolation import PAGES, World

pytestmark = pytest.mark.django_db

OUTAGE_LOGGER = "identity_server.shared_cache"


@pytest.fixture
def tenant(organization):
    return organization.tenants.get()


@pytest.fixture
def script(organization):
    """An app allowed to manage applications, credentials and machines."""
    return client_with_secret(
        organization=organization,
        scopes=(
            "PM.OAuthApp",
            "PM.OAuthAppSecret",
            "OR.Machines",
            "OR.Robots",
            "OR.Settings",
            "OR.Audit",
        ),
        name="Script",
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs what the writes inside leave for after their commit, as a real commit does (the
    test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def api(client, script, shared_cache_down):
    """A script's API client, its token issued while the shared cache is down."""
    response = token_request(client, script[0].client_id, script[1])
    assert response.status_code == 200, response.content
    return Api(client, response.json()["access_token"])


def test_admin_sign_in_works_with_throttling_open_and_a_warning(
    client, admin_membership, shared_cache_down, caplog
):
    user = admin_membership.user
    caplog.set_level(logging.WARNING, logger=OUTAGE_LOGGER)

    # when a wrong password, then the right one
    wrong = client.post("/accounts/login/", {"username": user.username, "password": "nope"})
    right = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    # then
    assert wrong.status_code == 200  # the form again, with its error
    assert right.status_code == 302
    assert right.url == "/"
    assert any(
        "sign-in throttling is not enforced" in record.getMessage() for record in caplog.records
    )
    outcomes = AuditEvent.objects.filter(action="user.sign_in").values_list("outcome", flat=True)
    assert sorted(outcomes) == ["failure", "success"]


def test_creating_a_machine_through_the_api_succeeds(api, tenant, committed):
    with committed():
        response = api.post(
            f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/Machines",
            {"Name": "Build agents", "Type": "Template"},
        )

    assert response.status_code == 201, response.content
    assert Machine.objects.filter(tenant=tenant, name="Build agents").exists()


def test_secrets_are_created_and_deleted_with_effect_at_once_here(
    client, api, organization, committed
):
    # given
    app, first = external_app(organization=organization)
    base = "/identity_/api/ExternalClient"

    # when a secret is generated
    with committed():
        created = api.post(
            f"{base}/GenerateSecret",
            {"clientId": app.client.client_id, "partitionGlobalId": str(organization.global_id)},
        )

    # then it works at once
    assert created.status_code == 200, created.content
    second = created.json()["secret"]
    assert token_request(client, app.client.client_id, second).status_code == 200

    # when the first is deleted
    row = ClientSecret.objects.get(client=app.client, prefix=first[:10])
    with committed():
        deleted = api.delete(f"{base}/{organization.global_id}/secrets/{row.pk}")

    # then it stops at once, and the other goes on
    assert deleted.status_code == 204
    assert token_request(client, app.client.client_id, first).status_code == 401
    assert token_request(client, app.client.client_id, second).status_code == 200


def test_federated_credentials_are_created_and_deleted(
    api, organization, identity_provider, committed
):
    # given
    app, _ = external_app(organization=organization)
    url = f"/identity_/api/ExternalClient/{organization.global_id}/{app.client.client_id}"
    body = {
        "name": "GitHub Actions",
        "issuer": identity_provider.issuer("github"),
        "audience": "https://cloud.uipath.com/myorg",
        "subject": "repo:myorg/myrepo:ref:refs/heads/main",
    }

    # when
    with committed():
        created = api.post(f"{url}/FederatedCredentials", body)
    with committed():
        deleted = api.delete(f"{url}/FederatedCredentials/{created.json()['id']}")

    # then
    assert created.status_code == 201, created.content
    assert deleted.status_code == 204
    assert api.get(f"{url}/FederatedCredentials").json() == []


def test_the_token_endpoint_keeps_issuing_from_warm_caches(client, organization, settings):
    # given a client this process has in memory
    app, secret = client_with_secret(organization=organization, scopes=("OR.Machines",))
    assert token_request(client, app.client_id, secret).status_code == 200

    # when the shared cache goes away
    settings.CACHES = {
        "default": {
            "BACKEND": "identity_server.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    # then
    responses = [token_request(client, app.client_id, secret) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]


# --- no 500 anywhere ----------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_no_page_of_the_site_answers_500(client, admin_membership, shared_cache_down, page):
    organization = admin_membership.organization
    world = World(organization, organization.tenants.get(), admin_membership.user)
    client.force_login(admin_membership.user)
    url = page(world)

    for method in ("get", "post"):
        response = getattr(client, method)(url)

        assert response.status_code < 500, (method, url)


API_ROUTES = [
    "/{org}/{tenant}/orchestrator_/odata/Machines",
    "/{org}/{tenant}/orchestrator_/odata/Robots",
    "/{org}/{tenant}/orchestrator_/odata/Sessions",
    "/{org}/{tenant}/orchestrator_/odata/Settings",
    "/{org}/{tenant}/orchestrator_/odata/AuditLogs",
    "/{org}/{tenant}/orchestrator_/api/robotsservice/GetConnectionData",
    "/identity_/api/ExternalClient/{global_id}",
    "/{global_id}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo",
    "/identity_/.well-known/openid-configuration",
    "/identity_/.well-known/openid-configuration/jwks",
    "/orchestrator_/api/status/version",
]


def test_no_api_route_answers_500(client, api, script, tenant):
    organization = tenant.organization
    names = {"org": organization.slug, "tenant": tenant.name, "global_id": organization.global_id}
    for route in API_ROUTES:
        response = api.get(route.format(**names))

        assert response.status_code < 400, (route, response.content)

    token = api.headers["Authorization"].split()[1]
    for endpoint in ("introspect", "revocation"):
        form = {"client_id": script[0].client_id, "client_secret": script[1], "token": token}
        response = client.post(f"/identity_/connect/{endpoint}", form)

        assert response.status_code == 200, (endpoint, response.content)
    assert api.get(API_ROUTES[0].format(**names)).status_code == 401  # revoked, from the database


# --- several processes ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_a_deployment_without_its_shared_cache_keeps_working(tmp_path):
    # given a deployment whose Redis is gone: migrate and seed_demo run (served_project
    # asserts they succeed), then the server with two workers
    env = {
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }

    def token(client_id, secret) -> int:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        form["client_secret"] = secret
        return requests.post(f"{base}/identity_/connect/token", data=form, timeout=5).status_code

    with served_project(**env) as base:
        # when an operator creates a client
        command = ["manage.py", "create_client", "--org", "demo", "--name", "Outage", "--json"]
        credentials = json.loads(python_ok(*command, **env))
        client_id = credentials["client_id"]
        assert {token(client_id, credentials["client_secret"]) for _ in range(6)} == {200}

        # when a second secret is created in another process, it works at once in every worker
        created = secret_created_elsewhere(client_id, **env)
        assert {token(client_id, created["secret"]) for _ in range(6)} == {200}

        # when it is deleted in another process, every worker refuses it within the
        # per-process expiry (the workers cannot be told: they re-read the client)
        secret_deleted_elsewhere(created["id"], **env)
        time.sleep(GENERATION_CHECK_SECONDS)
        assert {token(client_id, created["secret"]) for _ in range(6)} == {401}
        assert token(client_id, credentials["client_secret"]) == 200
