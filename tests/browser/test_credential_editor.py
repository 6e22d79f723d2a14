"""The federated credential form's expression editor (SPEC §11) in Chromium, against the
live server and the HTTPS test identity provider: presets build the subject or the
expression, the server's refusals (grammar, trust-policy tests) show beside their fields,
and evaluate explains a token term by term."""

import json
import re

import pytest
from playwright.sync_api import expect

from federation.models import FederatedCredential
from federation.tests.factories import external_app

REPO = "repo:octo-org/octo-repo"


@pytest.fixture
def app(admin_membership, identity_provider, settings):
    settings.FEDERATION_GITHUB_ISSUERS = [identity_provider.issuer("github")]
    return external_app(organization=admin_membership.organization, scopes=("OR.Machines",))[0]


def credentials_page(app) -> str:
    return f"/{app.organization.slug}/portal_/apps/{app.client.client_id}/credentials/"


def preset(page, kind: str, **values) -> None:
    page.get_by_label("Preset").select_option(label=kind)
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Fill in").click()


def test_presets_build_the_subject_or_the_expression(admin_page, app):
    page = admin_page
    page.goto(credentials_page(app) + "new/")
    owner, repository = "Owner (user or organization)", "Repository"

    # a branch with a wildcard: an expression, GitHub's issuer
    preset(
        page,
        "GitHub Actions: a branch",
        **{
            owner: "octo-org",
            repository: "octo-repo",
            "Branch (* within a segment, ** across /)": "release/*",
        },
    )
    expect(page.get_by_label("Claims-matching expression")).to_have_value(
        f"claims['sub'] matches '{REPO}:ref:refs/heads/release/*'"
    )
    expect(page.locator("#id_subject")).to_have_value("")
    expect(page.get_by_label("Issuer")).to_have_value("https://token.actions.githubusercontent.com")

    # pull requests: an exact subject, and the expression cleared
    preset(page, "GitHub Actions: pull requests", **{owner: "octo-org", repository: "octo-repo"})
    expect(page.locator("#id_subject")).to_have_value(f"{REPO}:pull_request")
    expect(page.get_by_label("Claims-matching expression")).to_have_value("")

    # Entra: the tenant's issuer and the usual audience
    preset(
        page,
        "Entra ID: a managed identity",
        **{"Directory (tenant) ID": "tid-1", "Object (principal) ID": "oid-1"},
    )
    expect(page.get_by_label("Issuer")).to_have_value(
        "https://login.microsoftonline.com/tid-1/v2.0"
    )
    expect(page.get_by_label("Audience")).to_have_value("api://AzureADTokenExchange")
    expect(page.locator("#id_subject")).to_have_value("oid-1")

    # Kubernetes, any service account of a namespace; a value left out is asked for
    page.get_by_label("Preset").select_option(label="Kubernetes: a service account")
    page.get_by_label("Kubernetes namespace").fill("ci")
    page.get_by_role("button", name="Fill in").click()
    expect(page.locator("#preset-result")).to_have_text(
        "Fill in Service account (* for any) first."
    )
    page.get_by_label("Service account (* for any)").fill("*")
    page.get_by_role("button", name="Fill in").click()
    expect(page.get_by_label("Claims-matching expression")).to_have_value(
        "claims['sub'] matches 'system:serviceaccount:ci:*'"
    )

    # Google Cloud
    preset(
        page,
        "Google Cloud: a service account",
        **{"Service account's unique ID (21 digits)": "108815346920384756123"},
    )
    expect(page.get_by_label("Issuer")).to_have_value("https://accounts.google.com")
    expect(page.locator("#id_subject")).to_have_value("108815346920384756123")


def test_an_expression_credential_with_tests_is_saved_refused_and_evaluated(
    admin_page, app, identity_provider, screenshot
):
    page = admin_page
    page.goto(credentials_page(app) + "new/")
    audience = identity_provider.subject_and_audience("github")[1]
    page.get_by_label("Name", exact=True).fill("Release branches")
    page.get_by_label("Issuer").fill(identity_provider.issuer("github"))
    page.get_by_label("Audience").fill(audience)

    # when: a grammar error
    expression = page.get_by_label("Claims-matching expression")
    expression.fill(
        f"claims['sub'] matches '{REPO}:ref:refs/heads/release/*' or claims['sub'] eq 'x'"
    )
    page.get_by_role("button", name="Add").click()

    # then: the API's message beside the field, the input kept
    expect(page.locator("#id_claimsMatchingExpression_error")).to_have_text(
        "Unexpected 'or' at 74: only 'and' is supported in language version 1."
    )

    # when: a must-not-match sample that the expression matches
    expression.fill(f"claims['sub'] matches '{REPO}:ref:refs/heads/release/*'")
    page.get_by_label("Must match (trust-policy test)").fill(
        json.dumps([{"sub": f"{REPO}:ref:refs/heads/release/1.0"}])
    )
    page.get_by_label("Must not match (trust-policy test)").fill(
        json.dumps([{"sub": f"{REPO}:ref:refs/heads/release/evil"}])
    )
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#id_mustNotMatch_error")).to_contain_text(
        f"Trust-policy test mustNotMatch[0] (sub '{REPO}:ref:refs/heads/release/evil') matches"
    )

    # when: a sample that is right
    page.get_by_label("Must not match (trust-policy test)").fill(
        json.dumps([{"sub": f"{REPO}:ref:refs/heads/main"}])
    )
    page.get_by_role("button", name="Add").click()

    # then
    expect(page.get_by_role("status").first).to_have_text(
        "The federated credential “Release branches” was added."
    )
    row = page.get_by_role("row", name=re.compile("Release branches"))
    expect(row).to_contain_text("Expression:")
    expect(row).to_contain_text("Trust-policy tests: 1 must match, 1 must not")
    credential = FederatedCredential.objects.get(app=app)
    assert credential.subject == ""
    assert credential.must_not_match == [{"sub": f"{REPO}:ref:refs/heads/main"}]

    # when: the edit form shows what was saved
    page.get_by_role("link", name=re.compile("Edit")).click()
    expect(page.get_by_label("Claims-matching expression")).to_have_value(
        credential.claims_matching_expression
    )
    assert json.loads(page.get_by_label("Must match (trust-policy test)").input_value()) == (
        credential.must_match
    )
    page.get_by_role("link", name="Cancel").click()

    # when: a token from a nested branch is evaluated
    token = identity_provider.mint("github", claims={"sub": f"{REPO}:ref:refs/heads/release/a/b"})
    page.get_by_label("Token (JWT)").fill(token)
    page.get_by_role("button", name="Evaluate").click()

    # then: the term failed, with what it expected and the hint
    table = page.get_by_role("table", name=re.compile("Credential “Release branches”"))
    term = table.get_by_role("row", name=re.compile("^Term 1"))
    expect(term).to_contain_text("Failed")
    expect(term).to_contain_text(f"{REPO}:ref:refs/heads/release/a/b")
    expect(term).to_contain_text("use '**'")
    screenshot(page, "federated-credentials-expression")
