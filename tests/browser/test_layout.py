"""The layout: search from the header with Ctrl+/, the tenant switcher, a narrow window,
and Swagger UI under the Content-Security-Policy."""

import re

from playwright.sync_api import expect

from federation.tests.factories import external_app, stored_credential
from machines.tests.factories import (
    machine_create,
    machine_with_secret,
    robot_create,
    session_create,
)
from tenants.services import Actor, audit_record
from tenants.tests.factories import MembershipFactory, TenantFactory


def test_ctrl_slash_focuses_the_header_search_and_the_type_filter_narrows(
    admin_page, admin_membership, screenshot
):
    # given
    tenant = admin_membership.organization.tenants.get()
    machine_create(tenant=tenant, name="Build-Agent-01", description="The CI pool")
    robot_create(tenant=tenant, name="build-robot")
    machine_create(tenant=tenant, name="Payroll")
    admin_page.goto(f"/{admin_membership.organization.slug}/{tenant.name}/portal_/")

    # when
    admin_page.keyboard.press("Control+/")
    box = admin_page.get_by_role("searchbox", name=f"Search {tenant.name}")
    expect(box).to_be_focused()
    box.fill("build")
    box.press("Enter")

    # then: both types, then machines only
    results = admin_page.get_by_role("table")
    expect(admin_page.get_by_role("status")).to_have_text("2 results for “build”.")
    expect(results).to_contain_text("Build-Agent-01")
    expect(results).to_contain_text("The CI pool")
    expect(results).to_contain_text("build-robot")
    expect(results).not_to_contain_text("Payroll")
    screenshot(admin_page, "search")
    admin_page.get_by_label("Type").select_option(label="Machine")
    admin_page.get_by_role("button", name="Search", exact=True).click()
    expect(admin_page).to_have_url(re.compile(r"type=machine"))
    expect(results).to_contain_text("Build-Agent-01")
    expect(results).not_to_contain_text("build-robot")


def test_search_explains_an_empty_result(admin_page, admin_membership):
    tenant = admin_membership.organization.tenants.get()

    admin_page.goto(
        f"/{admin_membership.organization.slug}/{tenant.name}/portal_/search/?q=nothing-here"
    )

    expect(admin_page.get_by_text("Nothing found")).to_be_visible()


def test_the_tenant_switcher_opens_the_same_page_in_another_tenant(admin_page, admin_membership):
    # given
    organization = admin_membership.organization
    TenantFactory(organization=organization, name="Staging")
    admin_page.goto(f"/{organization.slug}/DefaultTenant/portal_/search/")

    # when: keyboard only
    switcher = admin_page.locator("summary", has_text="Tenant")
    switcher.focus()
    admin_page.keyboard.press("Enter")
    admin_page.get_by_role("link", name="Staging").focus()
    admin_page.keyboard.press("Enter")

    # then
    expect(admin_page).to_have_url(re.compile(rf"/{organization.slug}/Staging/portal_/search/$"))
    expect(admin_page.get_by_role("heading", level=1)).to_have_text("Search Staging")
    expect(
        admin_page.get_by_role("navigation", name="Main").get_by_role("link", name="Search")
    ).to_have_attribute("aria-current", "page")


