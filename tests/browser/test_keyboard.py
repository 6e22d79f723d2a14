"""Journey: the admin site with the keyboard alone. Every step reaches its control in the
page's tab order (Tab, never a click or a focus() call) and works it with Enter, Space or
typing: sign in, open a tenant's machines from the navigation, create a machine (a field
error on the way), generate a secret, and delete the machine through the confirmation
dialog."""

import re

from playwright.sync_api import expect

from machines.models import Machine
from tenants.tests.factories import PASSWORD

MAX_TABS = 80


def _tab_to(page, target) -> None:
    """Presses Tab until `target` has the focus; fails if it is not in the tab order."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} is not reachable with Tab")


def test_an_admin_signs_in_creates_a_machine_and_deletes_it_with_the_keyboard_alone(
    page, admin_membership
):
    # given
    user, organization = admin_membership.user, admin_membership.organization
    page.goto("/")

    # when: signing in
    _tab_to(page, page.get_by_label("Username"))
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    # then
    expect(page.get_by_role("heading", name="Your organizations")).to_be_visible()

    # when: the organization, its tenant, its machines, a new machine
    for link in (
        page.get_by_role("main").get_by_role("link", name=organization.name),
        page.get_by_role("main").get_by_role("link", name="DefaultTenant", exact=True),
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Machines"),
        page.get_by_role("link", name="New machine"),
    ):
        _tab_to(page, link)
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("machine", re.I))

    # when: submitted without a name
    _tab_to(page, page.get_by_role("button", name="Create machine"))
    page.keyboard.press("Enter")

    # then: the error beside the field, which the keyboard reaches next
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    _tab_to(page, name)
    page.keyboard.type("Keyboard host")
    _tab_to(page, page.get_by_role("button", name="Create machine"))
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", level=1)).to_have_text("Keyboard host")

    # when: a secret is generated
    _tab_to(page, page.get_by_role("button", name="Generate secret"))
    page.keyboard.press("Enter")

    # then: shown once, and its copy button is in the tab order
    once = page.get_by_role("region", name="Copy the client secret now")
    expect(once).to_be_visible()
    _tab_to(page, once.get_by_role("button", name="Copy"))

    # when: the machine is deleted, confirming in the dialog
    _tab_to(page, page.get_by_role("button", name="Delete machine"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    _tab_to(page, dialog.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")

    # then
    expect(page.get_by_role("status").first).to_contain_text("deleted")
    assert not Machine.objects.filter(name="Keyboard host").exists()
