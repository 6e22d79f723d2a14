"""Claims-matching expressions and trust-policy tests (SPEC §11) end to end: the
FederatedCredentials API, the token endpoint with real tokens from the test identity
provider (tests/idp.py), and evaluate's report term by term."""

import json

import pytest

from federation.models import FederatedCredential
from federation.tests.factories import external_app
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, assert_refused, assertion_form, failure_reasons
from identity_server.tokens import access_token_decode

BASE = "/identity_/api/ExternalClient"
TOKEN_URL = "/identity_/connect/token"
# What the test provider's GitHub tokens carry (tests/idp.py).
REPO = "repo:octo-org/octo-repo"
OWNER_ID = "65436504"
BRANCHES = f"claims['sub'] matches '{REPO}:ref:refs/heads/*'"
OWNED_BRANCHES = f"{BRANCHES} and claims['repository_owner_id'] eq '{OWNER_ID}'"


@pytest.fixture(autouse=True)
def families(identity_provider, settings):
    """The provider's GitHub and Kubernetes issuers are those families' (an operator lists
    its GitHub Enterprise or cluster issuers the same way)."""
    settings.FEDERATION_GITHUB_ISSUERS = [identity_provider.issuer("github")]
    settings.FEDERATION_KUBERNETES_ISSUERS = [identity_provider.issuer("k8s")]


@pytest.fixture
def app(organization):
    return external_app(organization=organization, scopes=("OR.Machines.Read",))[0]


@pytest.fixture
def api(client, issue_token, organization):
    script = client_with_secret(organization=organization, scopes=("PM.OAuthApp",), name="Script")
    return Api(client, issue_token(*script))


def url(app, credential_id: str | None = None) -> str:
    base = f"{BASE}/{app.organization.global_id}/{app.client.client_id}/FederatedCredentials"
    return f"{base}/{credential_id}" if credential_id else base


def body(identity_provider, shape="github", *, expression=OWNED_BRANCHES, **fields) -> dict:
    _, audience = identity_provider.subject_and_audience(shape)
    return {
        "name": f"{shape} branches",
        "issuer": identity_provider.issuer(shape),
        "audience": audience,
        "claimsMatchingExpression": (
            {"languageVersion": 1, "value": expression} if expression else None
        ),
        **fields,
    }


def create(api, app, payload) -> dict:
    response = api.post(url(app), payload)
    assert response.status_code == 201, response.content
    return response.json()


def exchange(client, app, assertion):
    return client.post(TOKEN_URL, assertion_form(app.client.client_id, assertion))


