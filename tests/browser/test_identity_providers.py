"""The organization's sign-in identity providers (SPEC §9) in Chromium, against the live
server: an administrator adds one on the page (the kind presets filled in by site.js, the
issuer checked against the real HTTPS test identity provider, tests/idp.py) and lands on
its page with the redirect URI to register at the provider."""

import re

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
