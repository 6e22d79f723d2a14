"""Journey: removing inactive unattended sessions, while a connected one cannot be chosen."""

import re

from playwright.sync_api import expect

from machines.models import Session
from machines.tests.factories import machine_create, robot_create, session_create


def test_inactive_sessions_are_removed_and_a_connected_one_cannot_be_selected(
    admin_page, admin_membership, clock
):
    # given: one session of each state; SILENT-01 last heard of 10 minutes ago
    tenant = admin_membership.organization.tenants.get()
    machine = machine_create(tenant=tenant, name="Build host")
    robot = robot_create(tenant=tenant, name="Builder", machine=machine)
    clock.advance(minutes=-10)
    session_create(machine=machine, host_name="SILENT-01", robot=robot)
    clock.advance(minutes=10)
    session_create(machine=machine, host_name="LIVE-01", robot=robot)
    session_create(machine=machine, host_name="GONE-01", state=Session.State.DISCONNECTED)
    page = admin_page
    page.goto(f"/{admin_membership.organization.slug}/DefaultTenant/portal_/")

    # when
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()

    # then: each state, the last heartbeat, and why the connected one cannot be chosen
    rows = {
        host: page.get_by_role("row").filter(has_text=host)
        for host in ("LIVE-01", "GONE-01", "SILENT-01")
    }
    expect(rows["LIVE-01"].locator(".badge")).to_have_text("Connected")
    expect(rows["GONE-01"].locator(".badge")).to_have_text("Disconnected")
    expect(rows["SILENT-01"].locator(".badge")).to_have_text("Unresponsive")
    expect(rows["SILENT-01"]).to_contain_text("10\xa0minutes ago")
    live = page.get_by_role("checkbox", name="Session LIVE-01 of Build host")
    expect(live).to_be_disabled()
    expect(live).to_have_accessible_description(re.compile("Connected sessions cannot be selected"))

    # when: the state filter
    page.get_by_label("State").select_option("Unresponsive")
    page.get_by_role("button", name="Filter").click()

    # then
    expect(page).to_have_url(re.compile(r"\?state=Unresponsive$"))
    expect(page.get_by_role("row")).to_have_count(2)  # the header and SILENT-01
    page.get_by_label("State").select_option("")
    page.get_by_role("button", name="Filter").click()

    # when: the inactive ones are selected and removed, confirming in the dialog
    page.get_by_role("checkbox", name="Session GONE-01 of Build host").check()
    page.get_by_role("checkbox", name="Session SILENT-01 of Build host").check()
    page.get_by_role("button", name="Remove selected").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Remove the selected sessions?")
    dialog.get_by_role("button", name="Remove").click()

    # then: only the connected one is left
    expect(page.get_by_role("status").first).to_have_text("Removed 2 sessions.")
    expect(page.get_by_role("row")).to_have_count(2)
    expect(page.get_by_role("row").nth(1)).to_contain_text("LIVE-01")
    assert list(Session.objects.values_list("host_name", flat=True)) == ["LIVE-01"]
