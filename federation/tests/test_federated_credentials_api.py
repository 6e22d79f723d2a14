"""Seed 004's federated credentials API end to end: real tokens from the token endpoint,
the real database, and issuers served by the test identity provider (tests/idp.py)."""

import threading

import pytest
from django.db import connection
from django.test import Client

from federation.models import CREDENTIALS_PER_APP, FederatedCredential
from federation.tests.factories import external_app, stored_credential
from federation.tests.issuer_causes import CAUSES
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
        # SPEC §11: unused by seed 004's clients, and null or empty for them.
        "claimsMatchingExpression": None,
        "mustMatch": [],
        "mustNotMatch": [],
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
    second = credential_create(app, {**github, "name": "Second", "subject": "repo:a/b:env:x"})

    response = api.put(credential_url(second), {**github, "subject": "repo:a/b:env:x"})

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "name": ["A federated credential with this name already exists in this application."]
    }
    second.refresh_from_db()
    assert second.name == "Second"


# --- one credential per (issuer, subject, audience) ---------------------------------------

CLAIMS_TAKEN = {
    "subject": [
        "Another federated credential of this application already has this issuer, subject "
        "and audience."
    ]
}


def test_a_second_credential_with_the_same_issuer_subject_and_audience_is_refused(
    api, app, github, identity_provider
):
    # given
    credential_create(app, github)
    served = identity_provider.requests_served

    # when
    response = api.post(credentials_url(app), {**github, "name": "Same workload again"})

    # then: refused before the issuer is fetched
    assert response.status_code == 400
    assert response.json()["errors"] == CLAIMS_TAKEN
    assert identity_provider.requests_served == served
    assert FederatedCredential.objects.count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": "repo:myorg/myrepo:ref:refs/heads/dev"}, id="another subject"),
        pytest.param({"audience": "https://cloud.uipath.com/other"}, id="another audience"),
        pytest.param({"subject": "REPO:myorg/myrepo:ref:refs/heads/main"}, id="subject's case"),
    ],
)
def test_a_credential_differing_in_one_claim_is_fine(api, app, github, changes):
    credential_create(app, github)

    response = api.post(credentials_url(app), {**github, "name": "Another", **changes})

    assert response.status_code == 201, response.content


def test_another_issuer_with_the_same_subject_and_audience_is_fine(
    api, app, github, identity_provider
):
    credential_create(app, github)
    body = {**github, "name": "Cluster", "issuer": identity_provider.issuer("k8s")}

    assert api.post(credentials_url(app), body).status_code == 201


def test_the_same_claims_in_another_application_are_fine(api, app, github, organization):
    credential_create(app, github)
    other_app, _ = external_app(organization=organization, name="Other")

    assert api.post(credentials_url(other_app), github).status_code == 201


def test_update_to_another_credentials_claims_is_refused(api, app, github):
    credential_create(app, github)
    dev = {**github, "name": "Dev", "subject": "repo:myorg/myrepo:ref:refs/heads/dev"}
    second = credential_create(app, dev)

    response = api.put(credential_url(second), {**dev, "subject": github["subject"]})

    assert response.status_code == 400
    assert response.json()["errors"] == CLAIMS_TAKEN
    second.refresh_from_db()
    assert second.subject == dev["subject"]


def test_the_database_refuses_the_same_claims_twice(app, github):
    """The constraint behind the check, for two requests that both passed it."""
    from django.db import IntegrityError, transaction

    credential_create(app, github)

    with (
        pytest.raises(IntegrityError, match="federated_credential_claims_unique_in_app"),
        transaction.atomic(),
    ):
        FederatedCredential.objects.create(app=app, **{**github, "name": "Raced"})


# --- the limit ------------------------------------------------------------------------------


def test_the_21st_credential_is_refused_before_its_issuer_is_fetched(
    api, app, github, identity_provider
):
    # given
    for number in range(CREDENTIALS_PER_APP):
        credential_create(
            app, {**github, "name": f"C{number}", "subject": f"repo:a/b:env:{number}"}
        )
    served = identity_provider.requests_served

    # when
    response = api.post(credentials_url(app), {**github, "name": "One too many"})

    # then: no outbound request for it
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "federatedCredentials": [
            "An application has at most 20 federated credentials; delete one first."
        ]
    }
    assert identity_provider.requests_served == served
    assert FederatedCredential.objects.count() == CREDENTIALS_PER_APP


