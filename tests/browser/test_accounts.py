"""Journeys of local accounts (SPEC §9) in a browser, with a real SMTP server on loopback
(tests/smtp.py): a forgotten password reset through the mailed link, and a new member
invited by an administrator setting their own password."""

import re

from playwright.sync_api import expect

from tenants.tests.factories import MembershipFactory, UserFactory
from tests.smtp import message_link

NEW_PASSWORD = "a passphrase of my own 31"


def test_a_forgotten_password_is_reset_through_the_mailed_link(page, smtp_server, live_server):
    # given
    member = MembershipFactory(user=UserFactory(username="ada", email="ada@example.com"))
    page.goto("/accounts/login/")

    # when: she asks for a link
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send the link").click()

    # then
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    # when: she opens it and chooses a new password
    link = message_link(smtp_server.wait_for(1)[0])
    assert link.startswith(live_server.url)
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/set-password/$"))  # the token left the address
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()

    # then: she signs in with it
    expect(page.get_by_role("heading", name="Your password is changed")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=member.organization.name)).to_be_visible()

    # and: the link does not work twice
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("This link does not work")


def test_an_invited_member_sets_their_own_password(admin_page, admin_membership, smtp_server):
    # given
    organization = admin_membership.organization
    admin_page.goto(f"/{organization.slug}/portal_/members/")

    # when: the admin adds a new account with its address
    admin_page.get_by_label("Username").fill("bruno")
    admin_page.get_by_label("Email").fill("bruno@example.com")
    admin_page.get_by_role("button", name="Add member").click()

    # then: no password to pass on
    expect(admin_page.get_by_role("status").first).to_contain_text(
        "an invitation to set a password was sent"
    )
    expect(admin_page.locator(".secret-once")).to_have_count(0)
    expect(admin_page.get_by_role("main")).to_contain_text("invited")

    # when: the invitee opens the mailed link in their own browser
    page = admin_page.context.browser.new_page()
    page.goto(message_link(smtp_server.wait_for(1)[0]))
    expect(page.get_by_role("main")).to_contain_text("Your username is bruno")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()

    # then
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("bruno")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=organization.name)).to_be_visible()
    page.close()
