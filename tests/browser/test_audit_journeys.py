"""Journey: what an admin did in the browser, and what the token endpoint refused, found in
the organization's audit log with its filters.

The admin creates a machine, generates its secret, sees a robot use it, deletes it (the
token endpoint then refuses it), creates an external application and a federated
credential against the real HTTPS test identity provider, and removes an inactive
session; then filters the audit log by actor, action, target, outcome and time, and
reads each event's row. A granted token is not in the log (SPEC §7 audits changes and
failed authentications; the token endpoint writes nothing on success): the secret's use
shows as its "Last used" on the machine's page instead.
"""

import re
from datetime import UTC

from django.utils import timezone
from playwright.sync_api import expect

from machines.models import Machine, Session
from machines.tests.factories import session_create

AUDIENCE = "https://id.example.com/acme"
SUBJECT = "repo:acme/deploy:ref:refs/heads/main"
WHEN = re.compile(r"just now|\d+\xa0minutes? ago")


def test_each_action_of_the_journeys_is_found_in_the_filtered_audit_log(
    admin_page, admin_membership, token_endpoint, identity_provider
):
    page = admin_page
    organization, admin = admin_membership.organization, admin_membership.user.username
    site = f"/{organization.slug}/portal_"
    started = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    # given: a machine created, its secret generated, used and deleted in the browser;
    # the token endpoint refuses the deleted secret
    page.goto(f"/{organization.slug}/DefaultTenant/portal_/machines/new/")
    page.get_by_label("Name").fill("Build host")
    page.get_by_label("Type").select_option(label="Standard machine")
    page.get_by_role("button", name="Create machine").click()
    client_id = page.get_by_label("Client ID", exact=True).input_value()
    machine_page = page.url
    page.get_by_label("Description").fill("BUILD-01")
    page.get_by_role("button", name="Generate secret").click()
    secret = page.get_by_role("textbox", name="Client secret").input_value()
    assert token_endpoint(client_id, secret).status_code == 200
    page.goto(machine_page)
    row = page.get_by_role("table", name="Client secrets").get_by_role(
        "row", name=re.compile("BUILD-01")
    )
    expect(row.get_by_role("cell").nth(4)).to_have_text("just now")  # last used
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").first).to_have_text(f"Secret {secret[:10]}… deleted.")
    refused = token_endpoint(client_id, secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")

    # ...an external application and a federated credential for the identity provider
    page.goto(f"{site}/apps/new/")
    page.get_by_label("Name").fill("Deployments")
    page.get_by_label("OR.Machines.Read").first.check()  # the application scope
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").first).to_contain_text("was created")
    page.get_by_role("link", name="Federated credentials").first.click()
    page.get_by_role("link", name="Add a federated credential").first.click()
    page.get_by_label("Name").fill("GitHub main")
    page.get_by_label("Issuer").fill(identity_provider.issuer("github"))
    page.get_by_label("Audience").fill(AUDIENCE)
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status").first).to_contain_text("“GitHub main” was added")

    # ...and an inactive session of the machine removed
    machine = Machine.objects.get(client__client_id=client_id)
    session_create(machine=machine, host_name="GONE-01", state=Session.State.DISCONNECTED)
    page.goto(f"/{organization.slug}/DefaultTenant/portal_/sessions/")
    page.get_by_role("checkbox", name="Session GONE-01 of Build host").check()
    page.get_by_role("button", name="Remove selected").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status").first).to_have_text("Removed 1 session.")

    # when: the organization's audit log, from the navigation
    page.goto(f"{site}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("From (UTC)").fill(started)

    # then: each action, filtered by who did it to what, in one row: tenant, actor,
    # action, target, outcome (with the reason code of a failure)
    user = f"{admin} (User)"
    for filters, cells in [
        (
            (admin, "machine.create", "Build host", "success"),
            ("DefaultTenant", user, "machine.create", "Build host (machine)", "Success"),
        ),
        (
            (admin, "client_secret.create", "Build host", "success"),
            ("DefaultTenant", user, "client_secret.create", "Build host (oauth_client)", "Success"),
        ),
        (
            (admin, "client_secret.delete", "Build host", "success"),
            ("DefaultTenant", user, "client_secret.delete", "Build host (oauth_client)", "Success"),
        ),
        (
            # the refused secret: the machine's client acts, as a robot; no granted request
            (client_id, "token.request", "Build host", ""),
            (
                "DefaultTenant",
                f"{client_id} (Robot)",
                "token.request",
                "Build host (oauth_client)",
                "Failure no_active_secret",
            ),
        ),
        (
            (admin, "external_app.create", "Deployments", "success"),
            ("—", user, "external_app.create", "Deployments (externalapp)", "Success"),
        ),
        (
            (admin, "federated_credential.create", "GitHub main", "success"),
            (
                "—",
                user,
                "federated_credential.create",
                "GitHub main (federatedcredential)",
                "Success",
            ),
        ),
        (
            (admin, "session.delete", "GONE-01", "success"),
            ("DefaultTenant", user, "session.delete", "Build host on GONE-01 (session)", "Success"),
        ),
    ]:
        _filter(page, *filters)
        expect(_rows(page).get_by_role("cell")).to_have_text([WHEN, *cells])

    # ...and a failure is found by its reason code alone
    _filter(page, "", "", "", "failure", reason="no_active_secret")
    expect(page).to_have_url(re.compile(r"reason=no_active_secret"))
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page)).to_contain_text(client_id)


def _filter(page, actor: str, action: str, target: str, outcome: str, reason: str = "") -> None:
    """The audit log's filters filled in and applied (the time range is kept)."""
    page.get_by_label("Actor").fill(actor)
    page.get_by_label("Action").fill(action)
    page.get_by_label("Target").fill(target)
    page.get_by_label("Outcome").select_option(outcome)
    page.get_by_label("Reason code").fill(reason)
    page.get_by_role("button", name="Filter").click()


def _rows(page):
    return page.get_by_role("table").locator("tbody").get_by_role("row")