def errors(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["errors"]


def github_token(identity_provider, sub: str, **claims) -> str:
    return identity_provider.mint("github", claims={"sub": sub, **claims})


# --- the API -------------------------------------------------------------------------------


def test_an_expression_credential_is_created_read_and_listed(api, app, identity_provider):
    # when
    created = create(api, app, body(identity_provider))

    # then
    assert created["subject"] is None
    assert created["claimsMatchingExpression"] == {"languageVersion": 1, "value": OWNED_BRANCHES}
    assert (created["mustMatch"], created["mustNotMatch"]) == ([], [])
    assert api.get(url(app, created["id"])).json() == created
    assert api.get(url(app)).json() == [created]


def test_an_update_switches_between_subject_and_expression(api, app, identity_provider):
    # given
    created = create(api, app, body(identity_provider))
    subject = f"{REPO}:ref:refs/heads/main"

    # when: seed 004's body, a subject and no expression
    with_subject = {
        k: v for k, v in body(identity_provider).items() if k != "claimsMatchingExpression"
    }
    updated = api.put(url(app, created["id"]), {**with_subject, "subject": subject})

    # then
    assert updated.status_code == 200, updated.content
    assert (updated.json()["subject"], updated.json()["claimsMatchingExpression"]) == (
        subject,
        None,
    )

    # and back
    again = api.put(url(app, created["id"]), body(identity_provider))
    assert again.status_code == 200, again.content
    assert again.json()["subject"] is None
    assert again.json()["claimsMatchingExpression"]["value"] == OWNED_BRANCHES


def test_exactly_one_of_subject_and_expression(api, app, identity_provider):
    both = body(identity_provider, subject=f"{REPO}:ref:refs/heads/main")
    neither = body(identity_provider, expression=None)

    assert errors(api.post(url(app), both)) == {
        "claimsMatchingExpression": ["Give a subject or a claims-matching expression, not both."]
    }
    assert errors(api.post(url(app), neither)) == {
        "subject": ["Give a subject or a claims-matching expression."]
    }
    assert not FederatedCredential.objects.exists()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            f"claims['sub'] matches '{REPO}:*' or claims['sub'] eq 'x'",
            "Unexpected 'or' at 51: only 'and' is supported in language version 1.",
        ),
        (
            "claims['sub'] matches 'repo:*/octo-repo:*'",
            "No wildcard in the owner segment of a 'repo:{owner}/...' subject, at 29: it would "
            "trust every owner's workloads. Name the owner, e.g. 'repo:my-owner/...'.",
        ),
        (
            f"claims['sub'] matches '{REPO}:*' and claims['actor'] eq 'octocat'",
            "Claim 'actor' at 55 is not allowed for a GitHub Actions issuer; allowed: sub, "
            "repository, repository_id, repository_owner, repository_owner_id, ref, ref_type, "
            "environment, job_workflow_ref, workflow_ref, event_name, runner_environment.",
        ),
    ],
    ids=["grammar", "owner wildcard", "claim of another family"],
)
def test_a_refused_expression_is_a_field_keyed_400_that_says_where(
    api, app, identity_provider, expression, message
):
    # when
    response = api.post(url(app), body(identity_provider, expression=expression))

    # then: refused before the issuer is fetched
    assert errors(response) == {"claimsMatchingExpression": [message]}
    assert identity_provider.requests_served == 0


@pytest.mark.parametrize(
    "value",
    [
        "claims['sub'] eq 'x'",
        {"value": 7},
        {"languageVersion": 2, "value": "claims['sub'] eq 'x'"},
    ],
    ids=["a string", "a number", "version 2"],
)
def test_the_expression_object_is_checked(api, app, identity_provider, value):
    payload = {**body(identity_provider), "claimsMatchingExpression": value}

    assert list(errors(api.post(url(app), payload))) == ["claimsMatchingExpression"]


def test_the_claims_allowed_depend_on_the_issuer_family(api, app, identity_provider):
    entra = body(
        identity_provider,
        "entra",
        expression="claims['sub'] eq 'x' and claims['repository_owner_id'] eq '1'",
    )
    kubernetes = body(
        identity_provider,
        "k8s",
        expression="claims['sub'] matches 'system:serviceaccount:ci:*' and "
        "claims['kubernetes.io.namespace'] eq 'ci'",
    )

    assert (
        "not allowed for this issuer"
        in errors(api.post(url(app), entra))["claimsMatchingExpression"][0]
    )
    assert create(api, app, kubernetes)["claimsMatchingExpression"]


def test_the_same_expression_twice_is_refused(api, app, identity_provider):
    create(api, app, body(identity_provider))

    again = api.post(url(app), body(identity_provider, name="again"))

    assert list(errors(again)) == ["subject"]


# --- the token endpoint --------------------------------------------------------------------


def test_a_token_matching_the_expression_is_accepted_and_names_the_credential(
    client, api, app, identity_provider
):
    # given
    created = create(api, app, body(identity_provider))

    # when
    response = exchange(client, app, github_token(identity_provider, f"{REPO}:ref:refs/heads/dev"))

    # then
    assert response.status_code == 200, response.content
    claims = access_token_decode(response.json()["access_token"])
    assert claims["federated_credential_id"] == created["id"]
    assert FederatedCredential.objects.get(pk=created["id"]).last_used_at is not None


@pytest.mark.parametrize(
    ("sub", "claims"),
    [
        (f"{REPO}:ref:refs/heads/release/a/b", {}),
        (f"{REPO}:ref:refs/heads/main:evil", {}),
        (f"{REPO}:pull_request", {}),
        (f"{REPO}:ref:refs/heads/main", {"repository_owner_id": "1"}),
        ("repo:OCTO-ORG/octo-repo:ref:refs/heads/main", {}),
    ],
    ids=["nested branch", "extra segment", "pull request", "another owner id", "case"],
)
def test_a_token_the_expression_refuses_gets_no_token(
    client, api, app, identity_provider, sub, claims
):
    create(api, app, body(identity_provider))

    response = exchange(client, app, github_token(identity_provider, sub, **claims))

    assert_refused(response, "invalid_client", 401)
    assert failure_reasons() == ["no_credential_matched"]


