"""The robot service's refusals and input handling, over HTTP with real tokens."""

import base64
import json

import pytest

from identity_server.models import ClientSecret
from identity_server.services import client_secret_delete
from identity_server.tests.factories import client_with_secret
from machines.models import Session
from machines.tests.factories import TEST_ACTOR, machine_with_secret, robot_create
from tenants.models import AuditEvent
from tenants.odata import ERROR_INVALID_INPUT, MAX_BODY_BYTES
from tenants.services import setting_set
from tenants.tests.factories import TenantFactory

AUTHENTICATED = [
    ("get", "getsharedconnectiondata"),
    ("post", "BeginSession"),
    ("post", "heartbeatv2"),
    ("post", "EndSession"),
    ("post", "startservice"),
    ("post", "stopservice"),
]
POSTS = [action for method, action in AUTHENTICATED if method == "post"]


def url(tenant, action: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/api/robotsservice/{action}"


def call(client, tenant, method, action, token=None, body="{}", headers=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if method == "get":
        return client.get(url(tenant, action), headers=headers)
    return client.post(url(tenant, action), body, content_type="application/json", headers=headers)


@pytest.fixture
def machine(tenant):
    return machine_with_secret(tenant=tenant, name="Host machine")


@pytest.fixture
def token(machine, issue_token):
    return issue_token(machine[0].client, machine[1])


def nothing_written():
    return (
        not Session.objects.exists()
        and not AuditEvent.objects.filter(action__startswith=("session")).exists()
    )


# --- who may call -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_without_a_token_every_call_is_a_401_with_a_challenge(client, tenant, method, action):
    response = call(client, tenant, method, action)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Session.objects.exists()


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_a_robot_with_only_its_license_key_is_told_where_to_get_a_token(
    client, tenant, machine, settings, method, action
):
    # given: what the uipath-robot simulator sends, the license key (the machine's client
    # ID) and no token
    settings.IDENTITY_ISSUER = "https://id.example.test/identity_"
    license_key = {"X-ROBOT-LICENSE": machine[0].client.client_id}

    # when
    response = call(client, tenant, method, action, headers=license_key)

    # then: still refused, and the body says what to do instead
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="identity"'
    assert response.json() == {
        "detail": "A bearer access token is required. X-ROBOT-LICENSE is the machine's client "
        "ID, not a secret: get a token from the tenant's token endpoint with the client "
        "credentials grant, the machine's client ID and a client secret, scope "
        "OrchestratorApiUserAccess.",
        "tokenEndpoint": f"https://id.example.test/{tenant.organization.slug}/{tenant.name}"
        "/identity_/connect/token",
        "grantType": "client_credentials",
        "scope": "OrchestratorApiUserAccess",
    }
    assert nothing_written()


def test_the_token_hint_is_the_same_for_a_tenant_that_does_not_exist(client, tenant, settings):
    # The endpoint is built from the URL's names, never looked up: nothing to tell apart.
    settings.IDENTITY_ISSUER = "https://id.example.test/identity_"
    path = f"/{tenant.organization.slug}/Nowhere/orchestrator_/api/robotsservice/heartbeatv2"

    response = client.post(path, "{}", content_type="application/json")

    assert response.status_code == 401
    assert response.json()["tokenEndpoint"] == (
        f"https://id.example.test/{tenant.organization.slug}/Nowhere/identity_/connect/token"
    )


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_an_expired_token_is_a_401(client, tenant, machine, issue_token, settings, method, action):
    settings.ACCESS_TOKEN_LIFETIME = -120  # issued already expired, beyond the leeway
    expired = issue_token(machine[0].client, machine[1])

    response = call(client, tenant, method, action, expired)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Session.objects.exists()


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_a_token_whose_secret_was_deleted_after_issue_is_a_401(
    client, tenant, machine, token, method, action
):
    # given
    assert call(client, tenant, "get", "getsharedconnectiondata", token).status_code == 200
    client_secret_delete(
        secret=ClientSecret.objects.get(client=machine[0].client), actor=TEST_ACTOR
    )

    # when
    response = call(client, tenant, method, action, token)

    # then
    assert response.status_code == 401
    assert not Session.objects.exists()


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
@pytest.mark.parametrize("where", ["other-tenant", "other-organization"])
def test_a_token_of_another_tenants_machine_is_a_401(
    client, tenant, other_admin_membership, issue_token, method, action, where
):
    # given: a machine elsewhere, and its valid token sent to our tenant's routes
    elsewhere = {
        "other-tenant": TenantFactory(organization=tenant.organization),
        "other-organization": other_admin_membership.organization.tenants.get(),
    }[where]
    foreign, secret = machine_with_secret(tenant=elsewhere)
    foreign_token = issue_token(foreign.client, secret)

    # when
    response = call(client, tenant, method, action, foreign_token)

    # then: RFC 6750 §3.1, the token is refused and the challenge says so
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="identity", error="invalid_token", error_description="The access token '
        "is not a robot's token of a machine of this tenant.\""
    )
    assert not Session.objects.exists()
    # while in its own tenant it works
    assert (
        call(client, elsewhere, "get", "getsharedconnectiondata", foreign_token).status_code == 200
    )


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_an_external_applications_token_is_a_401(client, tenant, issue_token, method, action):
    app, secret = client_with_secret(organization=tenant.organization, scopes=("OR.Robots",))

    response = call(client, tenant, method, action, issue_token(app, secret))

    assert response.status_code == 401
    assert not Session.objects.exists()


@pytest.mark.parametrize(("method", "action"), AUTHENTICATED)
def test_a_license_header_of_another_machine_is_a_401(client, tenant, token, method, action):
    other, _ = machine_with_secret(tenant=tenant)

    response = call(
        client, tenant, method, action, token, headers={"X-ROBOT-LICENSE": other.client.client_id}
    )

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="identity", error="invalid_token", '
        'error_description="X-ROBOT-LICENSE is not this machine\'s key."'
    )
    assert not Session.objects.exists()


