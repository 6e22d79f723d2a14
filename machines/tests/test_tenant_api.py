"""The tenant APIs beyond machines: Robots, Sessions, Settings, AuditLogs and Search."""

import json

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from machines.models import Robot, Session
from machines.tests.factories import machine_create, robot_create, session_create
from tenants.models import AuditEvent, Setting
from tenants.odata import ERROR_DUPLICATE_NAME, ERROR_INVALID_INPUT
from tenants.tests.factories import TenantFactory


def odata(tenant, entity_set: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/{entity_set}"


def search_url(tenant, query: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/api/Search?{query}"


DELETE_INACTIVE = "Sessions/UiPath.Server.Configuration.OData.DeleteInactiveUnattendedSessions"
PERIOD = "Scalability.Heartbeat.PeriodSeconds"


@pytest.fixture
def token_for(client, issue_token, tenant):
    def make(*scopes):
        app, secret = client_with_secret(
            organization=tenant.organization, scopes=scopes, name=" ".join(scopes)
        )
        return Api(client, issue_token(app, secret))

    return make


@pytest.fixture
def api(token_for):
    return token_for("OR.Robots", "OR.Settings", "OR.Audit", "OR.Machines")


# --- robots --------------------------------------------------------------------------------


def test_robots_crud_with_odata_shapes_and_audit(api, tenant):
    # given
    machine = machine_create(tenant=tenant, name="Host")

    # when: created, listed, renamed, moved off its machine, deleted
    created = api.post(
        odata(tenant, "Robots"),
        {"Name": "Bot", "MachineId": machine.pk, "Username": "corp\\bot", "Extra": 1},
    )
    assert created.status_code == 201, created.content
    robot = Robot.objects.get()
    assert created.json() == {
        "@odata.context": f"http://testserver{odata(tenant, '$metadata#Robots/$entity')}",
        "Id": robot.pk,
        "Key": str(robot.key),
        "Name": "Bot",
        "MachineId": machine.pk,
        "MachineName": "Host",
        "Username": "corp\\bot",
        "Description": "",
        "Type": "Unattended",
        # The tenant's default store: its database store, holding no password yet.
        "CredentialStoreId": robot.credential_store_id,
        "CredentialType": "Default",
        "ExternalName": "",
        "HasCredential": False,
    }
    assert robot.credential_store.type == "Database"
    assert created.headers["Location"].endswith(odata(tenant, f"Robots({robot.pk})"))
    listed = api.get(odata(tenant, "Robots") + "?$filter=MachineName%20eq%20'host'")
    assert [r["Id"] for r in listed.json()["value"]] == [robot.pk]
    patched = api.patch(odata(tenant, f"Robots({robot.pk})"), {"name": "Bot 2", "machineId": None})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["Name"], patched.json()["MachineId"]) == ("Bot 2", None)
    put = api.put(odata(tenant, f"Robots({robot.pk})"), {"Name": "Bot 3", "Username": "u"})
    assert (put.json()["Name"], put.json()["Username"]) == ("Bot 3", "u")
    assert api.delete(odata(tenant, f"Robots({robot.pk})")).status_code == 204

    # then
    assert not Robot.objects.exists()
    update = AuditEvent.objects.filter(action="robot.update").order_by("id").first()
    assert update.details == {
        "name": {"before": "Bot", "after": "Bot 2"},
        "machine_id": {"before": machine.pk, "after": None},
    }
    assert list(
        AuditEvent.objects.filter(action__startswith="robot.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["robot.create", "robot.update", "robot.update", "robot.delete"]


def test_a_duplicate_robot_name_is_a_400_with_error_code_1001(api, tenant):
    robot_create(tenant=tenant, name="Bot")

    response = api.post(odata(tenant, "Robots"), {"Name": "BOT", "Username": "x"})

    assert response.status_code == 400
    assert (response.json()["errorCode"], list(response.json()["errors"])) == (
        ERROR_DUPLICATE_NAME,
        ["Name"],
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"Username": "u"}, "Name", id="missing-name"),
        pytest.param({"Name": "B"}, "Username", id="missing-username"),
        pytest.param({"Name": "B", "Username": "u", "MachineId": "one"}, "MachineId", id="id-text"),
        pytest.param({"Name": "B", "Username": "u", "MachineId": 2**64}, "MachineId", id="id-huge"),
        pytest.param(
            {"Name": "B", "Username": "u", "MachineId": 999}, "MachineId", id="no-machine"
        ),
        pytest.param({"Name": "x" * 129, "Username": "u"}, "Name", id="long-name"),
        pytest.param({"Name": "B", "Username": "u" * 257}, "Username", id="long-username"),
    ],
)
def test_invalid_robot_input_is_a_400_naming_the_field(api, tenant, body, field):
    response = api.post(odata(tenant, "Robots"), body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not Robot.objects.exists()


def test_a_machine_of_another_tenant_is_an_unknown_machine(api, tenant):
    foreign = machine_create(tenant=TenantFactory(organization=tenant.organization))

    response = api.post(
        odata(tenant, "Robots"), {"Name": "B", "Username": "u", "MachineId": foreign.pk}
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"MachineId": ["Unknown machine."]}


def test_robots_of_another_organization_are_a_404(api, other_tenant):
    robot = robot_create(tenant=other_tenant)

    assert api.get(odata(other_tenant, "Robots")).status_code == 404
    assert api.get(odata(other_tenant, f"Robots({robot.pk})")).status_code == 404


def test_a_robot_id_of_another_tenant_is_a_404(api, tenant):
    robot = robot_create(tenant=TenantFactory(organization=tenant.organization))

    assert api.get(odata(tenant, f"Robots({robot.pk})")).status_code == 404
    assert api.delete(odata(tenant, f"Robots({robot.pk})")).status_code == 404
    assert Robot.objects.filter(pk=robot.pk).exists()


@pytest.mark.parametrize(
    ("scope", "read", "write"),
    [("OR.Robots.Read", 200, 403), ("OR.Robots.Write", 403, 201), ("OR.Machines", 403, 403)],
)
def test_robot_scopes(token_for, tenant, scope, read, write):
    api = token_for(scope)

    assert api.get(odata(tenant, "Robots")).status_code == read
    assert api.post(odata(tenant, "Robots"), {"Name": "B", "Username": "u"}).status_code == write


# --- sessions ------------------------------------------------------------------------------


def test_sessions_list_state_and_unresponsiveness_by_the_tenants_settings(api, tenant, clock):
    # given: a period of 10 s and a threshold of 4: silent for 40 s is still connected
    api.put(odata(tenant, f"Settings('{PERIOD}')"), {"Value": 10})
    machine = machine_create(tenant=tenant, name="Host")
    robot = robot_create(tenant=tenant, name="Bot", machine=machine)
    silent = session_create(machine=machine, host_name="A", robot=robot)
    ended = session_create(machine=machine, host_name="B", state=Session.State.DISCONNECTED)
    session_create(machine=machine_create(tenant=TenantFactory()), host_name="Elsewhere")

    # when
    clock.advance(seconds=40)
    at_threshold = api.get(odata(tenant, "Sessions")).json()
    clock.advance(seconds=1)
    past = api.get(odata(tenant, "Sessions") + "?$filter=HostMachineName%20eq%20'a'").json()

    # then
    assert at_threshold["@odata.count"] == 2
    assert [
        (s["HostMachineName"], s["State"], s["IsUnresponsive"]) for s in at_threshold["value"]
    ] == [
        ("A", "Connected", False),
        ("B", "Disconnected", False),
    ]
    assert past["value"] == [
        {
            "Id": silent.pk,
            "MachineId": machine.pk,
            "MachineName": "Host",
            "HostMachineName": "A",
            "RobotId": robot.pk,
            "RobotName": "Bot",
            "State": "Unresponsive",
            "IsUnresponsive": True,
            "IsUnattended": True,
            "ReportingTime": past["value"][0]["ReportingTime"],
            "Version": "",
            "CreationTime": past["value"][0]["CreationTime"],
        }
    ]
    assert ended.pk not in [s["Id"] for s in past["value"]]


def test_sessions_filter_by_reporting_time(api, tenant, clock):
    machine = machine_create(tenant=tenant)
    session_create(machine=machine, host_name="old")
    clock.advance(hours=1)
    since = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.advance(seconds=1)
    session_create(machine=machine, host_name="new")

    response = api.get(odata(tenant, "Sessions") + f"?$filter=ReportingTime%20ge%20{since}")

    assert [s["HostMachineName"] for s in response.json()["value"]] == ["new"]


def test_deleting_inactive_sessions_is_all_or_nothing(api, tenant, clock):
    # given
    machine = machine_create(tenant=tenant)
    ended = session_create(machine=machine, state=Session.State.DISCONNECTED)
    silent = session_create(machine=machine)
    clock.advance(minutes=5)
    connected = session_create(machine=machine)
    foreign = session_create(machine=machine_create(tenant=TenantFactory()))

    # when: one connected and one foreign id among them
    refused = api.post(
        odata(tenant, DELETE_INACTIVE),
        {"sessionIds": [ended.pk, silent.pk, connected.pk, foreign.pk, 2**62]},
    )

    # then: nothing is deleted, and the refused ids are named
    assert refused.status_code == 400
    body = refused.json()
    assert list(body["errors"]) == ["sessionIds"]
    assert f"{connected.pk}, {foreign.pk}, {2**62}" in body["message"]
    assert str(ended.pk) not in body["message"].split("are")[0].split(",")
    assert Session.objects.count() == 4
    assert not AuditEvent.objects.filter(action="session.delete").exists()

    # when: only the inactive ones, one twice
    deleted = api.post(
        odata(tenant, DELETE_INACTIVE), {"SessionIds": [ended.pk, silent.pk, ended.pk]}
    )

    # then
    assert deleted.status_code == 204
    assert set(Session.objects.values_list("pk", flat=True)) == {connected.pk, foreign.pk}
    events = AuditEvent.objects.filter(action="session.delete").order_by("id")
    assert [(e.target_id, e.details["state"]) for e in events] == [
        (str(ended.pk), "Disconnected"),
        (str(silent.pk), "Unresponsive"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"sessionIds": []}, id="empty"),
        pytest.param({"sessionIds": "1"}, id="not-a-list"),
        pytest.param({"sessionIds": ["x"]}, id="not-numbers"),
        pytest.param({"sessionIds": [0]}, id="zero"),
        pytest.param({"sessionIds": [2**64]}, id="beyond-64-bits"),
        pytest.param({"sessionIds": list(range(1, 1002))}, id="too-many"),
        pytest.param("[1]", id="not-an-object"),
        pytest.param("{", id="malformed"),
    ],
)
def test_bad_delete_inactive_input_is_a_400(api, tenant, body):
    session = session_create(machine=machine_create(tenant=tenant), state="Disconnected")

    response = api.post(odata(tenant, DELETE_INACTIVE), body)

    assert response.status_code == 400
    assert response.json()["errorCode"] == ERROR_INVALID_INPUT
    assert Session.objects.filter(pk=session.pk).exists()