def test_exact_credentials_match_first_then_expressions_in_creation_order(
    client, api, app, identity_provider
):
    # given: two expressions that both match, then an exact credential that matches too
    first = create(api, app, body(identity_provider, name="first", expression=BRANCHES))
    create(api, app, body(identity_provider, name="second"))
    token = github_token(identity_provider, f"{REPO}:ref:refs/heads/main")
    named = access_token_decode(exchange(client, app, token).json()["access_token"])
    assert named["federated_credential_id"] == first["id"]
    exact = create(
        api,
        app,
        body(
            identity_provider, name="exact", expression=None, subject=f"{REPO}:ref:refs/heads/main"
        ),
    )

    # when
    response = exchange(client, app, github_token(identity_provider, f"{REPO}:ref:refs/heads/main"))

    # then
    claims = access_token_decode(response.json()["access_token"])
    assert claims["federated_credential_id"] == exact["id"]


def test_a_matching_expression_with_another_audience_is_refused_for_the_audience(
    client, api, app, identity_provider
):
    create(api, app, body(identity_provider, audience="https://elsewhere.example"))

    response = exchange(client, app, github_token(identity_provider, f"{REPO}:ref:refs/heads/main"))

    assert_refused(response, "invalid_client", 401)
    assert failure_reasons() == ["no_credential_for_audience"]


def test_a_kubernetes_namespace_expression_accepts_its_service_accounts(
    client, api, app, identity_provider
):
    created = create(
        api,
        app,
        body(
            identity_provider,
            "k8s",
            expression="claims['sub'] matches 'system:serviceaccount:ci:*' and "
            "claims['kubernetes.io.namespace'] eq 'ci'",
        ),
    )

    accepted = exchange(client, app, identity_provider.mint("k8s"))
    other = identity_provider.mint("k8s", claims={"sub": "system:serviceaccount:prod:runner"})

    assert accepted.status_code == 200, accepted.content
    assert (
        access_token_decode(accepted.json()["access_token"])["federated_credential_id"]
        == (created["id"])
    )
    assert_refused(exchange(client, app, other), "invalid_client", 401)


def test_a_warm_exchange_through_an_expression_reads_nothing(
    client, api, app, identity_provider, django_assert_num_queries
):
    # given: twenty credentials, the matching one last
    for n in range(19):
        expression = f"claims['sub'] matches 'repo:octo-org/app-{n}:ref:refs/heads/*'"
        create(api, app, body(identity_provider, name=f"app {n}", expression=expression))
    last = create(api, app, body(identity_provider))
    assert exchange(client, app, github_token(identity_provider, f"{REPO}:ref:refs/heads/a"))
    served = identity_provider.requests_served

    # then
    with django_assert_num_queries(0):
        response = exchange(
            client, app, github_token(identity_provider, f"{REPO}:ref:refs/heads/b")
        )
    assert response.status_code == 200, response.content
    assert (
        access_token_decode(response.json()["access_token"])["federated_credential_id"]
        == (last["id"])
    )
    assert identity_provider.requests_served == served


# --- evaluate ------------------------------------------------------------------------------


def evaluate(api, app, assertion) -> dict:
    response = api.post(f"{url(app)}/evaluate", {"assertion": assertion})
    assert response.status_code == 200, response.content
    return response.json()


def test_evaluate_reports_each_term_of_an_accepted_token(api, app, identity_provider):
    create(api, app, body(identity_provider))
    sub = f"{REPO}:ref:refs/heads/main"

    report = evaluate(api, app, github_token(identity_provider, sub))["credentials"][0]

    assert report["accepted"] is True
    assert [c["check"] for c in report["checks"]] == [
        "issuer",
        "term 1",
        "term 2",
        "audience",
        "signature",
        "times",
    ]
    term = report["checks"][1]
    assert (term["result"], term["expected"], term["presented"]) == (
        "passed",
        f"{REPO}:ref:refs/heads/*",
        sub,
    )
    assert term["term"] == BRANCHES
    assert report["checks"][2]["presented"] == OWNER_ID


