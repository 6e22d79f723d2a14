"""Journeys: tenants, members and settings of an organization and a tenant."""

import re

from playwright.sync_api import expect

from tenants.models import AuditEvent, Membership, Setting
from tenants.tests.factories import MembershipFactory

PERIOD = "Scalability.Heartbeat.PeriodSeconds"


def test_create_a_tenant_then_rename_it(admin_page, admin_membership):
    organization = admin_membership.organization
    page = admin_page
    page.goto(f"/{organization.slug}/portal_/")

    # when: created from the Tenants page, reached through the navigation
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tenants").click()
    page.get_by_label("Tenant name").fill("9lives")
    page.get_by_role("button", name="Create tenant").click()

    # then: the refusal beside the field, the input kept
    name = page.get_by_label("Tenant name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_name_error")).to_contain_text("Start with a letter")
    expect(name).to_have_value("9lives")

    name.fill("Finance")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("status")).to_have_text("Tenant “Finance” created.")
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="Finance", exact=True)).to_be_visible()

    # when: renamed
    page.get_by_role("link", name="Rename Finance").click()
    expect(page.get_by_label("Tenant name")).to_have_value("Finance")
    page.get_by_label("Tenant name").fill("Accounting")
    page.get_by_role("button", name="Rename").click()

    # then
    expect(page.get_by_role("status")).to_have_text("Tenant “Finance” renamed to “Accounting”.")
    expect(table.get_by_role("link", name="Accounting", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="Finance", exact=True)).to_have_count(0)
    table.get_by_role("link", name="Accounting", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/{organization.slug}/Accounting/portal_/$"))
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name"))
    user = admin_membership.user.username
    # settings.TENANT_CREATED_HOOKS: the new tenant's built-in credential store comes with it.
    assert actions == [
        ("tenant.create", user),
        ("credential_store.create", user),
        ("tenant.rename", user),
    ]


def test_add_a_new_account_see_its_password_once_then_remove_it(admin_page, admin_membership):
    organization = admin_membership.organization
    page = admin_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/{organization.slug}/portal_/members/")

    # when: a username nobody has
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Add member").click()

    # then: its password, once, with a copy button that copies it
    secret = page.get_by_role("textbox", name="Password")
    expect(page.get_by_text("will not be shown again")).to_be_visible()
    password = secret.input_value()
    assert len(password) >= 16
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == password
    page.goto(f"/{organization.slug}/portal_/members/")
    expect(page.get_by_text("will not be shown again")).to_have_count(0)

    # when: removed, through the confirmation dialog
    row = page.get_by_role("row", name=re.compile("newcomer"))
    row.get_by_role("button", name="Remove").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Remove “newcomer” from the organization?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Membership.objects.filter(user__username="newcomer").exists()
    row.get_by_role("button", name="Remove").click()
    dialog.get_by_role("button", name="Remove").click()

    # then
    expect(page.get_by_role("status")).to_contain_text("“newcomer” removed")
    expect(page.get_by_role("row", name=re.compile("newcomer"))).to_have_count(0)


def test_a_member_reads_without_write_controls(page, sign_in, admin_membership):
    member = MembershipFactory(organization=admin_membership.organization, role="member")
    sign_in(page, member.user)

    page.goto(f"/{admin_membership.organization.slug}/DefaultTenant/portal_/settings/")

    expect(page.get_by_text("Member (read only)")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(PERIOD))).to_contain_text("30")
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)


def test_change_a_tenant_setting_after_a_refused_value(admin_page, admin_membership, screenshot):
    organization = admin_membership.organization
    page = admin_page
    page.goto(f"/{organization.slug}/DefaultTenant/portal_/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings of DefaultTenant")
    period = page.get_by_label(PERIOD)
    expect(period).to_have_value("30")

    # when: out of range
    period.fill("0")
    page.get_by_role("button", name="Save settings").click()

    # then: the message beside the field; nothing stored
    expect(page.get_by_label(PERIOD)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Must be at least 1.")).to_be_visible()
    screenshot(page, "tenant-settings-error")
    assert not Setting.objects.exists()

    # when: a valid value, and the checkbox unticked
    page.get_by_label(PERIOD).fill("45")
    page.get_by_label("Auth.UnattendedRobot.ForceClientCredentials").uncheck()
    page.get_by_role("button", name="Save settings").click()

    # then
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    expect(page.get_by_label(PERIOD)).to_have_value("45")
    expect(page.get_by_label("Auth.UnattendedRobot.ForceClientCredentials")).not_to_be_checked()
    assert dict(Setting.objects.values_list("key", "value")) == {
        PERIOD: 45,
        "Auth.UnattendedRobot.ForceClientCredentials": False,
    }