def test_an_items_error_reads_as_its_message(api, tenant):
    response = api.post(odata(tenant, DELETE_INACTIVE), {"sessionIds": [1, "x"]})

    assert response.json()["errors"] == {"sessionIds": ["A valid integer is required."]}
    assert response.json()["message"] == "sessionIds: A valid integer is required."


@pytest.mark.parametrize(
    ("scope", "status"),
    [("OR.Robots", 204), ("OR.Robots.Write", 204), ("OR.Robots.Read", 403), ("OR.Machines", 403)],
)
def test_deleting_inactive_sessions_needs_robots_write(token_for, tenant, scope, status):
    session = session_create(machine=machine_create(tenant=tenant), state="Disconnected")

    response = token_for(scope).post(odata(tenant, DELETE_INACTIVE), {"sessionIds": [session.pk]})

    assert response.status_code == status
    assert Session.objects.filter(pk=session.pk).exists() == (status != 204)


def test_an_attended_session_is_never_deleted(api, tenant):
    session = session_create(machine=machine_create(tenant=tenant), state="Disconnected")
    Session.objects.filter(pk=session.pk).update(is_unattended=False)

    response = api.post(odata(tenant, DELETE_INACTIVE), {"sessionIds": [session.pk]})

    assert response.status_code == 400
    assert Session.objects.filter(pk=session.pk).exists()