def test_updating_a_credential_of_a_full_application_is_fine(api, app, github):
    for number in range(CREDENTIALS_PER_APP):
        credential_create(
            app, {**github, "name": f"C{number}", "subject": f"repo:a/b:env:{number}"}
        )
    last = FederatedCredential.objects.get(name="C19")

    response = api.put(credential_url(last), {**github, "name": "Renamed", "subject": "s"})

    assert response.status_code == 200, response.content


# --- public applications ------------------------------------------------------------------

PUBLIC_REFUSED = {
    "federatedCredentials": [
        "A public (non-confidential) application cannot have federated credentials: only a "
        "confidential client may use the client credentials grant (RFC 6749 §4.4). Use a "
        "confidential application."
    ]
}


@pytest.fixture
def public_app(organization):
    return external_app(organization=organization, confidential=False, name="Public")[0]


def test_a_public_application_cannot_get_a_credential(api, public_app, github, identity_provider):
    # when
    response = api.post(credentials_url(public_app), github)

    # then: refused before the issuer is fetched, and nothing stored
    assert response.status_code == 400
    assert response.json()["errors"] == PUBLIC_REFUSED
    assert identity_provider.requests_served == 0
    assert not FederatedCredential.objects.exists()


def test_a_public_applications_stored_credential_cannot_be_updated_only_deleted(
    api, public_app, github
):
    """A row from before this rule: the token endpoint refuses it (unauthorized_client)."""
    # given
    credential = stored_credential(app=public_app)

    # when
    updated = api.put(credential_url(credential), github)
    deleted = api.delete(credential_url(credential))

    # then
    assert updated.status_code == 400
    assert updated.json()["errors"] == PUBLIC_REFUSED
    assert deleted.status_code == 204


def test_an_application_with_credentials_cannot_become_public(api, app, github):
    # given
    credential_create(app, github)
    url = f"{BASE}/{app.organization.global_id}/{app.client.client_id}"

    # when
    response = api.put(url, {"name": app.name, "isConfidential": False})

    # then: an application's type is fixed at creation, so its credentials stay usable
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "isConfidential": ["An application's type is set when it is created; create another."]
    }
    app.client.refresh_from_db()
    assert app.client.is_confidential
    assert FederatedCredential.objects.filter(app=app).count() == 1


# --- names and descriptions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        pytest.param("name", "Deploy\r\nX-Injected: 1", "U+000D CARRIAGE RETURN", id="CR LF"),
        pytest.param("name", "Deploy\nprod", "U+000A LINE FEED", id="LF"),
        pytest.param("name", "Deploy\tprod", "U+0009 TAB", id="TAB"),
        pytest.param("name", "Deploy\x1bprod", "U+001B", id="ESC"),
        pytest.param("name", "Deploy\x85prod", "U+0085", id="C1 NEL"),
        pytest.param("name", "Deploy\x7fprod", "U+007F", id="DEL"),
        pytest.param("name", "Deploy\u2028prod", "U+2028 LINE SEPARATOR", id="line separator"),
    ],
)
def test_names_refuse_control_characters(api, app, github, field, value, found):
    response = api.post(credentials_url(app), {**github, field: value})

    assert response.status_code == 400
    assert response.json()["errors"] == {
        field: [
            "Must not contain control characters (line breaks, tabs, NUL and the like); "
            f"found {found}."
        ]
    }
    assert not FederatedCredential.objects.exists()


@pytest.mark.parametrize(
    ("character", "found"),
    [
        pytest.param("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE", id="RLO"),
        pytest.param("\u202a", "U+202A LEFT-TO-RIGHT EMBEDDING", id="LRE"),
        pytest.param("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE", id="LRI"),
        pytest.param("\u2069", "U+2069 POP DIRECTIONAL ISOLATE", id="PDI"),
        pytest.param("\u200f", "U+200F RIGHT-TO-LEFT MARK", id="RLM"),
        pytest.param("\u200e", "U+200E LEFT-TO-RIGHT MARK", id="LRM"),
    ],
)
@pytest.mark.parametrize("field", ["name", "description"])
def test_names_and_descriptions_refuse_bidirectional_controls(
    api, app, github, field, character, found
):
    response = api.post(credentials_url(app), {**github, field: f"Deploy{character}gnp.exe"})

    assert response.status_code == 400
    assert response.json()["errors"] == {
        field: [f"Must not contain Unicode bidirectional formatting characters; found {found}."]
    }


