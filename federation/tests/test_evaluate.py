"""The evaluate call (SPEC §5, beyond the seed): check by check, credential by credential,
why a token from the test identity provider would or would not be accepted."""

import time
from urllib.parse import urlsplit

import pytest

from federation.services import federated_credential_create
from federation.tests.factories import external_app
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import Api
from tenants.models import AuditEvent

SUBJECT = "repo:octo-org/octo-repo:ref:refs/heads/main"
AUDIENCE = "https://github.com/octo-org"


@pytest.fixture
def app(admin_membership):
    return external_app(organization=admin_membership.organization)[0]


@pytest.fixture
def api(client, issue_token, admin_membership):
    caller, secret = client_with_secret(
        organization=admin_membership.organization, scopes=("PM.OAuthApp.Write",)
    )
    return Api(client, issue_token(caller, secret))


@pytest.fixture
def credential(app, identity_provider):
    return federated_credential_create(
        app=app,
        actor=TEST_ACTOR,
        name="Deploy from main",
        issuer=identity_provider.issuer("github"),
        audience=AUDIENCE,
        subject=SUBJECT,
    )


def evaluate(api, app, assertion):
    url = (
        f"/identity_/api/ExternalClient/{app.organization.global_id}/{app.client.client_id}"
        "/FederatedCredentials/evaluate"
    )
    response = api.post(url, {"assertion": assertion})
    assert response.status_code == 200, response.content
    return response.json()


def checks(report) -> dict:
    return {check["check"]: check for check in report["checks"]}


def test_a_matching_token_passes_every_check(api, app, credential, identity_provider):
    body = evaluate(api, app, identity_provider.mint("github"))

    assert body["accepted"] is True
    assert {c["result"] for c in body["checks"]} == {"passed"}
    [report] = body["credentials"]
    assert (report["id"], report["name"], report["accepted"]) == (
        str(credential.pk),
        "Deploy from main",
        True,
    )
    assert [c["check"] for c in report["checks"]] == [
        "issuer",
        "subject",
        "audience",
        "signature",
        "times",
    ]
    assert {c["result"] for c in report["checks"]} == {"passed"}


def test_a_pull_request_subject_is_explained(api, app, credential, identity_provider):
    token = identity_provider.mint("github", claims={"sub": "repo:octo-org/octo-repo:pull_request"})

    report = evaluate(api, app, token)["credentials"][0]

    subject = checks(report)["subject"]
    assert report["accepted"] is False
    assert subject["result"] == "failed"
    assert SUBJECT in subject["detail"] and "pull_request" in subject["detail"]
    assert "pull_request" in subject["hint"] and "ref" in subject["hint"]
    assert checks(report)["issuer"]["result"] == "passed"


def test_a_subject_differing_only_by_case_is_explained(api, app, credential, identity_provider):
    token = identity_provider.mint(
        "github", claims={"sub": SUBJECT.replace("octo-org", "Octo-Org")}
    )

    subject = checks(evaluate(api, app, token)["credentials"][0])["subject"]

    assert subject["result"] == "failed"
    assert "case" in subject["hint"]


def test_an_issuer_with_a_trailing_slash_is_explained(api, app, credential, identity_provider):
    token = identity_provider.mint(
        "github", claims={"iss": identity_provider.issuer("github") + "/"}
    )

    issuer = checks(evaluate(api, app, token)["credentials"][0])["issuer"]

    assert issuer["result"] == "failed"
    assert "trailing slash" in issuer["hint"]


def test_an_audience_differing_by_blanks_is_explained(api, app, credential, identity_provider):
    token = identity_provider.mint("github", claims={"aud": AUDIENCE + " "})

    audience = checks(evaluate(api, app, token)["credentials"][0])["audience"]

    assert audience["result"] == "failed"
    assert "blanks" in audience["hint"]


def test_a_signature_by_another_key_fails_the_signature_check(
    api, app, credential, identity_provider
):
    token = identity_provider.mint("github")
    identity_provider.rotate_keys("github")  # the token's key leaves the JWKS

    signature = checks(evaluate(api, app, token)["credentials"][0])["signature"]

    assert signature["result"] == "failed"
    assert "kid" in signature["detail"]


def test_an_expired_token_fails_the_times_check(api, app, credential, identity_provider):
    token = identity_provider.mint("github", now=int(time.time()) - 3600, lifetime=300)

    times = checks(evaluate(api, app, token)["credentials"][0])["times"]

    assert times["result"] == "failed"
    assert "expired" in times["detail"]


@pytest.mark.parametrize(
    ("assertion", "failed"),
    [
        pytest.param("not a jwt", "format", id="not a JWT"),
        pytest.param("a" * 8193, "size", id="8193 bytes"),
    ],
)
def test_a_malformed_token_fails_its_own_checks_and_skips_the_rest(
    api, app, credential, assertion, failed
):
    body = evaluate(api, app, assertion)

    assert body["accepted"] is False
    assert checks(body)[failed]["result"] == "failed"
    assert {c["result"] for c in body["credentials"][0]["checks"]} == {"skipped"}


def test_a_wrong_algorithm_fails_the_algorithm_check(api, app, credential, identity_provider):
    token = identity_provider.mint("github", header={"alg": "RS512"})

    assert checks(evaluate(api, app, token))["algorithm"]["result"] == "failed"


def test_each_credential_gets_its_own_report(api, app, credential, identity_provider):
    federated_credential_create(
        app=app,
        actor=TEST_ACTOR,
        name="Kubernetes",
        issuer=identity_provider.issuer("k8s"),
        audience="https://kubernetes.default.svc.cluster.local",
        subject="system:serviceaccount:ci:runner",
    )

    body = evaluate(api, app, identity_provider.mint("k8s"))

    accepted = {report["name"]: report["accepted"] for report in body["credentials"]}
    assert accepted == {"Deploy from main": False, "Kubernetes": True}
    assert body["accepted"] is True


def test_evaluate_issues_no_token_and_changes_nothing(api, app, credential, identity_provider):
    events = AuditEvent.objects.count()

    body = evaluate(api, app, identity_provider.mint("github"))

    assert "access_token" not in body
    assert AuditEvent.objects.count() == events


def test_an_application_without_credentials_accepts_nothing(api, app, identity_provider):
    body = evaluate(api, app, identity_provider.mint("github"))

    assert (body["accepted"], body["credentials"]) == (False, [])


def test_evaluate_requires_an_assertion(api, app):
    url = (
        f"/identity_/api/ExternalClient/{app.organization.global_id}/{app.client.client_id}"
        "/FederatedCredentials/evaluate"
    )

    response = api.post(url, {"token": "x"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["assertion"]


def test_evaluate_reads_keys_through_the_token_paths_cache(api, app, credential, identity_provider):
    jwks_path = urlsplit(identity_provider.jwks_url("github")).path
    before = identity_provider.requests_for(jwks_path)

    for _ in range(2):
        assert evaluate(api, app, identity_provider.mint("github"))["accepted"] is True

    assert identity_provider.requests_for(jwks_path) == before + 1