# --- settings ------------------------------------------------------------------------------


def test_settings_list_every_known_key_with_its_effective_value(api, tenant):
    api.put(odata(tenant, f"Settings('{PERIOD}')"), {"Value": "45"})

    response = api.get(odata(tenant, "Settings"))

    assert response.status_code == 200
    assert response.json()["@odata.count"] == 3
    values = {s["Name"]: (s["Value"], s["Type"]) for s in response.json()["value"]}
    assert values == {
        "Auth.UnattendedRobot.ForceClientCredentials": ("true", "Boolean"),
        "Scalability.Heartbeat.FailureThreshold": ("4", "Int"),
        PERIOD: ("45", "Int"),
    }
    assert response.json()["value"][0]["Id"] == "Auth.UnattendedRobot.ForceClientCredentials"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("$filter=startswith(Name,'scalability')", [
            "Scalability.Heartbeat.FailureThreshold", PERIOD
        ]),
        ("$filter=Name%20eq%20'auth.unattendedrobot.forceclientcredentials'", [
            "Auth.UnattendedRobot.ForceClientCredentials"
        ]),
        ("$orderby=Name%20desc&$top=1", [PERIOD]),
        ("$skip=2", [PERIOD]),
    ],
)  # fmt: skip
def test_settings_query_options(api, tenant, query, names):
    response = api.get(odata(tenant, "Settings") + "?" + query)

    assert response.status_code == 200, response.content
    assert [s["Name"] for s in response.json()["value"]] == names


