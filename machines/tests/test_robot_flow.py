"""The robot flow of seed 000 end to end over HTTP, as a public robot client drives it:
connection data, a token with the machine's credentials, the shared connection data, a
session with heartbeats, its end; then an admin deletes the inactive sessions."""

import base64

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from machines.models import Session
from machines.services import robot_create
from machines.tests.factories import TEST_ACTOR, machine_with_secret


def service_url(tenant, action: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/api/robotsservice/{action}"


def odata_url(tenant, entity_set: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/{entity_set}"


DELETE_INACTIVE = "Sessions/UiPath.Server.Configuration.OData.DeleteInactiveUnattendedSessions"


class Robot_:
    """A robot client: its headers on every call, as the public clients send them."""

    def __init__(self, client, tenant, host: str, token: str | None = None, license_key=""):
        self.client, self.tenant, self.host = client, tenant, host
        self.headers = {
            "X-ROBOT-MACHINE-ENCODED": base64.b64encode(host.encode()).decode(),
            "X-ROBOT-VERSION": "24.10.1",
            "X-ROBOT-AGENT": "OS=Windows",
            "X-ROBOT-CAPABILITIES": "TriggersSupport",
        }
        if license_key:
            self.headers["X-ROBOT-LICENSE"] = license_key
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def get(self, action):
        return self.client.get(service_url(self.tenant, action), headers=self.headers)

    def post(self, action, body):
        return self.client.post(
            service_url(self.tenant, action),
            body,
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def admin(client, issue_token, tenant):
    app, secret = client_with_secret(
        organization=tenant.organization, scopes=("OR.Robots", "OR.Audit.Read")
    )
    return Api(client, issue_token(app, secret))


def test_the_robot_flow_from_a_fresh_machine_to_the_deletion_of_its_sessions(
    client, clock, tenant, admin
):
    # given: a fresh machine with a generated secret and the robot that runs on it
    machine, secret = machine_with_secret(tenant=tenant, name="Build host")
    robot = robot_create(
        tenant=tenant, name="Builder", username="CORP\\builder", machine=machine, actor=TEST_ACTOR
    )
    anonymous = Robot_(client, tenant, "HOST-1")

    # when: the robot asks how to authenticate
    connection = anonymous.get("GetConnectionData")

    # then: client credentials at the tenant's token endpoint
    assert connection.status_code == 200, connection.content
    data = connection.json()
    assert data["authenticationMechanism"] == "ClientCredentials"
    assert data["forceClientCredentials"] is True
    token_path = f"/{tenant.organization.slug}/{tenant.name}/identity_/connect/token"
    assert data["tokenEndpoint"].endswith(token_path)
    assert data["issuer"].endswith("/identity_")

    # when: it gets a token with the machine's client id and secret, asking the robot scope
    issued = client.post(
        token_path,
        {
            "grant_type": "client_credentials",
            "client_id": machine.client.client_id,
            "client_secret": secret,
            "scope": data["scope"],
        },
    )
    assert issued.status_code == 200, issued.content
    assert issued.json()["scope"] == "OrchestratorApiUserAccess"
    token = issued.json()["access_token"]

    # then: the shared connection data names the machine's license key
    shared = Robot_(client, tenant, "HOST-1", token).get("getsharedconnectiondata")
    assert shared.status_code == 200, shared.content
    license_key = shared.json()["licenseKey"]
    assert license_key == machine.client.client_id
    robot_1 = Robot_(client, tenant, "HOST-1", token, license_key)

    # when: it begins a session and beats
    begun = robot_1.post("BeginSession", {"userName": "corp\\BUILDER", "unknown": 1})
    assert begun.status_code == 200, begun.content
    assert begun.json()["robotKey"] == str(robot.key)
    assert (begun.json()["robotName"], begun.json()["hasLicense"]) == ("Builder", True)
    for _ in range(3):
        clock.advance(seconds=30)
        beat = robot_1.post(
            "heartbeatv2",
            {"CommandState": "All", "Heartbeats": [{"RobotKey": str(robot.key), "x": 1}]},
        )
        assert beat.status_code == 200, beat.content
        assert beat.json()["commands"] == []
        assert beat.json()["isUnattended"] is True
        assert beat.json()["isUnattendedLicensed"] is True

    # then: one connected session of the machine on HOST-1, reporting now
    session = Session.objects.get()
    assert (session.host_name, session.state, session.robot) == ("HOST-1", "Connected", robot)
    assert session.reporting_time == clock.now
    assert session.version == "24.10.1"
    listed = admin.get(odata_url(tenant, "Sessions")).json()["value"]
    assert [(s["State"], s["IsUnresponsive"], s["HostMachineName"]) for s in listed] == [
        ("Connected", False, "HOST-1")
    ]

    # when: it ends the session
    ended = robot_1.post("EndSession", {"robotKey": str(robot.key)})

    # then: disconnected
    assert ended.status_code == 200, ended.content
    session.refresh_from_db()
    assert session.state == Session.State.DISCONNECTED

    # given: a second host that begins a session, then falls silent; and a third that beats
    robot_2 = Robot_(client, tenant, "HOST-2", token, license_key)
    robot_3 = Robot_(client, tenant, "HOST-3", token)
    assert robot_2.post("BeginSession", {"UserName": "corp\\builder"}).status_code == 200
    assert robot_3.post("startservice", {}).status_code == 200
    silent = Session.objects.get(host_name="HOST-2")

    # when: the threshold (4 x 30 s by default) has not quite passed, and then has
    clock.advance(seconds=120)
    robot_3.post("heartbeatv2", {"CommandState": "All"})
    states = {
        s["HostMachineName"]: s["State"]
        for s in admin.get(odata_url(tenant, "Sessions")).json()["value"]
    }
    assert states == {"HOST-1": "Disconnected", "HOST-2": "Connected", "HOST-3": "Connected"}
    clock.advance(seconds=1)
    robot_3.post("heartbeatv2", {"CommandState": "All"})

    # then: HOST-2 is unresponsive, HOST-3 connected
    listed = {
        s["HostMachineName"]: s for s in admin.get(odata_url(tenant, "Sessions")).json()["value"]
    }
    assert (listed["HOST-2"]["State"], listed["HOST-2"]["IsUnresponsive"]) == ("Unresponsive", True)
    assert (listed["HOST-3"]["State"], listed["HOST-3"]["IsUnresponsive"]) == ("Connected", False)

    # when: the admin deletes inactive sessions, a connected one among them
    connected = Session.objects.get(host_name="HOST-3")
    refused = admin.post(
        odata_url(tenant, DELETE_INACTIVE), {"sessionIds": [session.pk, silent.pk, connected.pk]}
    )

    # then: refused whole, naming the connected one
    assert refused.status_code == 400
    assert str(connected.pk) in refused.json()["message"]
    assert Session.objects.count() == 3

    # when: only the two inactive ones
    deleted = admin.post(
        odata_url(tenant, DELETE_INACTIVE), {"sessionIds": [session.pk, silent.pk]}
    )

    # then
    assert deleted.status_code == 204, deleted.content
    assert list(Session.objects.values_list("host_name", flat=True)) == ["HOST-3"]

    # and each step is in the audit log, the robot acting as its machine
    events = admin.get(odata_url(tenant, "AuditLogs") + "?$top=20").json()["value"]
    steps = [
        (e["Action"], e["TargetId"])
        for e in reversed(events)
        if e["Action"].startswith(("session", "robot_service"))
    ]
    assert steps == [
        ("session.begin", str(session.pk)),
        ("session.end", str(session.pk)),
        ("session.begin", str(silent.pk)),
        ("robot_service.start", str(connected.pk)),
        ("session.delete", str(session.pk)),
        ("session.delete", str(silent.pk)),
    ]
    robot_events = [e for e in events if e["Action"] in {"session.begin", "session.end"}]
    assert {(e["ActorKind"], e["ActorId"], e["UserName"]) for e in robot_events} == {
        ("robot", machine.client.client_id, "Build host")
    }
