"""Seed 004's federated credentials API end to end: real tokens from the token endpoint,
the real database, and issuers served by the test identity provider (tests/idp.py)."""

import threading
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from federation import jwks
from federation.models import CREDENTIALS_PER_APP, FederatedCredential
from federation.tests.factories import external_app
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from tenants.models import AuditEvent

BASE = "/identity_/api/ExternalClient"


def credentials_url(app, *, prefix: str = "") -> str:
    return (
        f"{prefix}{BASE}/{app.organization.global_id}/{app.client.client_id}/FederatedCredentials"
    )


def credential_url(credential) -> str:
    return f"{credentials_url(credential.app)}/{credential.pk}"


@pytest.fixture
def organization(admin_membership):
    return admin_membership.organization


@pytest.fixture
def app(organization):
    return external_app(organization=organization, scopes=("OR.Machines.Read",))[0]


@pytest.fixture
def script(organization):
    return client_with_secret(organization=organization, scopes=("PM.OAuthApp",), name="Script")


@pytest.fixture
def token(issue_token, script):
    return issue_token(*script)


@pytest.fixture
def api(client, token):
    return Api(client, token)


@pytest.fixture
def read_only_api(client, issue_token, organization):
    reader, secret = client_with_secret(
        organization=organization, scopes=("PM.OAuthApp.Read",), name="Reader"
    )
    return Api(client, issue_token(reader, secret))


@pytest.fixture
def github(identity_provider):
    """Seed 004's example body, its issuer pointed at the test identity provider."""
    return {
        "name": "GitHub Actions",
        "description": "Used for GitHub Actions CI/CD pipeline",
        "issuer": identity_provider.issuer("github"),
        "audience": "https://cloud.uipath.com/myorg",
        "subject": "repo:myorg/myrepo:ref:refs/heads/main",
    }


def credential_create(app, body) -> FederatedCredential:
    from federation.services import federated_credential_create
    from identity_server.tests.factories import TEST_ACTOR

    return federated_credential_create(app=app, actor=TEST_ACTOR, **body)


# --- seed 004, call by call ---------------------------------------------------------------


def test_list_answers_an_empty_array_when_there_are_none(api, app):
    response = api.get(credentials_url(app))

    assert response.status_code == 200
    assert response.json() == []


def test_create_answers_201_with_the_dto_and_audits_it(api, app, github, script):
    # when
    response = api.post(credentials_url(app), github)

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    credential = FederatedCredential.objects.get(app=app)
    assert body == {
        "id": str(credential.pk),
        "clientId": app.client.client_id,
        **github,
        "createdAt": body["createdAt"],
        "updatedAt": body["updatedAt"],
    }
    assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")
    event = AuditEvent.objects.get(action="federated_credential.create")
    assert (event.actor_kind, event.actor_id) == ("app", script[0].client_id)
    assert event.target_id == str(credential.pk)
    assert event.details["issuer"] == github["issuer"]
    assert event.details["subject"] == github["subject"]


def test_get_list_update_and_delete_as_in_the_seed(api, app, github, identity_provider):
    # given
    created = api.post(credentials_url(app), github).json()
    url = f"{credentials_url(app)}/{created['id']}"

    # when / then: get and list
    assert api.get(url).json() == created
    assert api.get(credentials_url(app)).json() == [created]

    # when / then: update (seed 004's PUT body), every field replaced
    update = {
        "name": "GitHub Actions — Production",
        "description": "Production branch deployments only",
        "issuer": identity_provider.issuer("github"),
        "audience": "https://cloud.uipath.com/myorg",
        "subject": "repo:myorg/myrepo:ref:refs/heads/main",
    }
    response = api.put(url, update)
    assert response.status_code == 200, response.content
    assert response.json() == {**created, **update, "updatedAt": response.json()["updatedAt"]}
    event = AuditEvent.objects.get(action="federated_credential.update")
    assert event.details["name"] == {"before": "GitHub Actions", "after": update["name"]}
    assert "issuer" not in event.details  # unchanged values are not listed

    # when / then: delete
    response = api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(url).status_code == 404
    assert api.get(credentials_url(app)).json() == []
    assert AuditEvent.objects.filter(action="federated_credential.delete").count() == 1


def test_update_without_a_description_clears_it(api, app, github):
    credential = credential_create(app, github)
    body = {key: value for key, value in github.items() if key != "description"}

    response = api.put(credential_url(credential), body)

    assert response.status_code == 200, response.content
    assert response.json()["description"] == ""


@pytest.mark.parametrize("shape", ["github", "entra", "gcp", "k8s"])
def test_each_providers_issuer_is_accepted(api, app, identity_provider, shape):
    body = {
        "name": shape,
        "issuer": identity_provider.issuer(shape),
        "audience": "api://identity-server",
        "subject": "workload",
    }

    response = api.post(credentials_url(app), body)

    assert response.status_code == 201, response.content