def test_a_description_keeps_its_line_breaks_but_refuses_other_controls(api, app, github):
    multiline = {**github, "description": "Deploys main.\r\nOwner:\tplatform team"}
    assert api.post(credentials_url(app), multiline).status_code == 201

    response = api.post(
        credentials_url(app), {**github, "name": "Other", "description": "bell\x07"}
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "description": [
            "Must not contain control characters other than line breaks and tabs; found U+0007."
        ]
    }


def test_a_nul_is_refused_by_the_parser(api, app, github):
    response = api.post(credentials_url(app), {**github, "name": "Deploy\x00prod"})

    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Null characters are not allowed."]}


def test_update_refuses_a_name_with_a_control_character(api, app, github):
    credential = credential_create(app, github)

    response = api.put(credential_url(credential), {**github, "name": "A\u202eB"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    credential.refresh_from_db()
    assert credential.name == github["name"]


def test_names_in_other_scripts_and_emoji_are_fine(api, app, github):
    body = {**github, "name": "部署 / déploiement 🚀", "description": "נשלח מ-main"}

    assert api.post(credentials_url(app), body).status_code == 201


@pytest.mark.parametrize("method", ["post", "put"])
def test_application_names_refuse_them_too(api, app, organization, method):
    body = {"name": "Deploy\u202eexe.png", "partitionGlobalId": str(organization.global_id)}
    url = BASE if method == "post" else f"{BASE}/{organization.global_id}/{app.client.client_id}"

    response = getattr(api, method)(url, body)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "name": [
            "Must not contain Unicode bidirectional formatting characters; found U+202E "
            "RIGHT-TO-LEFT OVERRIDE."
        ]
    }
    app.refresh_from_db()
    assert app.name == "Deployments"


@pytest.mark.parametrize("cause", CAUSES)
def test_a_refused_issuer_is_answered_with_its_precise_cause_and_audited(
    api, app, github, identity_provider, settings, cause
):
    # given
    typed = cause.provoke(identity_provider, settings) or github["issuer"]

    # when
    response = api.post(credentials_url(app), {**github, "issuer": typed})

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {"issuer": [cause.message(identity_provider)]}
    assert not FederatedCredential.objects.exists()
    event = AuditEvent.objects.get(action="federated_credential.create")
    assert (event.outcome, event.reason_code) == ("failure", cause.reason)
    assert event.details["issuer"] == typed
    assert event.details["detail"]  # the operator's sentence


def test_update_answers_the_precise_cause_too(api, app, github, identity_provider):
    # given
    credential = credential_create(app, github)
    identity_provider.discovery_issuer("github", "https://elsewhere.example")

    # when
    response = api.put(credential_url(credential), {**github, "name": "Renamed"})

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "issuer": [
            "The discovery document's issuer is `https://elsewhere.example`, not "
            f"`{github['issuer']}`."
        ]
    }
    event = AuditEvent.objects.get(action="federated_credential.update")
    assert event.reason_code == "issuer_mismatch"


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


def _fire(requests: int, url: str, token: str, body_for) -> list[tuple[int, dict]]:
    """`requests` POSTs at once, each from its own thread and database connection: their
    statuses and JSON bodies."""
    barrier = threading.Barrier(requests)
    statuses = []

    def post(number):
        api = Api(Client(), token)
        barrier.wait()
        try:
            response = api.post(url, body_for(number))
            statuses.append((response.status_code, response.json()))
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
    statuses = _fire(
        30,
        credentials_url(app),
        token,
        lambda n: {**github, "name": f"C{n}", "subject": f"repo:a/b:env:{n}"},
    )

    # then
    assert sorted(status for status, _ in statuses) == [201] * 20 + [400] * 10
    assert FederatedCredential.objects.filter(app=app).count() == 20


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_name_end_with_one_row(committed, github):
    # given
    app, token = committed

    # when
    statuses = _fire(10, credentials_url(app), token, lambda n: github)

    # then
    assert sorted(status for status, _ in statuses) == [201] + [400] * 9
    assert FederatedCredential.objects.filter(app=app).count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_issuer_subject_and_audience_end_with_one_row(
    committed, github
):
    # given
    app, token = committed

    # when: each passes the check before the fetch; the database's constraint decides
    statuses = _fire(10, credentials_url(app), token, lambda n: {**github, "name": f"C{n}"})

    # then
    assert sorted(status for status, _ in statuses) == [201] + [400] * 9
    assert FederatedCredential.objects.filter(app=app).count() == 1
    assert [body["errors"] for status, body in statuses if status == 400] == [CLAIMS_TAKEN] * 9
