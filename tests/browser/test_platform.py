"""Journey: a platform operator creates an organization from the home page, passes the new
administrator's password on, and a reload shows it no more and creates nothing."""

import re

from playwright.sync_api import expect

from tenants.models import Organization
from tenants.tests.factories import UserFactory


def test_an_operator_creates_an_organization_and_its_admin_signs_in(
    page, sign_in, browser, live_server
):
    # given: a platform operator on the home page
    sign_in(page, UserFactory(is_staff=True, is_superuser=True))
    page.goto("/")

    # when: a refused slug, then a good one
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("URL name").fill("Not a slug")
    page.get_by_label("Display name").fill("Acme")
    page.get_by_label("Administrator's username").fill("alice")
    page.get_by_role("button", name="Create organization").click()
    expect(page.locator("#id_slug_error")).to_contain_text(
        "Use 1 to 64 lowercase letters, digits and inner hyphens."
    )
    expect(page.get_by_label("Administrator's username")).to_have_value("alice")
    page.get_by_label("URL name").fill("acme")
    page.get_by_role("button", name="Create organization").click()

    # then: the organization, and the password once
    organization = Organization.objects.get(slug="acme")
    expect(page.get_by_role("main").get_by_role("status").first).to_contain_text(
        f"Organization “Acme” created: URL name acme, partitionGlobalId {organization.global_id}"
    )
    password = page.locator("#secret-once-value").input_value()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", password)
    page.reload()
    expect(page.locator("#secret-once-value")).to_have_count(0)
    expect(page.get_by_role("heading", name="New organization")).to_be_visible()
    assert Organization.objects.count() == 1

    # and the new administrator signs in with it and reaches the organization
    context = browser.new_context(base_url=live_server.url)
    admin = context.new_page()
    admin.goto("/accounts/login/")
    admin.get_by_label("Username").fill("alice")
    admin.get_by_label("Password").fill(password)
    admin.get_by_role("button", name="Sign in").click()
    admin.get_by_role("main").get_by_role("link", name="Acme", exact=True).click()
    expect(
        admin.get_by_role("main").get_by_role("link", name="DefaultTenant", exact=True)
    ).to_be_visible()
    context.close()