def test_the_organization_prefix_serves_the_same_api(api, app, github):
    url = credentials_url(app, prefix=f"/{app.organization.slug}")

    assert api.post(url, github).status_code == 201
    assert len(api.get(url).json()) == 1


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "error_key"),
    [
        pytest.param({"name": None}, "name", id="name missing"),
        pytest.param({"name": ""}, "name", id="name empty"),
        pytest.param({"name": "n" * 129}, "name", id="name of 129 characters"),
        pytest.param({"name": 7}, "name", id="name not a string"),
        pytest.param({"description": "d" * 513}, "description", id="description of 513"),
        pytest.param({"issuer": None}, "issuer", id="issuer missing"),
        pytest.param({"issuer": "token.actions.githubusercontent.com"}, "issuer", id="no scheme"),
        pytest.param({"issuer": "http://token.example"}, "issuer", id="http issuer"),
        pytest.param({"issuer": "https://user:pw@token.example"}, "issuer", id="userinfo"),
        pytest.param({"issuer": "https://token.example/?a=1"}, "issuer", id="query"),
        pytest.param({"issuer": "https://token.example/#f"}, "issuer", id="fragment"),
        pytest.param({"issuer": "https://"}, "issuer", id="no host"),
        pytest.param({"audience": None}, "audience", id="audience missing"),
        pytest.param({"audience": ""}, "audience", id="audience empty"),
        pytest.param({"audience": ["a", "b"]}, "audience", id="audience a list"),
        pytest.param({"audience": " api://x"}, "audience", id="audience with a blank"),
        pytest.param({"subject": None}, "subject", id="subject missing"),
        pytest.param({"subject": "repo:a/b:ref:refs/heads/main "}, "subject", id="subject blank"),
        pytest.param({"subject": "s" * 513}, "subject", id="subject too long"),
    ],
)
def test_create_refuses_invalid_fields_with_a_field_keyed_400(api, app, github, changes, error_key):
    body = {**github, **changes}
    body = {key: value for key, value in body.items() if value is not None}

    response = api.post(credentials_url(app), body)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [error_key]
    assert all(isinstance(m, str) for m in response.json()["errors"][error_key])
    assert not FederatedCredential.objects.exists()


@pytest.mark.parametrize("body", ["{oops", "[]", '"text"'])
def test_create_refuses_a_body_that_is_not_a_json_object(api, app, body):
    response = api.post(credentials_url(app), body)

    assert response.status_code == 400
    assert "errors" in response.json()
    assert not FederatedCredential.objects.exists()


