"""The organization's sign-in identity providers (SPEC §9) in Chromium, against the live
server: an administrator adds one on the page (the kind presets filled in by site.js, the
issuer checked against the real HTTPS test identity provider, tests/idp.py) and lands on
its page with the redirect URI to register at the provider; then, with a real OpenID
provider nobody here wrote (panva's oidc-provider, tests/openid_provider.py), registers
this server there, saves its client ID and secret, and signs in through it."""

import re

import pytest
from playwright.sync_api import expect

from federation import services
from federation.models import IdentityProvider
from federation.tests.identity_providers import CLIENT_SECRET, oidc_issuer


def test_add_a_provider_with_the_kind_presets_and_copy_its_redirect_uri(
    admin_page, admin_membership, identity_provider, screenshot
):
    page = admin_page
    organization = admin_membership.organization
    issuer = oidc_issuer(identity_provider)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # given: the organization's page; the navigation leads to an empty list
    page.goto(f"/{organization.slug}/portal_/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Identity providers"
    ).click()
    expect(page.get_by_text("No identity providers yet")).to_be_visible()
    page.get_by_role("link", name="Add an identity provider").first.click()

    # when: Entra ID is chosen
    page.get_by_label("Kind").select_option("entra")

    # then: its subject claim, and the shape of its issuer
    expect(page.get_by_label("Subject claim")).to_have_value("oid")
    expect(page.get_by_label("Issuer")).to_have_attribute(
        "placeholder", "https://login.microsoftonline.com/{tenant-id}/v2.0"
    )

    # when: Google instead
    page.get_by_label("Kind").select_option("google")

    # then: Google's one issuer, and the default subject claim
    expect(page.get_by_label("Issuer")).to_have_value("https://accounts.google.com")
    expect(page.get_by_label("Subject claim")).to_have_value("sub")

    # when: the rest, with the test identity provider standing in for Google's issuer
    page.get_by_label("Name", exact=True).fill("Google Workspace")
    page.get_by_label("Issuer").fill(issuer)
    page.get_by_label("Client ID").fill("1234-abcd.apps.googleusercontent.com")
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("Allowed email domains").fill("example.com")
    page.get_by_label("Anyone the provider signs in").check()
    page.get_by_role("button", name="Add").click()

    # then: its page, with the redirect URI to register at the provider, which copies
    provider = IdentityProvider.objects.get(organization=organization)
    expect(page.get_by_role("heading", name="Google Workspace")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("was added")
    redirect_uri = page.get_by_role("textbox", name="Redirect URI")
    expect(redirect_uri).to_have_value(re.compile(rf"/accounts/idp/{provider.pk}/callback$"))
    page.get_by_role("button", name="Copy the redirect URI").click()
    assert page.evaluate("navigator.clipboard.readText()") == redirect_uri.input_value()
    expect(page.get_by_text("Set (stored encrypted, never shown)")).to_be_visible()
    assert CLIENT_SECRET not in page.content()
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET
    assert provider.provisioning == "jit_member"
    screenshot(page, "identity-provider")

    # when: back to the list
    page.get_by_role("link", name="Identity providers").first.click()

    # then
    row = page.get_by_role("row", name=re.compile("Google Workspace"))
    expect(row).to_contain_text("Google")
    expect(row).to_contain_text("Enabled")


CORP = "corp.example"


@pytest.fixture
def _plain_http_cookies(settings):
    # The live server speaks http; production cookies are Secure.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.mark.usefixtures("_plain_http_cookies")
def test_an_admin_registers_the_provider_and_signs_in_through_it(
    browser, live_server, admin_page, admin_membership, oidc_provider
):
    page = admin_page
    organization = admin_membership.organization
    admin = admin_membership.user
    admin.email = f"ada@{CORP}"
    admin.save(update_fields=["email"])
    oidc_provider.account("ada", email=admin.email, email_verified=True, name="Ada")

    # given: the provider added on the page, before this server is registered there
    page.goto(f"/{organization.slug}/portal_/identity-providers/new/")
    page.get_by_label("Name", exact=True).fill("Corp SSO")
    page.get_by_label("Issuer").fill(oidc_provider.issuer)
    page.get_by_label("Client ID").fill("not-yet-registered")
    page.get_by_label("Client secret").fill("not-yet-registered")
    page.get_by_label("Allowed email domains").fill(CORP)
    page.get_by_role("button", name="Add").click()
    redirect_uri = page.get_by_role("textbox", name="Redirect URI").input_value()

    # when: this server registered at the provider with that redirect URI, and the client
    # ID and secret it gave saved on the edit page
    client_id, client_secret = oidc_provider.register_client(redirect_uri)
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Client secret")).to_have_value("")
    page.get_by_label("Client ID").fill(client_id)
    page.get_by_label("Client secret").fill(client_secret)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("was saved")
    provider = IdentityProvider.objects.get(organization=organization)
    assert services.identity_provider_client_secret(provider) == client_secret
    assert client_secret not in page.content()

    # then: a fresh browser signs the admin in through the provider, from the sign-in page
    context = browser.new_context(base_url=live_server.url, ignore_https_errors=True)
    context.set_default_timeout(10000)
    visitor = context.new_page()
    try:
        visitor.goto("/accounts/login/")
        visitor.get_by_label("Work email").fill(admin.email)
        visitor.get_by_role("button", name="Continue").click()
        visitor.get_by_role("link", name="Sign in with Corp SSO").click()
        visitor.wait_for_url(re.compile(rf"/{organization.slug}/portal_/$"))
        expect(visitor.get_by_role("navigation", name="Main")).to_contain_text(organization.name)
        expect(visitor.get_by_text(admin.username).first).to_be_visible()
    finally:
        context.close()
    bound = provider.external_identities.get()
    assert bound.user == admin and bound.issuer == oidc_provider.issuer