def test_the_license_header_of_its_own_machine_is_accepted(client, tenant, machine, token):
    response = call(
        client,
        tenant,
        "post",
        "BeginSession",
        token,
        headers={"X-ROBOT-LICENSE": machine[0].client.client_id},
    )

    assert response.status_code == 200, response.content


def test_a_garbage_token_is_a_401(client, tenant):
    response = call(client, tenant, "post", "BeginSession", "not.a.token")

    assert response.status_code == 401
    assert nothing_written()


# --- routes --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["BEGINSESSION", "beginsession", "BeginSession", "beginSession"])
def test_the_action_is_matched_in_any_case(client, tenant, token, action):
    assert call(client, tenant, "post", action, token).status_code == 200


def test_an_unknown_action_is_a_json_404(client, tenant, token):
    response = call(client, tenant, "post", "DeleteEverything", token)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_wrong_method_is_a_405(client, tenant, token):
    assert call(client, tenant, "get", "BeginSession", token).status_code == 405
    assert call(client, tenant, "post", "getsharedconnectiondata", token).status_code == 405


def test_get_connection_data_is_anonymous_and_follows_the_tenants_setting(client, tenant):
    setting_set(
        tenant=tenant,
        key="Auth.UnattendedRobot.ForceClientCredentials",
        value=False,
        actor=TEST_ACTOR,
    )

    response = client.get(url(tenant, "getconnectiondata"), headers={"Authorization": "Bearer x"})

    assert response.status_code == 200
    assert response.json()["forceClientCredentials"] is False
    assert response.json()["scope"] == "OrchestratorApiUserAccess"


def test_get_connection_data_of_an_unknown_tenant_is_a_404(client, tenant):
    response = client.get(
        f"/{tenant.organization.slug}/Nowhere/orchestrator_/api/robotsservice/GetConnectionData"
    )

    assert response.status_code == 404


# --- sessions -------------------------------------------------------------------------------


def test_the_host_comes_from_the_encoded_header_then_the_plain_one_then_the_machine(
    client, tenant, machine, token
):
    encoded = base64.b64encode("Hôte-1".encode()).decode()
    call(
        client, tenant, "post", "startservice", token, headers={"X-ROBOT-MACHINE-ENCODED": encoded}
    )
    call(client, tenant, "post", "startservice", token, headers={"X-ROBOT-MACHINE": "HOST-2"})
    call(client, tenant, "post", "startservice", token)

    hosts = list(Session.objects.order_by("id").values_list("host_name", flat=True))
    assert hosts == ["Hôte-1", "HOST-2", "Host machine"]


def test_begin_session_for_an_unknown_account_connects_without_a_robot(client, tenant, token):
    response = call(client, tenant, "post", "BeginSession", token, json.dumps({"userName": "x"}))

    assert response.status_code == 200
    assert (response.json()["robotKey"], response.json()["hasLicense"]) == (None, False)
    assert Session.objects.get().robot is None


def test_a_robot_of_another_machine_is_not_this_sessions_robot(client, tenant, machine, token):
    # given: the account runs on another machine of the tenant
    other, _ = machine_with_secret(tenant=tenant)
    robot_create(tenant=tenant, username="corp\\bot", machine=other)
    mine = robot_create(tenant=tenant, username="corp\\bot2", machine=None)

    # then: a robot without a machine may run here, one of another machine may not
    first = call(
        client, tenant, "post", "BeginSession", token, json.dumps({"userName": "corp\\bot"})
    )
    assert first.json()["robotKey"] is None
    second = call(
        client, tenant, "post", "BeginSession", token, json.dumps({"userName": "CORP\\BOT2"})
    )
    assert second.json()["robotKey"] == str(mine.key)


