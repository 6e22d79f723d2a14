"""Journeys: a machine and its secret, from the browser to the token endpoint and back;
robots."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from identity_server.models import OAuthClient
from identity_server.services import client_secret_create
from machines.tests.factories import TEST_ACTOR, machine_create


def test_a_secret_generated_in_the_browser_gets_a_token_until_it_is_deleted_there(
    admin_page, admin_membership, token_endpoint, screenshot
):
    page = admin_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/{admin_membership.organization.slug}/DefaultTenant/portal_/")

    # when: a machine is created from the navigation
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Machines").click()
    expect(page.get_by_text("No machines yet")).to_be_visible()
    page.get_by_role("link", name="New machine").click()
    page.get_by_label("Name").fill("Build host")
    page.get_by_label("Type").select_option(label="Machine template")
    page.get_by_label("Description").fill("The CI pool")
    page.get_by_role("button", name="Create machine").click()

    # then: its page, with its client ID and no secret yet
    expect(page.get_by_role("heading", level=1)).to_have_text("Build host")
    expect(page.get_by_role("status").first).to_have_text(
        "Machine “Build host” created. Generate a secret now."
    )
    expect(page.get_by_text("No secrets")).to_be_visible()
    client_id = page.get_by_label("Client ID", exact=True).input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)

    # when: a secret is generated and copied
    page.get_by_label("Description").fill("BUILD-01")
    page.get_by_role("button", name="Generate secret").click()
    once = page.get_by_role("region", name="Copy the client secret now")
    secret = once.get_by_role("textbox", name="Client secret").input_value()
    once.get_by_role("button", name="Copy").click()

    # then: shown once, with the warning; copied; listed without its plaintext
    expect(once.get_by_role("alert")).to_contain_text("This is the only time it is shown.")
    assert secret.startswith("idsec_")
    expect(once.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    secrets = page.get_by_role("table", name="Client secrets")
    expect(secrets).to_contain_text(f"{secret[:10]}…")
    expect(secrets).to_contain_text("BUILD-01")

    # when: a robot uses it at the token endpoint
    granted = token_endpoint(client_id, secret)

    # then: a token; the page, reloaded, shows the use and no longer the secret (beside
    # another secret, made without the browser)
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "Bearer"
    client_secret_create(
        client=OAuthClient.objects.get(client_id=client_id),
        actor=TEST_ACTOR,
        description="BUILD-02, 2027 rotation",
        expires_at=timezone.now() + timedelta(days=90),
    )
    page.goto(page.url.removesuffix("secrets/"))
    row = secrets.get_by_role("row").filter(has_text="BUILD-01")
    expect(row.get_by_role("cell").nth(4)).to_have_text("just now")
    expect(secrets.get_by_role("row").filter(has_text="BUILD-02")).to_contain_text("in 2\xa0months")
    expect(page.get_by_role("textbox", name="Client secret")).to_have_count(0)
    assert secret not in page.content()
    screenshot(page, "machine")

    # when: the secret is deleted, confirming in the dialog
    row.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete the secret {secret[:10]}…?")
    dialog.get_by_role("button", name="Delete").click()

    # then: gone from the page, and refused at the token endpoint
    expect(page.get_by_role("status").first).to_have_text(f"Secret {secret[:10]}… deleted.")
    expect(secrets).not_to_contain_text("BUILD-01")
    refused = token_endpoint(client_id, secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_deleting_a_machine_can_be_cancelled_and_then_confirmed(admin_page, admin_membership):
    # given
    tenant = admin_membership.organization.tenants.get()
    machine = machine_create(tenant=tenant, name="Old host")
    page = admin_page
    page.goto(f"/{admin_membership.organization.slug}/DefaultTenant/portal_/machines/{machine.pk}/")

    # when: cancelled
    page.get_by_role("button", name="Delete machine").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    # then: still there
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Old host")

    # when: confirmed
    page.get_by_role("button", name="Delete machine").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete machine").click()

    # then
    expect(page.get_by_role("status").first).to_have_text("Machine “Old host” deleted.")
    expect(page.get_by_text("No machines yet")).to_be_visible()


def test_a_robot_is_created_on_a_machine_after_a_missing_username_is_pointed_out(
    admin_page, admin_membership
):
    # given
    tenant = admin_membership.organization.tenants.get()
    machine_create(tenant=tenant, name="Build host")
    page = admin_page
    page.goto(f"/{admin_membership.organization.slug}/DefaultTenant/portal_/robots/")
    expect(page.get_by_text("No robots yet")).to_be_visible()

    # when: without a username
    page.get_by_role("link", name="New robot").click()
    page.get_by_label("Name", exact=True).fill("Builder")
    page.get_by_label("Machine").select_option(label="Build host")
    page.get_by_role("button", name="Create robot").click()

    # then: the error beside the field, the rest kept
    username = page.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_username_error")).to_have_text("This field may not be blank.")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Builder")
    expect(page.get_by_label("Machine")).to_have_value(str(tenant.machines.get().pk))

    # when
    username.fill("CORP\\builder")
    page.get_by_role("button", name="Create robot").click()

    # then: listed, on its machine
    expect(page.get_by_role("status").first).to_have_text("Robot “Builder” created.")
    row = page.get_by_role("row").filter(has_text="Builder")
    expect(row).to_contain_text("CORP\\builder")
    expect(row.get_by_role("link", name="Build host")).to_be_visible()
