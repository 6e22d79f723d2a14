"""The admin site's pages of machines, their client secrets, robots and sessions: each form's
success and error paths, the API's own messages beside the fields, members read only,
foreign objects not found, and every change audited with the signed-in user as actor."""

import html
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client

from identity_server.models import ClientSecret
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, token_request
from machines.models import Machine, Robot, Session
from machines.tests.factories import (
    machine_create,
    machine_with_secret,
    robot_create,
    session_create,
)
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory, TenantFactory


def site(tenant, path: str = "") -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/portal_/{path}"


def odata(tenant, path: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/{path}"


def text(response) -> str:
    return response.content.decode()


def field_errors(response, field: str) -> list[str]:
    """The errors shown beside `field` (includes/field.html)."""
    block = re.search(
        rf'<div class="field-error" id="id_{field}_error">(.*?)</div>', text(response)
    )
    return [html.unescape(m) for m in re.findall(r"<p>(.*?)</p>", block.group(1))] if block else []


def top_errors(response) -> list[str]:
    """The errors above a form or a list (includes/form_errors.html, the sessions page)."""
    block = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', text(response), re.S)
    return [html.unescape(m) for m in re.findall(r"<p>(.*?)</p>", block.group(1))] if block else []


def input_value(response, field: str, *, id_: str | None = None) -> str:
    """What the input of `field` (a form's, or the one with that id) shows; "" if empty."""
    tag = re.search(rf'<input[^>]*id="{id_ or "id_" + field}"[^>]*>', text(response)).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else ""


def audited(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def user(admin_membership):
    return admin_membership.user


@pytest.fixture
def admin(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def member(admin_membership):
    membership = MembershipFactory(
        organization=admin_membership.organization, role=Membership.Role.MEMBER
    )
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def api(tenant):
    """The OData API, to compare its refusals with the pages'."""
    app, secret = client_with_secret(
        organization=tenant.organization, scopes=("OR.Machines", "OR.Robots")
    )
    client = Client()
    token = token_request(client, app.client_id, secret).json()["access_token"]
    return Api(client, token)


def assert_audited_by(event: AuditEvent, user) -> None:
    assert (event.actor_kind, event.actor_id, event.actor_name) == (
        AuditEvent.ActorKind.USER,
        str(user.pk),
        user.username,
    )


# --- machines -----------------------------------------------------------------------------


def test_the_machine_list_filters_by_name_in_any_case_and_shows_only_this_tenant(
    admin, tenant, other_tenant
):
    # given
    machine_create(tenant=tenant, name="Build-01", description="CI pool")
    machine_create(tenant=tenant, name="Payroll")
    machine_create(tenant=other_tenant, name="Build-foreign")

    # when
    everything = text(admin.get(site(tenant, "machines/")))
    filtered = admin.get(site(tenant, "machines/"), {"q": "BUILD"})

    # then
    assert "Build-01" in everything and "Payroll" in everything and "CI pool" in everything
    assert "Build-foreign" not in everything
    assert "Build-01" in text(filtered) and "Payroll" not in text(filtered)
    assert input_value(filtered, "q", id_="name-filter") == "BUILD"


def test_the_machine_list_pages_in_name_order(admin, tenant):
    for n in range(26):
        machine_create(tenant=tenant, name=f"m{n:02}")

    first = text(admin.get(site(tenant, "machines/")))
    second = text(admin.get(site(tenant, "machines/"), {"page": 2}))

    assert "Page 1 of 2 (26 in all)" in first
    assert ">m00<" in first and ">m24<" in first and ">m25<" not in first
    assert ">m25<" in second and ">m24<" not in second


def test_an_empty_list_says_what_to_do(admin, member, tenant):
    assert "Create a machine, then generate a secret" in text(admin.get(site(tenant, "machines/")))
    members_view = text(member.get(site(tenant, "machines/")))
    assert "An administrator of the organization creates them." in members_view
    assert "New machine" not in members_view


def test_creating_a_machine_lands_on_its_page_and_is_audited_with_the_user(admin, user, tenant):
    # when
    response = admin.post(
        site(tenant, "machines/new/"),
        {"name": "Robot host 1", "type": "Template", "description": "Build farm"},
        follow=True,
    )

    # then
    machine = Machine.objects.get()
    assert (machine.tenant, machine.name, machine.type, machine.description) == (
        tenant,
        "Robot host 1",
        Machine.Type.TEMPLATE,
        "Build farm",
    )
    assert response.redirect_chain == [(site(tenant, f"machines/{machine.pk}/"), 302)]
    assert "Machine “Robot host 1” created." in text(response)
    assert machine.client.client_id in text(response)
    assert_audited_by(audited("machine.create")[0], user)


@pytest.mark.parametrize(
    ("fields", "api_body", "field", "api_field"),
    [
        pytest.param({"name": ""}, {"Name": ""}, "name", "Name", id="blank-name"),
        pytest.param({"name": "n" * 129}, {"Name": "n" * 129}, "name", "Name", id="long-name"),
        pytest.param({"name": "HOST"}, {"Name": "HOST"}, "name", "Name", id="duplicate-name"),
        pytest.param(
            {"name": "New", "type": "Robot"},
            {"Name": "New", "Type": "Robot"},
            "type",
            "Type",
            id="unknown-type",
        ),
        pytest.param(
            {"name": "New", "description": "d" * 513},
            {"Name": "New", "Description": "d" * 513},
            "description",
            "Description",
            id="long-description",
        ),
    ],
)
def test_a_refused_machine_shows_the_apis_message_beside_the_field_and_keeps_the_input(
    admin, api, tenant, fields, api_body, field, api_field
):
    # given
    machine_create(tenant=tenant, name="host")
    posted = {"name": "", "type": "Standard", "description": "kept", **fields}

    # when
    page = admin.post(site(tenant, "machines/new/"), posted)
    answer = api.post(odata(tenant, "odata/Machines"), api_body)

    # then
    assert page.status_code == 200
    assert answer.status_code == 400
    assert field_errors(page, field) == answer.json()["errors"][api_field]
    assert input_value(page, "name") == posted["name"]
    assert "kept" in text(page) or field == "description"
    assert Machine.objects.count() == 1


def test_emptying_a_machines_description_on_its_page_clears_it(admin, tenant):
    # given
    machine = machine_create(tenant=tenant, name="Host", description="old")

    # when: the field is emptied, as a browser sends it
    saved = admin.post(
        site(tenant, f"machines/{machine.pk}/edit/"),
        {"name": "Host", "type": "Standard", "description": ""},
    )

    # then
    assert saved.status_code == 302
    machine.refresh_from_db()
    assert machine.description == ""


def test_editing_a_machine_saves_and_audits_and_a_taken_name_is_refused_beside_it(
    admin, user, tenant
):
    # given
    machine = machine_create(tenant=tenant, name="Host", description="old")
    machine_create(tenant=tenant, name="Taken")
    edit = site(tenant, f"machines/{machine.pk}/edit/")
    assert input_value(admin.get(edit), "name") == "Host"

    # when
    refused = admin.post(edit, {"name": "taken", "type": "Standard", "description": "new"})
    saved = admin.post(edit, {"name": "Host 2", "type": "Standard", "description": "new"})

    # then
    assert field_errors(refused, "name") == ["A machine with this name already exists."]
    assert input_value(refused, "name") == "taken"
    assert saved.url == site(tenant, f"machines/{machine.pk}/")
    machine.refresh_from_db()
    assert (machine.name, machine.type, machine.description) == ("Host 2", "Standard", "new")
    machine.client.refresh_from_db()
    assert machine.client.name == "Host 2"
    [event] = audited("machine.update")
    assert event.details["name"] == {"before": "Host", "after": "Host 2"}
    assert_audited_by(event, user)


def test_deleting_a_machine_asks_first_then_deletes_it_and_its_client(admin, user, tenant):
    # given
    machine, secret = machine_with_secret(tenant=tenant, name="Doomed")
    url = site(tenant, f"machines/{machine.pk}/delete/")

    # when: without the confirmation (no JavaScript)
    asked = admin.post(url)

    # then: a page that asks and re-posts, nothing deleted
    assert "Delete the machine “Doomed”?" in text(asked)
    assert 'name="confirmed" value="yes"' in text(asked)
    assert Machine.objects.filter(pk=machine.pk).exists()

    # when: confirmed
    deleted = admin.post(url, {"confirmed": "yes"}, follow=True)

    # then
    assert deleted.redirect_chain == [(site(tenant, "machines/"), 302)]
    assert "Machine “Doomed” deleted." in text(deleted)
    assert not Machine.objects.exists()
    assert token_request(Client(), machine.client.client_id, secret).status_code == 401
    assert_audited_by(audited("machine.delete")[0], user)


def test_a_machine_page_lists_its_secrets_without_their_plaintext(admin, clock, tenant):
    # given: one secret used, one expiring, one expired
    machine = machine_create(tenant=tenant, name="Host")
    client = Client()
    secret, plaintext = _secret(machine, description="host 1, 2026")
    assert token_request(client, machine.client.client_id, plaintext).status_code == 200
    _secret(machine, description="rotating", expires_at=clock.now + timedelta(days=30))
    _secret(machine, description="old", expires_at=clock.now + timedelta(hours=1))
    clock.advance(hours=2)

    # when
    page = text(admin.get(site(tenant, f"machines/{machine.pk}/")))

    # then
    assert machine.client.client_id in page
    assert f"<code>{secret.prefix}…</code>" in page
    assert "host 1, 2026" in page and "rotating" in page
    assert "in 4\xa0weeks" in page  # the expiry, relative
    assert "Expired" in page
    assert "2\xa0hours ago" in page  # created, and the first one's last use
    assert plaintext not in page


def _secret(machine, **options):
    from identity_server.services import client_secret_create
    from machines.tests.factories import TEST_ACTOR

    return client_secret_create(client=machine.client, actor=TEST_ACTOR, **options)


def test_generating_a_secret_shows_it_once_unstored_and_it_works_at_the_token_endpoint(
    admin, user, tenant
):
    # given
    machine = machine_create(tenant=tenant, name="Host")

    page_url = site(tenant, f"machines/{machine.pk}/")

    # when
    response = admin.post(
        site(tenant, f"machines/{machine.pk}/secrets/"),
        {"description": "BUILD-01", "expiryTime": "2099-06-30T12:00"},
    )

    # then: Post/Redirect/Get; the plaintext is on the page the redirect leads to, once,
    # never cached, and in neither the redirect's address nor a cookie
    assert (response.status_code, response["Location"]) == (303, page_url)
    assert not response.cookies.get("sessionid") or "idsec_" not in str(response.cookies)
    shown = admin.get(page_url)
    assert "no-store" in shown["Cache-Control"]
    plaintext = input_value(shown, "secret", id_="secret-once-value")
    assert plaintext.startswith("idsec_")
    assert "will not be shown again" in text(shown)
    secret = ClientSecret.objects.get(client=machine.client)
    assert (secret.description, secret.expires_at.isoformat()) == (
        "BUILD-01",
        "2099-06-30T12:00:00+00:00",
    )
    assert token_request(Client(), machine.client.client_id, plaintext).status_code == 200
    reloaded = admin.get(page_url)
    assert plaintext not in text(reloaded)
    assert "no-store" not in reloaded.get("Cache-Control", "")
    assert_audited_by(audited("client_secret.create")[0], user)


def test_the_generated_secrets_address_reloaded_is_the_machine_page(admin, tenant):
    # given: a secret generated, its page shown
    machine = machine_create(tenant=tenant, name="Host")
    url = site(tenant, f"machines/{machine.pk}/secrets/")
    shown = admin.post(url, {"description": "BUILD-01"}, follow=True)
    plaintext = input_value(shown, "secret", id_="secret-once-value")

    # when: the form's address is opened (bookmarked, or the history's entry reloaded)
    response = admin.get(url, follow=True)

    # then: the machine's page, without the secret, and nothing generated
    assert response.redirect_chain == [(site(tenant, f"machines/{machine.pk}/"), 302)]
    assert plaintext not in text(response)
    assert ClientSecret.objects.filter(client=machine.client).count() == 1


def test_the_machine_page_says_how_a_robot_connects(admin, tenant):
    machine = machine_create(tenant=tenant, name="Host")
    org = tenant.organization.slug

    page = text(admin.get(site(tenant, f"machines/{machine.pk}/")))

    token_endpoint = f"http://127.0.0.1:8000/{org}/{tenant.name}/identity_/connect/token"
    for value in (
        f"http://127.0.0.1:8000/{org}/{tenant.name}/orchestrator_/",
        token_endpoint,
        machine.client.client_id,
        "OrchestratorApiUserAccess",
        f"curl -s {token_endpoint}",
        f"-d client_id={machine.client.client_id}",
    ):
        assert value in page


@pytest.mark.parametrize(
    ("expiry", "field"),
    [
        pytest.param("2001-01-01T00:00", "expiryTime", id="past"),
        pytest.param("next tuesday", "expiryTime", id="malformed"),
    ],
)
def test_a_refused_secret_shows_the_apis_message_beside_the_field(
    admin, api, tenant, expiry, field
):
    # given
    machine = machine_create(tenant=tenant, name="Host")
    body = {"description": "kept", "expiryTime": expiry}

    # when
    page = admin.post(site(tenant, f"machines/{machine.pk}/secrets/"), body)
    answer = api.post(odata(tenant, f"api/Machines/{machine.pk}/ClientSecrets"), body)

    # then
    assert answer.status_code == 400
    assert field_errors(page, field) == answer.json()["errors"][field]
    assert input_value(page, "description") == "kept"
    assert input_value(page, "expiryTime") == expiry
    assert "secret-once" not in text(page)
    assert not ClientSecret.objects.filter(client=machine.client).exists()


def test_the_secret_limit_is_shown_above_the_form(admin, tenant):
    # given: a machine with as many secrets as a client may have
    from identity_server.services import SECRETS_PER_CLIENT

    machine = machine_create(tenant=tenant, name="Host")
    for _ in range(SECRETS_PER_CLIENT):
        _secret(machine)

    # when
    page = admin.post(site(tenant, f"machines/{machine.pk}/secrets/"), {"description": "one more"})

    # then
    assert top_errors(page) == [
        f"A client has at most {SECRETS_PER_CLIENT} secrets; delete one first."
    ]
    assert ClientSecret.objects.filter(client=machine.client).count() == SECRETS_PER_CLIENT


def test_deleting_a_secret_asks_first_then_revokes_it(admin, user, tenant):
    # given
    machine, plaintext = machine_with_secret(tenant=tenant, name="Host")
    secret = ClientSecret.objects.get(client=machine.client)
    url = site(tenant, f"machines/{machine.pk}/secrets/{secret.pk}/delete/")

    # when
    asked = admin.post(url)
    deleted = admin.post(url, {"confirmed": "yes"}, follow=True)

    # then
    assert f"Delete the secret {secret.prefix}…?" in text(asked)
    assert deleted.redirect_chain == [(site(tenant, f"machines/{machine.pk}/"), 302)]
    assert f"Secret {secret.prefix}… deleted." in text(deleted)
    assert "No secrets" in text(deleted)
    refused = token_request(Client(), machine.client.client_id, plaintext)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert_audited_by(audited("client_secret.delete")[0], user)


def test_a_secret_of_another_machine_is_not_found(admin, tenant):
    mine = machine_create(tenant=tenant)
    other, _ = machine_with_secret(tenant=tenant)
    secret = ClientSecret.objects.get(client=other.client)

    response = admin.post(
        site(tenant, f"machines/{mine.pk}/secrets/{secret.pk}/delete/"), {"confirmed": "yes"}
    )

    assert response.status_code == 404
    assert ClientSecret.objects.filter(pk=secret.pk).exists()


# --- robots -------------------------------------------------------------------------------


def test_creating_a_robot_on_a_machine_lists_it_and_audits_the_user(admin, user, tenant):
    # given
    machine = machine_create(tenant=tenant, name="Host")
    machine_create(tenant=TenantFactory(organization=tenant.organization), name="Elsewhere")
    form = text(admin.get(site(tenant, "robots/new/")))
    assert f'<option value="{machine.pk}">Host</option>' in form
    assert "Elsewhere" not in form  # only this tenant's machines

    # when
    response = admin.post(
        site(tenant, "robots/new/"),
        {"name": "Builder", "username": "CORP\\builder", "machineId": machine.pk},
        follow=True,
    )

    # then
    robot = Robot.objects.get()
    assert (robot.name, robot.username, robot.machine, robot.tenant) == (
        "Builder",
        "CORP\\builder",
        machine,
        tenant,
    )
    assert response.redirect_chain == [(site(tenant, "robots/"), 302)]
    assert "Robot “Builder” created." in text(response)
    assert 'href="{}">Host</a>'.format(site(tenant, f"machines/{machine.pk}/")) in text(response)
    assert_audited_by(audited("robot.create")[0], user)


@pytest.mark.parametrize(
    ("fields", "field", "api_field"),
    [
        pytest.param({"name": ""}, "name", "Name", id="blank-name"),
        pytest.param({"name": "BOT"}, "name", "Name", id="duplicate-name"),
        pytest.param({"username": ""}, "username", "Username", id="blank-username"),
        pytest.param({"machineId": "foreign"}, "machineId", "MachineId", id="foreign-machine"),
        pytest.param({"machineId": "x"}, "machineId", "MachineId", id="malformed-machine"),
    ],
)
def test_a_refused_robot_shows_the_apis_message_beside_the_field_and_keeps_the_input(
    admin, api, tenant, other_tenant, fields, field, api_field
):
    # given
    robot_create(tenant=tenant, name="bot")
    foreign = machine_create(tenant=other_tenant)
    posted = {"name": "New", "username": "CORP\\new", "machineId": "", **fields}
    if posted["machineId"] == "foreign":
        posted["machineId"] = str(foreign.pk)
    api_body = {
        "Name": posted["name"],
        "Username": posted["username"],
        "MachineId": int(posted["machineId"]) if posted["machineId"].isdigit() else None,
    }
    if posted["machineId"] == "x":
        api_body["MachineId"] = "x"

    # when
    page = admin.post(site(tenant, "robots/new/"), posted)
    answer = api.post(odata(tenant, "odata/Robots"), api_body)

    # then
    assert answer.status_code == 400
    assert field_errors(page, field) == answer.json()["errors"][api_field]
    assert input_value(page, "name") == posted["name"]
    assert input_value(page, "username") == posted["username"]
    assert Robot.objects.count() == 1


def test_editing_a_robot_moves_it_to_another_machine_or_none(admin, user, tenant):
    # given
    first, second = machine_create(tenant=tenant, name="A"), machine_create(tenant=tenant, name="B")
    robot = robot_create(tenant=tenant, name="Bot", username="corp\\bot", machine=first)
    edit = site(tenant, f"robots/{robot.pk}/edit/")
    assert f'<option value="{first.pk}" selected>A</option>' in text(admin.get(edit))

    # when
    moved = admin.post(edit, {"name": "Bot", "username": "corp\\bot", "machineId": second.pk})
    robot.refresh_from_db()
    machine_after_move = robot.machine
    unassigned = admin.post(edit, {"name": "Bot 2", "username": "corp\\bot", "machineId": ""})

    # then
    assert moved.url == unassigned.url == site(tenant, f"robots/{robot.pk}/")
    assert machine_after_move == second
    robot.refresh_from_db()
    assert (robot.name, robot.machine) == ("Bot 2", None)
    first_change, second_change = audited("robot.update")
    assert first_change.details == {"machine_id": {"before": first.pk, "after": second.pk}}
    assert_audited_by(second_change, user)


def test_a_refused_robot_edit_keeps_the_input(admin, tenant):
    robot = robot_create(tenant=tenant, name="Bot", username="corp\\bot")
    robot_create(tenant=tenant, name="Other")

    page = admin.post(
        site(tenant, f"robots/{robot.pk}/edit/"), {"name": "other", "username": "corp\\x"}
    )

    assert field_errors(page, "name") == ["A robot with this name already exists."]
    assert input_value(page, "username") == "corp\\x"
    robot.refresh_from_db()
    assert robot.username == "corp\\bot"


def test_a_robots_page_shows_its_key_and_deleting_it_asks_first(admin, user, tenant):
    # given
    robot = robot_create(tenant=tenant, name="Bot", username="corp\\bot")

    # when
    page = text(admin.get(site(tenant, f"robots/{robot.pk}/")))
    asked = admin.post(site(tenant, f"robots/{robot.pk}/delete/"))
    deleted = admin.post(site(tenant, f"robots/{robot.pk}/delete/"), {"confirmed": "yes"})

    # then
    assert str(robot.key) in page and "corp\\bot" in page
    assert "Delete the robot “Bot”?" in text(asked)
    assert deleted.url == site(tenant, "robots/")
    assert not Robot.objects.exists()
    assert_audited_by(audited("robot.delete")[0], user)


# --- sessions -----------------------------------------------------------------------------


@pytest.fixture
def sessions(tenant, clock):
    """One connected, one disconnected and one unresponsive session of a machine."""
    machine = machine_create(tenant=tenant, name="Host")
    robot = robot_create(tenant=tenant, name="Bot", machine=machine)
    clock.advance(minutes=-10)
    unresponsive = session_create(machine=machine, host_name="SILENT-01", robot=robot)
    clock.advance(minutes=10)
    connected = session_create(machine=machine, host_name="LIVE-01", robot=robot)
    disconnected = session_create(
        machine=machine, host_name="GONE-01", state=Session.State.DISCONNECTED
    )
    return connected, disconnected, unresponsive


DELETE_INACTIVE = (
    "odata/Sessions/UiPath.Server.Configuration.OData.DeleteInactiveUnattendedSessions"
)


def _checkbox(page: str, session) -> str:
    """The selection checkbox of `session`'s row."""
    row = re.search(rf"<tr>(?:(?!</tr>).)*{session.host_name}(?:(?!</tr>).)*</tr>", page, re.S)
    return re.search(r'<input type="checkbox"[^>]*>', row.group(0)).group(0)


def test_sessions_show_their_state_and_only_inactive_ones_can_be_selected(admin, tenant, sessions):
    connected, disconnected, unresponsive = sessions

    page = text(admin.get(site(tenant, "sessions/")))

    assert '<span class="badge badge-ok">Connected</span>' in page
    assert '<span class="badge badge-neutral">Disconnected</span>' in page
    assert '<span class="badge badge-danger">Unresponsive</span>' in page
    assert "10\xa0minutes ago" in page
    assert "no heartbeat for 120 seconds" in page
    assert "disabled" in _checkbox(page, connected)
    assert 'aria-describedby="not-removable"' in _checkbox(page, connected)
    assert "Connected sessions cannot be selected" in page
    for inactive in (disconnected, unresponsive):
        assert f'value="{inactive.pk}"' in _checkbox(page, inactive)
        assert "disabled" not in _checkbox(page, inactive)


@pytest.mark.parametrize(
    ("state", "hosts"),
    [
        ("Connected", {"LIVE-01"}),
        ("Disconnected", {"GONE-01"}),
        ("Unresponsive", {"SILENT-01"}),
        ("", {"LIVE-01", "GONE-01", "SILENT-01"}),
        ("bogus", {"LIVE-01", "GONE-01", "SILENT-01"}),
    ],
)
def test_the_state_filter_lists_the_sessions_in_that_state(admin, tenant, sessions, state, hosts):
    page = text(admin.get(site(tenant, "sessions/"), {"state": state}))

    assert {h for h in ("LIVE-01", "GONE-01", "SILENT-01") if f"<code>{h}</code>" in page} == hosts


def test_removing_inactive_sessions_asks_then_removes_them_all_audited(
    admin, user, tenant, sessions
):
    connected, disconnected, unresponsive = sessions
    chosen = {"sessionIds": [disconnected.pk, unresponsive.pk]}

    asked = admin.post(site(tenant, "sessions/?state="), chosen)
    assert "Remove the selected sessions?" in text(asked)
    assert text(asked).count('name="sessionIds"') == 2
    assert Session.objects.count() == 3

    removed = admin.post(site(tenant, "sessions/?state="), {**chosen, "confirmed": "yes"})

    assert removed.url == site(tenant, "sessions/?state=")
    assert list(Session.objects.all()) == [connected]
    events = audited("session.delete")
    assert {e.target_id for e in events} == {str(disconnected.pk), str(unresponsive.pk)}
    for event in events:
        assert_audited_by(event, user)


def test_a_refused_removal_names_the_refused_ids_removes_nothing_and_keeps_the_selection(
    admin, api, tenant, sessions
):
    # given: a connected session among the chosen (a tampered form: its box is disabled)
    connected, disconnected, _ = sessions
    chosen = [disconnected.pk, connected.pk]

    # when
    page = admin.post(site(tenant, "sessions/"), {"sessionIds": chosen, "confirmed": "yes"})
    answer = api.post(odata(tenant, DELETE_INACTIVE), {"sessionIds": chosen})

    # then
    assert answer.status_code == 400
    assert top_errors(page) == ["Nothing was removed.", *answer.json()["errors"]["sessionIds"]]
    assert f"Sessions {connected.pk} are connected" in text(page)
    assert "checked" in _checkbox(text(page), disconnected)
    assert Session.objects.count() == 3
    assert not audited("session.delete")


@pytest.mark.parametrize(
    "chosen",
    [pytest.param([], id="nothing"), pytest.param(["abc"], id="not-an-id")],
)
def test_a_malformed_removal_is_refused_with_the_apis_message(admin, api, tenant, sessions, chosen):
    page = admin.post(site(tenant, "sessions/"), {"sessionIds": chosen, "confirmed": "yes"})
    answer = api.post(odata(tenant, DELETE_INACTIVE), {"sessionIds": chosen})

    assert answer.status_code == 400
    [message] = answer.json()["errors"]["sessionIds"]
    assert top_errors(page) == ["Nothing was removed.", message]
    assert Session.objects.count() == 3


# --- roles and boundaries -----------------------------------------------------------------

# Every write of these pages: (path, form), made from `w` (the `world` fixture).
WRITES = [
    pytest.param(lambda w: ("machines/new/", {"name": "X"}), id="machine-create"),
    pytest.param(lambda w: (f"machines/{w.machine.pk}/edit/", {"name": "X"}), id="machine-edit"),
    pytest.param(
        lambda w: (f"machines/{w.machine.pk}/delete/", {"confirmed": "yes"}),
        id="machine-delete",
    ),
    pytest.param(lambda w: (f"machines/{w.machine.pk}/secrets/", {}), id="secret-create"),
    pytest.param(
        lambda w: (
            f"machines/{w.machine.pk}/secrets/{w.secret.pk}/delete/",
            {"confirmed": "yes"},
        ),
        id="secret-delete",
    ),
    pytest.param(lambda w: ("robots/new/", {"name": "X", "username": "x"}), id="robot-create"),
    pytest.param(lambda w: (f"robots/{w.robot.pk}/edit/", {"name": "X"}), id="robot-edit"),
    pytest.param(
        lambda w: (f"robots/{w.robot.pk}/delete/", {"confirmed": "yes"}), id="robot-delete"
    ),
    pytest.param(
        lambda w: ("sessions/", {"confirmed": "yes", "sessionIds": [w.session.pk]}),
        id="sessions-remove",
    ),
]


@pytest.fixture
def world(tenant):
    """A machine with a secret, a robot on it and a disconnected session."""
    machine, _ = machine_with_secret(tenant=tenant, name="Host")
    return SimpleNamespace(
        machine=machine,
        secret=ClientSecret.objects.get(client=machine.client),
        robot=robot_create(tenant=tenant, name="Bot", machine=machine),
        session=session_create(machine=machine, state=Session.State.DISCONNECTED),
    )


def _state():
    return (
        list(Machine.objects.values_list("pk", "name")),
        list(ClientSecret.objects.values_list("pk", flat=True)),
        list(Robot.objects.values_list("pk", "name")),
        list(Session.objects.values_list("pk", flat=True)),
    )


@pytest.mark.parametrize("write", WRITES)
def test_a_member_is_refused_every_write(member, tenant, world, write):
    # given
    path, form = write(world)
    before = _state()

    # when
    response = member.post(site(tenant, path), form)

    # then
    assert response.status_code == 403
    assert _state() == before


@pytest.mark.parametrize(
    "path",
    ["machines/new/", "machines/{m}/edit/", "robots/new/", "robots/{r}/edit/"],
)
def test_a_member_does_not_even_get_the_forms(member, tenant, world, path):
    response = member.get(site(tenant, path.format(m=world.machine.pk, r=world.robot.pk)))

    assert response.status_code == 403


def test_a_member_reads_the_pages_without_write_controls(member, tenant, world):
    # given
    machine, secret, robot = world.machine, world.secret, world.robot

    # when
    pages = {
        path: member.get(site(tenant, path))
        for path in (
            "machines/",
            f"machines/{machine.pk}/",
            "robots/",
            f"robots/{robot.pk}/",
            "sessions/",
        )
    }

    # then
    for path, response in pages.items():
        assert response.status_code == 200, path
        page = text(response)
        assert 'method="post" action="/accounts/logout/"' in page
        assert page.count('method="post"') == 1, path  # only the sign-out form
        assert "New machine" not in page and "New robot" not in page and ">Edit<" not in page
    assert secret.prefix in text(pages[f"machines/{machine.pk}/"])
    assert 'type="checkbox"' not in text(pages["sessions/"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "machines/{m}/"),
        ("get", "machines/{m}/edit/"),
        ("post", "machines/{m}/edit/"),
        ("post", "machines/{m}/delete/"),
        ("post", "machines/{m}/secrets/"),
        ("get", "robots/{r}/"),
        ("get", "robots/{r}/edit/"),
        ("post", "robots/{r}/edit/"),
        ("post", "robots/{r}/delete/"),
    ],
)
def test_another_tenants_objects_are_not_found_under_this_tenant(admin, tenant, method, path):
    # given: a machine and robot of another tenant of the same organization
    staging = TenantFactory(organization=tenant.organization, name="Staging")
    machine = machine_create(tenant=staging)
    robot = robot_create(tenant=staging, machine=machine)
    path = path.format(m=machine.pk, r=robot.pk)
    assert admin.get(site(staging, path)).status_code != 404

    # when
    response = getattr(admin, method)(site(tenant, path), {"confirmed": "yes"})

    # then
    assert response.status_code == 404
    assert Machine.objects.filter(pk=machine.pk).exists()
    assert Robot.objects.filter(pk=robot.pk).exists()
    assert not ClientSecret.objects.filter(client=machine.client).exists()


def test_an_id_beyond_any_row_is_not_found(admin, tenant):
    assert admin.get(site(tenant, f"machines/{2**64}/")).status_code == 404
    assert admin.get(site(tenant, f"robots/{2**64}/")).status_code == 404


def test_search_results_link_to_the_machine_and_robot_pages(admin, tenant):
    machine = machine_create(tenant=tenant, name="Build host")
    robot = robot_create(tenant=tenant, name="Build bot")

    page = text(admin.get(site(tenant, "search/"), {"q": "build"}))

    assert f'href="{site(tenant, f"machines/{machine.pk}/")}">Build host</a>' in page
    assert f'href="{site(tenant, f"robots/{robot.pk}/")}">Build bot</a>' in page