def test_evaluate_explains_a_refused_token_term_by_term(api, app, identity_provider):
    create(api, app, body(identity_provider))
    sub = f"{REPO}:ref:refs/heads/release/a/b"

    body_ = evaluate(api, app, github_token(identity_provider, sub, repository_owner_id="1"))

    assert body_["accepted"] is False
    checks = {c["check"]: c for c in body_["credentials"][0]["checks"]}
    assert (checks["term 1"]["result"], checks["term 1"]["presented"]) == ("failed", sub)
    assert "use '**'" in checks["term 1"]["hint"]
    assert (checks["term 2"]["result"], checks["term 2"]["expected"]) == ("failed", OWNER_ID)
    assert checks["term 2"]["presented"] == "1"
    assert checks["audience"]["result"] == "passed"


def test_evaluate_says_when_a_claim_is_missing(api, app, identity_provider):
    from tests.idp import REMOVE

    create(api, app, body(identity_provider))
    token = github_token(
        identity_provider, f"{REPO}:ref:refs/heads/main", repository_owner_id=REMOVE
    )

    checks = evaluate(api, app, token)["credentials"][0]["checks"]

    term = next(c for c in checks if c["check"] == "term 2")
    assert term["result"] == "failed"
    assert term["presented"] is None
    assert "no `repository_owner_id` claim" in term["detail"]


# --- trust-policy tests --------------------------------------------------------------------


def sample(ref: str, **claims) -> dict:
    return {"sub": f"{REPO}:{ref}", "repository_owner_id": OWNER_ID, **claims}


def test_samples_are_kept_and_shown(api, app, identity_provider):
    must, must_not = [sample("ref:refs/heads/main")], [sample("pull_request")]

    created = create(api, app, body(identity_provider, mustMatch=must, mustNotMatch=must_not))

    assert (created["mustMatch"], created["mustNotMatch"]) == (must, must_not)


@pytest.mark.parametrize(
    ("field", "samples", "message"),
    [
        (
            "mustMatch",
            [sample("ref:refs/heads/main"), sample("ref:refs/heads/release/a/b")],
            f"Trust-policy test mustMatch[1] (sub '{REPO}:ref:refs/heads/release/a/b') does not "
            "match this credential, and it must: the change is refused.",
        ),
        (
            "mustNotMatch",
            [sample("ref:refs/heads/evil")],
            f"Trust-policy test mustNotMatch[0] (sub '{REPO}:ref:refs/heads/evil') matches this "
            "credential, and it must not: the change is refused.",
        ),
        (
            "mustNotMatch",
            [sample("ref:refs/heads/x", aud="https://github.com/octo-org")],
            f"Trust-policy test mustNotMatch[0] (sub '{REPO}:ref:refs/heads/x') matches this "
            "credential, and it must not: the change is refused.",
        ),
    ],
    ids=["a must-match sample fails", "a must-not-match sample matches", "with its own aud"],
)
def test_create_refuses_a_credential_that_fails_its_samples(
    api, app, identity_provider, field, samples, message
):
    response = api.post(url(app), body(identity_provider, **{field: samples}))

    assert errors(response) == {field: [message]}
    assert not FederatedCredential.objects.exists()
    assert identity_provider.requests_served == 0


def test_a_sample_of_another_audience_or_issuer_does_not_match(api, app, identity_provider):
    other_audience = sample("ref:refs/heads/main", aud="https://elsewhere.example")
    other_issuer = sample("ref:refs/heads/main", iss="https://elsewhere.example")

    created = create(api, app, body(identity_provider, mustNotMatch=[other_audience, other_issuer]))

    assert len(created["mustNotMatch"]) == 2