def test_a_narrow_window_stacks_the_navigation_without_sideways_scrolling(
    admin_page, admin_membership
):
    admin_page.set_viewport_size({"width": 360, "height": 740})

    admin_page.goto(f"/{admin_membership.organization.slug}/portal_/")

    navigation = admin_page.get_by_role("navigation", name="Main").bounding_box()
    heading = admin_page.get_by_role("heading", level=1).bounding_box()
    assert navigation["y"] + navigation["height"] <= heading["y"]
    assert admin_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_swagger_ui_runs_under_the_content_security_policy(page):
    # The `page` fixture fails the test on any CSP violation or script error.
    page.goto("/identity_/api/schema/docs")

    expect(page.get_by_text("Identity server API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()


def test_every_kind_of_page_reads_on_a_narrow_window_without_sideways_scrolling(
    admin_page, admin_membership, identity_provider
):
    # given: long names, a secret, a session, an application with a credential, an event
    organization = admin_membership.organization
    tenant = organization.tenants.get()
    machine, _ = machine_with_secret(tenant=tenant, name="Build-Agent-with-a-long-name-0001")
    robot = robot_create(tenant=tenant, name="builder", machine=machine)
    session_create(machine=machine, host_name="HOST-WITH-A-LONG-NAME-0001", robot=robot)
    app, _ = external_app(organization=organization, scopes=("OR.Machines",))
    stored_credential(
        app=app,
        issuer=identity_provider.issuer("github"),
        audience="https://id.example.com/acme",
        subject="repo:acme/deploy:ref:refs/heads/main",
    )
    event = audit_record(
        action="setting.update", actor=Actor("user", "1", "alice"), tenant=tenant, target=tenant
    )
    org, here = f"/{organization.slug}/portal_", f"/{organization.slug}/{tenant.name}/portal_"
    apps = f"{org}/apps/{app.client.client_id}"
    admin_page.set_viewport_size({"width": 360, "height": 740})
    pages = [
        *(f"{org}/{p}" for p in ("", "tenants/", "members/", "settings/", "audit/")),
        f"{org}/audit/{event.pk}/",
        *(f"{here}/{p}" for p in ("", "machines/", "machines/new/", "robots/", "sessions/")),
        *(f"{here}/{p}" for p in ("settings/", "search/?q=b", "audit/")),
        f"{here}/machines/{machine.pk}/",
        f"{here}/robots/{robot.pk}/",
        *(f"{org}/apps/{p}" for p in ("", "new/")),
        *(f"{apps}/{p}" for p in ("", "credentials/", "credentials/new/")),
    ]

    # when: each page, then the answers with a secret shown once and a token evaluated
    wide = []
    for url in pages:
        admin_page.goto(url)
        wide += _scrolls_sideways(admin_page)
    admin_page.goto(f"{here}/machines/{machine.pk}/")
    admin_page.get_by_role("button", name="Generate secret").click()
    expect(admin_page.get_by_role("textbox", name="Client secret")).to_be_visible()
    wide += _scrolls_sideways(admin_page)
    admin_page.goto(f"{apps}/credentials/")
    admin_page.get_by_label("Token (JWT)").fill(identity_provider.mint("github"))
    admin_page.get_by_role("button", name="Evaluate").click()
    expect(admin_page.get_by_text("No credential accepts this token")).to_be_visible()
    wide += _scrolls_sideways(admin_page)

    # then
    assert wide == []


def _scrolls_sideways(page) -> list[str]:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return [f"{page.url}: {width[0]}px wide in {width[1]}px"] if width[0] > width[1] else []


def test_the_organization_switcher_and_the_breadcrumbs_lead_between_pages(
    admin_page, admin_membership, other_admin_membership
):
    # given: the admin is also a member of a second organization; a third is not theirs
    organization = admin_membership.organization
    second = MembershipFactory(user=admin_membership.user, role="member").organization
    machine = machine_create(tenant=organization.tenants.get(), name="Build host")
    admin_page.goto(f"/{organization.slug}/DefaultTenant/portal_/machines/{machine.pk}/")

    # then: the path to the page, each step a link but the page itself
    crumbs = admin_page.get_by_role("navigation", name="Breadcrumb").get_by_role("listitem")
    expect(crumbs).to_have_text(
        ["Organizations", organization.name, "DefaultTenant", "Machines", "Build host"]
    )
    expect(crumbs.last).to_have_attribute("aria-current", "page")
    expect(crumbs.get_by_role("link")).to_have_count(4)

    # when: a step back up
    crumbs.get_by_role("link", name="Machines").click()

    # then
    expect(admin_page.get_by_role("heading", level=1)).to_have_text(re.compile("Machines"))

    # when: the organization switcher, by keyboard
    admin_page.locator("summary", has_text="Organization").focus()
    admin_page.keyboard.press("Enter")
    menu = admin_page.locator("details.switcher[open] ul")

    # then: the user's organizations only, the current one marked
    expect(menu.get_by_role("link")).to_have_text(sorted([organization.name, second.name]))
    expect(menu.get_by_role("link", name=organization.name)).to_have_attribute(
        "aria-current", "true"
    )
    expect(menu).not_to_contain_text(other_admin_membership.organization.name)

    # when
    menu.get_by_role("link", name=second.name).focus()
    admin_page.keyboard.press("Enter")

    # then: the second organization's page, read only there
    expect(admin_page).to_have_url(re.compile(rf"/{second.slug}/portal_/$"))
    expect(admin_page.get_by_role("heading", level=1)).to_have_text(second.name)
    expect(admin_page.get_by_text("Member (read only)")).to_be_visible()
