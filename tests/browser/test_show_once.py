"""Pages that show a secret once, reloaded in Chromium (Post/Redirect/Get: a reload shows the
page without the secret and creates nothing), and the Connect panels a robot's or a
script's author copies from."""

import requests
from playwright.sync_api import expect

from federation.models import ExternalApp
from identity_server.models import ClientSecret
from machines.tests.factories import machine_create


def _shown_secret(page) -> str:
    once = page.get_by_role("region", name="Copy the client secret now")
    return once.get_by_role("textbox", name="Client secret").input_value()


def test_reloading_a_machines_new_secret_shows_it_no_more_and_makes_no_second_one(
    admin_page, admin_membership, token_endpoint, screenshot
):
    # given: a machine's page
    page = admin_page
    tenant = admin_membership.organization.tenants.get(name="DefaultTenant")
    machine = machine_create(tenant=tenant, name="Build host")
    page.goto(f"/{tenant.organization.slug}/DefaultTenant/portal_/machines/{machine.pk}/")

    # when: a secret is generated, then the page is reloaded
    page.get_by_label("Description").fill("BUILD-01")
    page.get_by_role("button", name="Generate secret").click()
    secret = _shown_secret(page)
    page.reload()

    # then: the secret is gone from the page, one secret exists, and it works
    expect(page.get_by_role("region", name="Copy the client secret now")).to_have_count(0)
    assert secret not in page.content()
    assert ClientSecret.objects.filter(client=machine.client).count() == 1
    assert token_endpoint(machine.client.client_id, secret).status_code == 200

    # and: the Connect panel gives a robot's settings and a command that works as printed
    connect = page.get_by_role("region", name="Connect")
    token_url = connect.get_by_role("textbox", name="Connect: Token endpoint").input_value()
    assert token_url.endswith(f"/{tenant.organization.slug}/DefaultTenant/identity_/connect/token")
    expect(connect.get_by_role("textbox", name="Connect: Client ID")).to_have_value(
        machine.client.client_id
    )
    expect(connect.get_by_role("textbox", name="Connect: Scope")).to_have_value(
        "OrchestratorApiUserAccess"
    )
    expect(connect.get_by_role("textbox", name="Connect: Orchestrator URL")).to_have_value(
        token_url.replace("identity_/connect/token", "orchestrator_/")
    )
    command = connect.get_by_role("textbox", name="Get a token").input_value()
    assert f"-d client_id={machine.client.client_id}" in command
    connect.scroll_into_view_if_needed()
    screenshot(page, "machine-connect")


def test_reloading_a_new_applications_page_makes_no_second_application_or_secret(
    admin_page, admin_membership, live_server, screenshot
):
    # given: the new application form
    page = admin_page
    organization = admin_membership.organization
    page.goto(f"/{organization.slug}/portal_/apps/new/")

    # when: a confidential application is created, then its page reloaded twice
    page.get_by_label("Name").fill("Deployments")
    page.get_by_label("OR.Machines.Read").first.check()  # the application scope
    page.get_by_role("button", name="Create").click()
    first_secret = _shown_secret(page)
    page.reload()
    page.reload()

    # then: one application with one secret, no longer shown
    app = ExternalApp.objects.get(organization=organization)
    assert ExternalApp.objects.filter(organization=organization).count() == 1
    assert app.client.secrets.count() == 1
    expect(page.get_by_role("region", name="Copy the client secret now")).to_have_count(0)
    assert first_secret not in page.content()

    # when: another secret is generated there, and the page reloaded
    page.get_by_role("button", name="Generate secret").click()
    second_secret = _shown_secret(page)
    page.reload()

    # then: two secrets in all, the new one shown no more
    assert app.client.secrets.count() == 2
    assert second_secret not in page.content()

    # and: the Connect panel's values are the live server's, and its curl command's token
    # endpoint gives a token for this application's secret
    connect = page.get_by_role("region", name="Connect")
    expect(connect.get_by_role("textbox", name="Connect: partitionGlobalId")).to_have_value(
        str(organization.global_id)
    )
    expect(connect.get_by_role("textbox", name="Connect: Client ID")).to_have_value(
        app.client.client_id
    )
    jwks = connect.get_by_role("textbox", name="Connect: JWKS").input_value()
    assert jwks.endswith("/identity_/.well-known/openid-configuration/jwks")
    python = connect.get_by_role("textbox", name="The same in Python").input_value()
    assert f'"client_id": "{app.client.client_id}"' in python
    token_url = connect.get_by_role("textbox", name="Connect: Token endpoint").input_value()
    path = token_url.split("://", 1)[1].split("/", 1)[1]
    answer = requests.post(
        f"{live_server.url}/{path}",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client.client_id,
            "client_secret": second_secret,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    connect.scroll_into_view_if_needed()
    screenshot(page, "application-connect")