def test_an_update_that_breaks_a_sample_is_refused_and_changes_nothing(api, app, identity_provider):
    # given: release branches, tested
    release = f"claims['sub'] matches '{REPO}:ref:refs/heads/release/*'"
    created = create(
        api,
        app,
        body(
            identity_provider,
            expression=release,
            mustMatch=[sample("ref:refs/heads/release/1.0")],
            mustNotMatch=[sample("ref:refs/heads/main")],
        ),
    )

    # when: a seed-004 client narrows it to main, not sending the samples
    narrowed = {k: v for k, v in body(identity_provider).items() if k != "claimsMatchingExpression"}
    narrowed["subject"] = f"{REPO}:ref:refs/heads/main"
    response = api.put(url(app, created["id"]), narrowed)

    # then: the kept samples refuse it, naming the first that breaks
    assert errors(response) == {
        "mustMatch": [
            f"Trust-policy test mustMatch[0] (sub '{REPO}:ref:refs/heads/release/1.0') does "
            "not match this credential, and it must: the change is refused."
        ]
    }
    credential = FederatedCredential.objects.get(pk=created["id"])
    assert (credential.subject, credential.claims_matching_expression) == ("", release)

    # when: widened to every branch, which the must-not-match sample forbids
    every_branch = f"claims['sub'] matches '{REPO}:ref:refs/heads/**'"
    widened = api.put(url(app, created["id"]), body(identity_provider, expression=every_branch))
    assert list(errors(widened)) == ["mustNotMatch"]
    assert "mustNotMatch[0]" in errors(widened)["mustNotMatch"][0]

    # when: the samples are replaced with the change, it is saved
    replaced = api.put(
        url(app, created["id"]),
        body(identity_provider, expression=every_branch, mustNotMatch=[sample("pull_request")]),
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["mustMatch"] == [sample("ref:refs/heads/release/1.0")]


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ("not a list", "Must be a list of sample claim sets (JSON objects)."),
        (["sub"], "Must be a list of sample claim sets (JSON objects)."),
        ([{}], "Sample 0 must be a non-empty JSON object of claims."),
        ([sample("pull_request")] * 11, "At most 10 samples."),
        ([{"sub": "x" * 5000}], "Sample 0 is longer than 4096 characters as JSON."),
        ([{"sub": "x", "aud": 7}], "Sample 0: `aud` must be a string or a list of strings."),
    ],
    ids=["not a list", "not objects", "empty", "too many", "too long", "bad aud"],
)
def test_samples_are_checked(api, app, identity_provider, samples, message):
    response = api.post(url(app), body(identity_provider, mustNotMatch=samples))

    assert errors(response) == {"mustNotMatch": [message]}


def test_samples_test_exact_credentials_too(api, app, identity_provider):
    exact = body(
        identity_provider,
        expression=None,
        subject=f"{REPO}:ref:refs/heads/main",
        mustMatch=[sample("ref:refs/heads/dev")],
    )

    assert "mustMatch[0]" in errors(api.post(url(app), exact))["mustMatch"][0]


# --- the admin site's form -----------------------------------------------------------------


def test_the_site_form_saves_an_expression_with_samples_and_clears_them(
    client, admin_membership, app, identity_provider
):
    # given
    client.force_login(admin_membership.user)
    pages = f"/{app.organization.slug}/portal_/apps/{app.client.client_id}/credentials/"
    _, audience = identity_provider.subject_and_audience("github")
    form = {
        "name": "Branches",
        "issuer": identity_provider.issuer("github"),
        "audience": audience,
        "subject": "",
        "claimsMatchingExpression": BRANCHES,
        "mustMatch": json.dumps([sample("ref:refs/heads/main")]),
        "mustNotMatch": "",
    }

    # when: added with a sample
    added = client.post(f"{pages}new/", form)

    # then
    assert added.status_code == 302, added.content.decode()[:2000]
    credential = FederatedCredential.objects.get(app=app)
    assert (credential.claims_matching_expression, credential.must_match) == (
        BRANCHES,
        [sample("ref:refs/heads/main")],
    )

    # when: edited with the sample's field emptied, and with text that is not JSON
    edit = f"{pages}{credential.pk}/edit/"
    not_json = client.post(edit, {**form, "mustNotMatch": "[{'sub': 'x'}]"})
    cleared = client.post(edit, {**form, "mustMatch": ""})

    # then: the API's message for the text; emptied means no samples
    assert "Must be a list of sample claim sets (JSON objects)." in not_json.content.decode()
    assert cleared.status_code == 302
    credential.refresh_from_db()
    assert credential.must_match == []
