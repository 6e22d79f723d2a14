"""External applications and federated credentials in Chromium, against the live server and
the real HTTPS test identity provider (tests/idp.py; the `identity_provider` fixture lets
the server, in this process, fetch from it): create an application and a credential, see
an issuer refused and explained, and read why a token is refused."""

import re

from playwright.sync_api import expect

from federation.models import ExternalApp
from federation.services import federated_credential_create
from federation.tests.factories import external_app
from identity_server.tests.factories import TEST_ACTOR

AUDIENCE = "https://id.example.com/acme"
SUBJECT = "repo:acme/deploy:ref:refs/heads/main"


def test_create_an_application_and_a_federated_credential_against_the_identity_provider(
    admin_page, admin_membership, identity_provider
):
    page = admin_page
    organization = admin_membership.organization
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # given: the organization's page; the navigation leads to an empty list
    page.goto(f"/{organization.slug}/portal_/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="External applications"
    ).click()
    expect(page.get_by_text("No external applications yet")).to_be_visible()

    # when: a confidential application with two scopes from the catalogue
    page.get_by_role("link", name="Create an application").first.click()
    page.get_by_label("Name").fill("Deployments")
    expect(page.get_by_label("Confidential application")).to_be_checked()
    page.get_by_label("OR.Machines.Read").first.check()  # the application scope
    page.get_by_label("PM.OAuthApp", exact=False).first.check()
    page.get_by_role("button", name="Create").click()

    # then: its first secret, once, with a copy button that copies it
    expect(page.get_by_role("heading", name="Copy the client secret now")).to_be_visible()
    once = page.get_by_role("region", name="Copy the client secret now")
    secret = once.get_by_role("textbox", name="Client secret").input_value()
    assert secret.startswith("idsec_")
    once.get_by_role("button", name="Copy").click()
    expect(once.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    app = ExternalApp.objects.get(organization=organization)
    assert app.client.scopes == ["OR.Machines.Read", "PM.OAuthApp"]
    expect(page.get_by_role("status").first).to_contain_text("was created")
    expect(page.locator("dl.scopes")).to_contain_text("OR.Machines.Read")

    # when: a federated credential for the identity provider's GitHub issuer
    page.get_by_role("link", name="Federated credentials").first.click()
    expect(page.get_by_text("No federated credentials yet")).to_be_visible()
    page.get_by_role("link", name="Add a federated credential").first.click()
    _fill_credential(page, "GitHub main", identity_provider.issuer("github"))
    page.get_by_role("button", name="Add").click()

    # then: listed, with what a token must carry
    expect(page.get_by_role("status").first).to_have_text(
        "The federated credential “GitHub main” was added."
    )
    row = page.get_by_role("row", name=re.compile("GitHub main"))
    expect(row).to_contain_text(identity_provider.issuer("github"))
    expect(row).to_contain_text(SUBJECT)
    expect(page.get_by_text("1 of at most 20")).to_be_visible()

    # when: an issuer whose discovery document names another issuer (a trailing slash)
    page.get_by_role("link", name="Add a federated credential").click()
    wrong = identity_provider.issuer("github") + "/"
    _fill_credential(page, "GitHub with a slash", wrong)
    page.get_by_role("button", name="Add").click()

    # then: the API's precise cause beside the field, the address read, the input kept
    issuer = page.get_by_label("Issuer")
    expect(issuer).to_have_attribute("aria-invalid", "true")
    expect(issuer).to_have_value(wrong)
    expect(page.locator("#id_issuer_error")).to_have_text(
        f"The discovery document says `{identity_provider.issuer('github')}` without the "
        "trailing slash; enter the issuer exactly as that."
    )
    guidance = page.locator("#issuer-guidance")
    expect(guidance).to_contain_text(f"{wrong.rstrip('/')}/.well-known/openid-configuration")
    expect(page.get_by_label("Subject")).to_have_value(SUBJECT)
    assert app.federated_credentials.count() == 1


def _fill_credential(page, name: str, issuer: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Issuer").fill(issuer)
    page.get_by_label("Audience").fill(AUDIENCE)
    page.get_by_label("Subject").fill(SUBJECT)


def test_evaluate_a_mismatching_token_and_read_the_failing_check(
    admin_page, admin_membership, identity_provider, screenshot
):
    # given: an application with two credentials
    page = admin_page
    app = external_app(organization=admin_membership.organization, scopes=("OR.Machines",))[0]
    for name, shape, subject in [
        ("GitHub main", "github", SUBJECT),
        ("Cluster runner", "k8s", "system:serviceaccount:ci:runner"),
    ]:
        federated_credential_create(
            app=app,
            actor=TEST_ACTOR,
            name=name,
            description=f"Deploys from {shape}",
            issuer=identity_provider.issuer(shape),
            audience=AUDIENCE,
            subject=subject,
        )
    # ...and a token for the same repository, but from a pull request
    token = identity_provider.mint(
        "github", claims={"sub": "repo:acme/deploy:pull_request", "aud": AUDIENCE}
    )
    page.goto(f"/{app.organization.slug}/portal_/apps/{app.client.client_id}/credentials/")

    # when
    page.get_by_label("Token (JWT)").fill(token)
    page.get_by_role("button", name="Evaluate").click()

    # then: refused; GitHub main fails on the subject, with the hint
    expect(page.get_by_text("No credential accepts this token")).to_be_visible()
    github = page.get_by_role("table", name=re.compile("Credential “GitHub main”"))
    expect(github.get_by_role("caption")).to_contain_text("Refuses the token")
    subject_row = github.get_by_role("row", name=re.compile("^Subject"))
    expect(subject_row).to_contain_text("Failed")
    expect(subject_row).to_contain_text("for a `pull_request` context")
    for passed in ("Issuer", "Audience", "Signature", "Times"):
        expect(github.get_by_role("row", name=re.compile(f"^{passed}"))).to_contain_text("Passed")
    cluster = page.get_by_role("table", name=re.compile("Credential “Cluster runner”"))
    expect(cluster.get_by_role("row", name=re.compile("^Issuer"))).to_contain_text("Failed")
    expect(page.get_by_label("Token (JWT)")).to_have_value(token)
    screenshot(page, "federated-credentials")
