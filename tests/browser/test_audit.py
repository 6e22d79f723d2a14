"""Journey: the audit log, filtered, one event opened, the filter exported as CSV."""

import csv
import re

from playwright.sync_api import expect

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import token_request
from tenants.services import Actor, audit_record


def test_filter_the_audit_log_open_an_event_and_export_the_filter(
    admin_page, admin_membership, client, screenshot, tmp_path
):
    # given: a change, and a refused token request of one of the organization's clients
    organization = admin_membership.organization
    tenant = organization.tenants.get()
    audit_record(
        action="setting.update",
        actor=Actor("user", "1", "alice"),
        tenant=tenant,
        target=tenant,
    )
    app, _secret = client_with_secret(organization=organization, name="Nightly build")
    assert token_request(client, app.client_id, "x").status_code == 401
    page = admin_page
    page.goto(f"/{organization.slug}/portal_/audit/")
    table = page.get_by_role("table")
    expect(table).to_contain_text("setting.update")
    expect(table).to_contain_text("token.request")

    # when: failures only
    page.get_by_label("Outcome").select_option("failure")
    page.get_by_role("button", name="Filter").click()

    # then: the refused request with its reason code, the change gone
    expect(page).to_have_url(re.compile(r"outcome=failure"))
    expect(table).to_contain_text("wrong_secret")
    expect(table).not_to_contain_text("setting.update")
    screenshot(page, "audit-log")

    # when: the event opened
    page.get_by_role("link", name=re.compile(r"Event \d+: token.request")).click()

    # then
    expect(page.get_by_role("heading", level=1)).to_contain_text("token.request")
    details = page.locator("dl.facts")
    expect(details).to_contain_text("wrong_secret")
    expect(details).to_contain_text("Nightly build")
    expect(details).to_contain_text("127.0.0.1")

    # when: back, and the filter exported
    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "audit.csv"
    download.value.save_as(path)

    # then
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert download.value.suggested_filename == f"audit-{organization.slug}.csv"
    assert [(r["Action"], r["Outcome"], r["Reason code"]) for r in rows] == [
        ("token.request", "failure", "wrong_secret")
    ]