def test_heartbeats_are_audited_only_when_the_state_changes(client, clock, tenant, token):
    # given
    def beat():
        return call(client, tenant, "post", "heartbeatv2", token, '{"commandState": "All"}')

    # when: a new session beats 5 times, falls silent past the threshold, beats again
    for _ in range(5):
        assert beat().status_code == 200
        clock.advance(seconds=30)
    clock.advance(seconds=200)
    beat()
    beat()

    # then: the first beat and the first after silence are audited, no other
    events = AuditEvent.objects.filter(action="session.connect").order_by("id")
    assert [e.details["state"] for e in events] == [
        {"before": "New", "after": "Connected"},
        {"before": "Unresponsive", "after": "Connected"},
    ]
    assert Session.objects.get().reporting_time == clock.now


def test_stop_service_disconnects_the_session_and_start_service_connects_it(client, tenant, token):
    call(client, tenant, "post", "startservice", token, "")
    call(client, tenant, "post", "stopservice", token, "")

    assert Session.objects.get().state == Session.State.DISCONNECTED
    assert list(
        AuditEvent.objects.filter(action__startswith="robot_service").values_list(
            "action", flat=True
        )
    ) == ["robot_service.stop", "robot_service.start"]


def test_the_heartbeat_answers_a_settings_stamp_that_changes_with_the_settings(
    client, tenant, token
):
    def stamp():
        return call(client, tenant, "post", "heartbeatv2", token).json()["serviceSettingsStamp"]

    before = stamp()
    setting_set(
        tenant=tenant, key="Scalability.Heartbeat.PeriodSeconds", value=60, actor=TEST_ACTOR
    )

    assert stamp() != before


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        pytest.param("BeginSession", "{not json", id="malformed"),
        pytest.param("BeginSession", "[1]", id="not-an-object"),
        pytest.param("BeginSession", "null", id="null"),
        pytest.param("BeginSession", '{"userName": 5}', id="user-name-a-number"),
        pytest.param("BeginSession", '{"UserName": ["x"]}', id="user-name-a-list"),
        pytest.param("BeginSession", json.dumps({"userName": "x" * 257}), id="user-name-too-long"),
        pytest.param("heartbeatv2", '{"Heartbeats": {}}', id="heartbeats-not-a-list"),
        pytest.param("heartbeatv2", '{"Heartbeats": [1]}', id="heartbeat-not-an-object"),
        pytest.param("heartbeatv2", '{"Heartbeats": [{"RobotKey": "x"}]}', id="robot-key-not-uuid"),
        pytest.param("heartbeatv2", '{"CommandState": true}', id="command-state-a-bool"),
        pytest.param("heartbeatv2", json.dumps({"Heartbeats": [{}] * 101}), id="too-many-beats"),
        pytest.param("EndSession", '{"robotKey": 12}', id="robot-key-a-number"),
        pytest.param("startservice", '"text"', id="service-body-a-string"),
        pytest.param("EndSession", "[" * 50_000 + "]" * 50_000, id="deeply-nested"),
        pytest.param("heartbeatv2", "\xff\xfe", id="not-utf8"),
    ],
)
def test_bad_bodies_are_a_400_that_changes_nothing(client, tenant, token, action, body):
    response = call(client, tenant, "post", action, token, body)

    assert response.status_code == 400, response.content
    assert response.json()["errorCode"] == ERROR_INVALID_INPUT
    assert response.json()["message"]
    assert nothing_written()


def test_a_body_over_64_kib_is_a_400_that_changes_nothing(client, tenant, token):
    body = json.dumps({"userName": "x", "padding": "y" * MAX_BODY_BYTES})

    response = call(client, tenant, "post", "BeginSession", token, body)

    assert response.status_code == 400
    assert "64 KiB" in response.json()["message"]
    assert nothing_written()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-ROBOT-MACHINE-ENCODED": "***"}, id="encoded-not-base64"),
        pytest.param(
            {"X-ROBOT-MACHINE-ENCODED": base64.b64encode(b"\xff").decode()}, id="not-utf8"
        ),
        pytest.param({"X-ROBOT-MACHINE": "h" * 257}, id="host-too-long"),
        pytest.param({"X-ROBOT-VERSION": "1" * 65}, id="version-too-long"),
    ],
)
def test_bad_headers_are_a_400_that_changes_nothing(client, tenant, token, headers):
    response = call(client, tenant, "post", "BeginSession", token, headers=headers)

    assert response.status_code == 400
    assert all(field.startswith("X-ROBOT-") for field in response.json()["errors"])
    assert nothing_written()