def test_a_setting_is_read_and_written_by_key_and_audited(api, tenant):
    url = odata(tenant, "Settings('Auth.UnattendedRobot.ForceClientCredentials')")

    put = api.put(url, {"Name": "Auth.UnattendedRobot.ForceClientCredentials", "Value": "False"})

    assert put.status_code == 200, put.content
    assert put.json()["Value"] == "false"
    assert api.get(url).json()["Value"] == "false"
    event = AuditEvent.objects.get(action="setting.update")
    assert event.details == {"value": {"before": True, "after": False}}
    assert (event.actor_kind, event.tenant) == ("app", tenant)


@pytest.mark.parametrize(
    ("key", "body", "field"),
    [
        pytest.param(PERIOD, {"Value": "soon"}, "Value", id="wrong-type"),
        pytest.param(PERIOD, {"Value": True}, "Value", id="bool-for-int"),
        pytest.param(PERIOD, {"Value": 0}, "Value", id="below-minimum"),
        pytest.param(PERIOD, {"Value": 3601}, "Value", id="above-maximum"),
        pytest.param(PERIOD, {"Value": None}, "Value", id="null"),
        pytest.param(PERIOD, {"Value": [30]}, "Value", id="list"),
        pytest.param(PERIOD, {}, "Value", id="missing-value"),
        pytest.param(PERIOD, {"Name": "Other", "Value": 30}, "Name", id="other-name"),
        pytest.param("No.Such.Setting", {"Value": 1}, "Name", id="unknown-key"),
        pytest.param(
            "Auth.UnattendedRobot.ForceClientCredentials", {"Value": "yes"}, "Value", id="not-bool"
        ),
    ],
)
def test_invalid_setting_input_is_a_400_naming_the_field(api, tenant, key, body, field):
    response = api.put(odata(tenant, f"Settings('{key}')"), body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert response.json()["message"].startswith(f"{field}: ")
    assert not Setting.objects.exists()


def test_a_huge_or_malformed_settings_body_is_a_400(api, tenant):
    url = odata(tenant, f"Settings('{PERIOD}')")

    assert api.put(url, json.dumps({"Value": 30, "x": "y" * 70_000})).status_code == 400
    assert api.put(url, "{").status_code == 400
    assert api.put(url, "[" * 100_000).status_code == 400
    assert not Setting.objects.exists()


def test_an_unknown_setting_is_a_404_to_get(api, tenant):
    assert api.get(odata(tenant, "Settings('No.Such')")).status_code == 404


@pytest.mark.parametrize(
    ("scope", "read", "write"),
    [("OR.Settings.Read", 200, 403), ("OR.Settings.Write", 403, 200), ("OR.Robots", 403, 403)],
)
def test_settings_scopes(token_for, tenant, scope, read, write):
    api = token_for(scope)
    url = odata(tenant, f"Settings('{PERIOD}')")

    assert api.get(odata(tenant, "Settings")).status_code == read
    assert api.get(url).status_code == read
    assert api.put(url, {"Value": 31}).status_code == write


# --- audit ---------------------------------------------------------------------------------


def test_audit_logs_are_this_tenants_newest_first(api, tenant, other_tenant, clock):
    # given: events here, in another tenant of the organization, in another organization
    robot_create(tenant=tenant, name="First")
    clock.advance(seconds=1)
    robot_create(tenant=tenant, name="Second")
    robot_create(tenant=TenantFactory(organization=tenant.organization), name="Sibling")
    robot_create(tenant=other_tenant, name="Foreign")

    # when
    response = api.get(odata(tenant, "AuditLogs") + "?$filter=Action%20eq%20'robot.create'")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.count"] == 2
    assert [e["TargetName"] for e in body["value"]] == ["Second", "First"]
    event = body["value"][0]
    assert set(event) == {
        "Id", "Action", "Outcome", "ReasonCode", "ActorKind", "ActorId", "UserName",
        "TargetType", "TargetId", "TargetName", "ExecutionTime", "ClientAddress",
        "UserAgent", "RequestId", "Details",
    }  # fmt: skip
    assert (event["ActorKind"], event["UserName"], event["TargetType"]) == (
        "system",
        "tests",
        "robot",
    )


def test_audit_logs_filter_by_action_actor_and_time(api, tenant):
    # given: a robot made by the API (actor: the app), and one by the tests (system)
    api.post(odata(tenant, "Robots"), {"Name": "ByApi", "Username": "u"})
    robot_create(tenant=tenant, name="BySystem")
    event = AuditEvent.objects.get(target_name="ByApi")
    at = event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def actions(query):
        response = api.get(odata(tenant, "AuditLogs") + "?$filter=" + query)
        assert response.status_code == 200, response.content
        return [e["TargetName"] for e in response.json()["value"]]

    # then
    assert actions("startswith(Action,'robot.')") == ["BySystem", "ByApi"]
    assert actions("contains(Action,'CREATE') and ActorKind eq 'app'") == ["ByApi"]
    assert actions(f"UserName eq 'tests' and ExecutionTime ge {at}") == ["BySystem"]
    assert actions(f"ExecutionTime le {at} and Action eq 'robot.create'") == ["ByApi"]
    assert actions(f"ExecutionTime gt {at} and Action eq 'robot.create'") == ["BySystem"]
    assert actions(f"Id eq {event.pk}") == ["ByApi"]


@pytest.mark.parametrize(
    "query",
    [
        "ExecutionTime%20ge%20'2026-01-01'",
        "ExecutionTime%20ge%202026-13-01T00:00:00Z",
        "ExecutionTime%20ge%202026-01-01T00:00:00",
        "contains(ExecutionTime,'2026')",
        "Action%20ge%20'a'",
        "Action%20ge%202026-01-01T00:00:00Z",
        "Details%20eq%20'x'",
    ],
)
def test_unsupported_audit_filters_are_a_400(api, tenant, query):
    response = api.get(odata(tenant, "AuditLogs") + "?$filter=" + query)

    assert response.status_code == 400
    assert response.json()["message"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_audit_logs_are_read_only(api, tenant, method):
    path = odata(tenant, "AuditLogs")
    response = api.delete(path) if method == "delete" else getattr(api, method)(path, {})

    assert response.status_code == 405


def test_audit_logs_need_the_audit_scope(token_for, tenant):
    assert token_for("OR.Audit.Read").get(odata(tenant, "AuditLogs")).status_code == 200
    assert token_for("OR.Robots").get(odata(tenant, "AuditLogs")).status_code == 403


# --- search ----------------------------------------------------------------------------------


def test_search_finds_machines_and_robots_of_this_tenant_by_name(api, tenant, other_tenant):
    # given
    machine = machine_create(tenant=tenant, name="Build host", description="CI")
    robot = robot_create(tenant=tenant, name="builder", description="nightly")
    machine_create(tenant=tenant, name="Other")
    machine_create(tenant=TenantFactory(organization=tenant.organization), name="Build sibling")
    robot_create(tenant=other_tenant, name="Build foreign")

    # when
    response = api.get(search_url(tenant, "query=BUILD"))

    # then
    assert response.status_code == 200
    assert response.json() == {
        "value": [
            {"type": "machine", "id": str(machine.pk), "name": "Build host", "description": "CI"},
            {"type": "robot", "id": str(robot.pk), "name": "builder", "description": "nightly"},
        ]
    }


def test_search_by_type_and_top(api, tenant):
    for name in ["a1", "a2", "a3"]:
        robot_create(tenant=tenant, name=name)
    machine_create(tenant=tenant, name="a0")

    robots = api.get(search_url(tenant, "query=a&type=robot&top=2")).json()["value"]
    both = api.get(search_url(tenant, "query=a&type=robot,machine")).json()["value"]

    assert [r["name"] for r in robots] == ["a1", "a2"]
    assert [r["name"] for r in both] == ["a0", "a1", "a2", "a3"]


def test_search_leaves_out_what_the_token_may_not_read(token_for, tenant):
    machine_create(tenant=tenant, name="m-x")
    robot_create(tenant=tenant, name="r-x")

    robots_only = token_for("OR.Robots.Write", "OR.Robots.Read")
    neither = token_for("OR.Settings")

    assert [r["type"] for r in robots_only.get(search_url(tenant, "query=x")).json()["value"]] == [
        "robot"
    ]
    assert neither.get(search_url(tenant, "query=x")).json() == {"value": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "query"),
        ("query=", "query"),
        ("query=%20%20", "query"),
        ("query=" + "x" * 129, "query"),
        ("query=x&type=planet", "type"),
        ("query=x&type=", "type"),
        ("query=x&top=0", "top"),
        ("query=x&top=101", "top"),
        ("query=x&top=ten", "top"),
    ],
)
def test_bad_search_input_is_a_400(api, tenant, query, field):
    response = api.get(search_url(tenant, query))

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_search_needs_a_token_of_this_organization(client, api, other_tenant):
    assert Api(client, None).get(search_url(other_tenant, "query=x")).status_code == 401
    assert api.get(search_url(other_tenant, "query=x")).status_code == 404
