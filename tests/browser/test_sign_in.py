"""Journey: signing in through the form, and out."""

import re

from playwright.sync_api import expect

from tenants.tests.factories import PASSWORD


def test_a_wrong_password_shows_an_error_and_the_right_one_lands_on_the_organization(
    page, admin_membership
):
    # given
    user, organization = admin_membership.user, admin_membership.organization
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # when: a wrong password
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    # then: an error, the username kept
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value(user.username)

    # when: the right one
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # then: the organizations, then the organization's page with its tenant
    expect(page.get_by_role("heading", name="Your organizations")).to_be_visible()
    page.get_by_role("link", name=organization.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(organization.name)
    expect(
        page.get_by_role("main").get_by_role("link", name="DefaultTenant", exact=True)
    ).to_be_visible()
    expect(page.get_by_role("main").get_by_text("Administrator", exact=True)).to_be_visible()

    # and: both attempts are in the organization's audit log, newest first
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("user.sign_in")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("table").locator("tbody").get_by_role("row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Success")
    expect(rows.nth(1)).to_contain_text("Failure wrong_credentials")
    expect(rows.nth(1)).to_contain_text(f"{user.username} (user)")


def test_signing_out_ends_the_session(admin_page):
    # given
    admin_page.goto("/")
    expect(admin_page.get_by_role("heading", name="Your organizations")).to_be_visible()

    # when
    admin_page.get_by_role("button", name="Sign out").click()

    # then
    expect(admin_page.get_by_role("heading", name="Sign in")).to_be_visible()
    admin_page.goto("/")
    expect(admin_page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