def test_a_duplicate_name_in_any_case_is_refused(api, app, github):
    credential_create(app, github)

    response = api.post(credentials_url(app), {**github, "name": "github actions"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    assert FederatedCredential.objects.count() == 1


def test_the_same_name_in_another_application_is_fine(api, app, github, organization):
    credential_create(app, github)
    other_app, _ = external_app(organization=organization, name="Other")

    assert api.post(credentials_url(other_app), github).status_code == 201


def test_update_to_another_credentials_name_is_refused(api, app, github):
    credential_create(app, github)
    second = credential_create(app, {**github, "name": "Second"})

    response = api.put(credential_url(second), github)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    second.refresh_from_db()
    assert second.name == "Second"


def test_the_21st_credential_is_refused(api, app, github):
    for number in range(CREDENTIALS_PER_APP):
        credential_create(app, {**github, "name": f"Credential {number}"})

    response = api.post(credentials_url(app), {**github, "name": "One too many"})

    assert response.status_code == 400
    assert "20" in str(response.json()["errors"])
    assert FederatedCredential.objects.count() == CREDENTIALS_PER_APP


def _discovery_path(idp) -> str:
    return urlsplit(idp.discovery_url("github")).path


def _slow_past_the_deadline(idp, settings):
    settings.FEDERATION_FETCH_TIMEOUT_SECONDS = 1
    idp.slow(3)


@pytest.mark.parametrize(
    "misbehave",
    [
        pytest.param(lambda idp, settings: idp.down(), id="provider down"),
        pytest.param(lambda idp, settings: idp.non_json(_discovery_path(idp)), id="not JSON"),
        pytest.param(
            lambda idp, settings: idp.discovery_issuer("github", idp.issuer("github") + "/"),
            id="discovery names another issuer",
        ),
        pytest.param(lambda idp, settings: idp.jwks_without_rsa("github"), id="no RSA key"),
        pytest.param(
            lambda idp, settings: idp.redirect(
                _discovery_path(idp), "https://169.254.169.254/latest/meta-data/"
            ),
            id="redirect to the metadata address",
        ),
        pytest.param(lambda idp, settings: idp.oversized(_discovery_path(idp)), id="oversized"),
        pytest.param(_slow_past_the_deadline, id="slower than the deadline"),
    ],
)
def test_an_unreachable_or_invalid_issuer_is_refused_and_the_reason_audited(
    api, app, github, identity_provider, settings, misbehave
):
    # given
    misbehave(identity_provider, settings)

    # when
    response = api.post(credentials_url(app), github)

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {"issuer": [jwks.UNREACHABLE_MESSAGE]}
    assert not FederatedCredential.objects.exists()
    event = AuditEvent.objects.get(action="federated_credential.create")
    assert event.outcome == "failure"
    assert event.reason_code  # the precise reason, for the admin reading the audit log
    assert event.details["issuer"] == github["issuer"]


def test_an_issuer_that_is_not_allowlisted_is_refused(api, app, github, settings):
    settings.FEDERATION_OUTBOUND_ALLOWLIST = []

    response = api.post(credentials_url(app), github)

    assert response.status_code == 400
    assert response.json()["errors"] == {"issuer": [jwks.UNREACHABLE_MESSAGE]}
    assert AuditEvent.objects.get(outcome="failure").reason_code == "address_not_public"


def test_update_checks_the_issuer_again(api, app, github, identity_provider):
    credential = credential_create(app, github)
    identity_provider.down()

    response = api.put(credential_url(credential), {**github, "name": "Renamed"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["issuer"]
    credential.refresh_from_db()
    assert credential.name == "GitHub Actions"


# --- organizations, applications and scopes -----------------------------------------------


def test_unknown_foreign_and_mismatched_ids_are_one_identical_404(
    api, app, github, organization, other_admin_membership
):
    # given
    credential = credential_create(app, github)
    foreign_app, _ = external_app(organization=other_admin_membership.organization)
    foreign_credential = credential_create(foreign_app, github)
    sibling, _ = external_app(organization=organization, name="Sibling")
    org = organization.global_id

    # when
    responses = [
        api.get(f"{BASE}/{org}/no-such-client/FederatedCredentials"),
        api.get(credentials_url(foreign_app)),
        api.get(f"{BASE}/{org}/{foreign_app.client.client_id}/FederatedCredentials"),
        api.get(f"{credentials_url(sibling)}/{credential.pk}"),
        api.get(f"{credentials_url(app)}/{foreign_credential.pk}"),
        api.get(f"{credentials_url(app)}/not-a-uuid"),
        api.put(f"{credentials_url(sibling)}/{credential.pk}", github),
        api.delete(f"{credentials_url(sibling)}/{credential.pk}"),
        api.post(f"{BASE}/{org}/no-such-client/FederatedCredentials", github),
    ]

    # then
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert FederatedCredential.objects.count() == 2


def test_a_read_scope_reads_but_cannot_write(read_only_api, app, github):
    credential = credential_create(app, github)

    assert read_only_api.get(credentials_url(app)).status_code == 200
    assert read_only_api.get(credential_url(credential)).status_code == 200
    assert read_only_api.post(credentials_url(app), {**github, "name": "New"}).status_code == 403
    assert read_only_api.put(credential_url(credential), github).status_code == 403
    assert read_only_api.delete(credential_url(credential)).status_code == 403
    evaluate = f"{credentials_url(app)}/evaluate"
    assert read_only_api.post(evaluate, {"assertion": "a.b.c"}).status_code == 403
    assert FederatedCredential.objects.count() == 1


def test_a_token_without_the_apps_scope_is_refused(client, issue_token, app, organization):
    other, secret = client_with_secret(organization=organization, scopes=("OR.Machines",))
    api = Api(client, issue_token(other, secret))

    assert api.get(credentials_url(app)).status_code == 403


def test_without_a_token_the_answer_is_401(client, app):
    assert Api(client, None).get(credentials_url(app)).status_code == 401


def test_patch_is_not_offered(api, app, github):
    credential = credential_create(app, github)

    assert api.patch(credential_url(credential), {"name": "x"}).status_code == 405


def test_deleting_the_application_deletes_its_credentials(api, app, github):
    credential_create(app, github)

    response = api.delete(f"{BASE}/{app.organization.global_id}/{app.client.client_id}")

    assert response.status_code == 204
    assert not FederatedCredential.objects.exists()


# --- concurrency (PostgreSQL: SQLite serializes every write anyway) ---------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)


def _fire(requests: int, url: str, token: str, body_for) -> list[int]:
    """`requests` POSTs at once, each from its own thread and database connection."""
    barrier = threading.Barrier(requests)
    statuses = []

    def post(number):
        api = Api(Client(), token)
        barrier.wait()
        try:
            statuses.append(api.post(url, body_for(number)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.fixture
def committed(admin_membership, issue_token):
    """An application and a token, committed for the threads' own connections to see."""
    organization = admin_membership.organization
    app, _ = external_app(organization=organization)
    caller, secret = client_with_secret(organization=organization, scopes=("PM.OAuthApp",))
    return app, issue_token(caller, secret)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_creates_end_with_exactly_twenty(committed, github):
    # given
    app, token = committed

    # when
    statuses = _fire(30, credentials_url(app), token, lambda n: {**github, "name": f"C{n}"})

    # then
    assert sorted(statuses) == [201] * 20 + [400] * 10
    assert FederatedCredential.objects.filter(app=app).count() == 20


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_name_end_with_one_row(committed, github):
    # given
    app, token = committed

    # when
    statuses = _fire(10, credentials_url(app), token, lambda n: github)

    # then
    assert sorted(statuses) == [201] + [400] * 9
    assert FederatedCredential.objects.filter(app=app).count() == 1
