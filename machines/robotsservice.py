"""The robot service (SPEC §2, §6): what unattended robots call, under
`/{org}/{tenant}/orchestrator_/api/robotsservice/{action}`, the action matched in any case
(public clients spell it differently).

- `GetConnectionData` (GET, anonymous): the tenant's authentication configuration.
- `getsharedconnectiondata` (GET): `{"licenseKey"}`, the machine's client id.
- `BeginSession`, `heartbeatv2`, `EndSession`, `startservice`, `stopservice` (POST): write
  the machine's session on the calling host (machines.services.session_report).

Every call but GetConnectionData needs a bearer token of a machine client of this tenant
holding OrchestratorApiUserAccess. Anything else (no token, an expired or revoked one, a
token of another tenant's machine or of an external application, an `X-ROBOT-LICENSE`
header that is not the machine's client id) is a 401 with a Bearer challenge, before
anything is read or written. Without any token (robots that send `X-ROBOT-LICENSE` alone)
the 401's body says a bearer token is required and names the tenant's token endpoint.

Robots send `X-ROBOT-MACHINE` or `X-ROBOT-MACHINE-ENCODED` (base64 of the UTF-8 host name),
`X-ROBOT-VERSION`, `X-ROBOT-AGENT`, `X-ROBOT-CAPABILITIES`: the host name (default: the
machine's name) and the version go into the session, the others are accepted and unused.
Bodies are JSON objects of at most 64 KiB whose field names match in any case; unknown
fields are ignored; malformed JSON, a wrong type or a larger body is a 400 with UiPath's
body. Auditing (machines.services): every call that changes a session's state, so every
BeginSession, EndSession, startservice and stopservice, and a heartbeat only when the
session was new, disconnected or unresponsive.
"""

import base64
import binascii
import dataclasses
import hashlib
import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from identity_server import endpoints, errors
from identity_server.authentication import BearerTokenAuthentication, token_refuse
from identity_server.scopes import ROBOT_SCOPE
from machines import selectors, serializers, services
from machines.models import Session
from tenants import odata
from tenants.access import access_tenant_anonymously
from tenants.selectors import setting_values
from tenants.services import Actor

FORCE_CLIENT_CREDENTIALS = "Auth.UnattendedRobot.ForceClientCredentials"


class RobotServiceView(APIView):
    """A robot service call: `self.machine` is the token's machine of this tenant, or 401."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = []
    parser_classes = [odata.JSONParser]
    # A header name per request field, for a 400 that names it.
    error_fields = {"host_name": "X-ROBOT-MACHINE", "version": "X-ROBOT-VERSION"}

    def get_exception_handler(self):
        return odata.exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                _token_required(org=kwargs["org"], tenant=kwargs["tenant"])
            )
        self.machine = selectors.machine_for_robot_token(
            principal=request.user, org_slug=kwargs["org"], tenant_name=kwargs["tenant"]
        )
        if self.machine is None:
            token_refuse(
                request, "The access token is not a robot's token of a machine of this tenant."
            )
        license_key = request.headers.get("X-Robot-License")
        if license_key is not None and not constant_time_compare(
            license_key, self.machine.client.client_id
        ):
            token_refuse(request, "X-ROBOT-LICENSE is not this machine's key.")

    def call(self, request) -> dict:
        """What every session write takes from the request: host, version, actor."""
        return {
            "machine": self.machine,
            "host_name": _host_name(request, self.machine.name),
            "version": _header(request, "X-Robot-Version", "version", Session.VERSION_MAX_LENGTH),
            # The robot acts as its machine's client; its name is the machine's.
            "actor": dataclasses.replace(Actor.from_request(request), name=self.machine.name),
        }

    def body(self, request, serializer_class) -> dict:
        return serializers.robot_service_input(serializer_class, request.data)


def _token_required(*, org: str, tenant: str) -> dict:
    """The 401 body for a call without a token. Robots that send only X-ROBOT-LICENSE (the
    machine's client ID, which is no secret) learn what to do instead. The endpoint is built
    from the names in the URL without reading them, so the answer is the same whether or not
    the tenant exists."""
    return {
        "detail": "A bearer access token is required. X-ROBOT-LICENSE is the machine's client "
        "ID, not a secret: get a token from the tenant's token endpoint with the client "
        f"credentials grant, the machine's client ID and a client secret, scope {ROBOT_SCOPE}.",
        "tokenEndpoint": endpoints.token_endpoint(org=org, tenant=tenant),
        "grantType": "client_credentials",
        "scope": ROBOT_SCOPE,
    }


def _header(request, name: str, field: str, max_length: int) -> str:
    value = request.headers.get(name, "").strip()
    if len(value) > max_length or "\x00" in value:
        raise ValidationError({field: f"At most {max_length} characters, no NUL."})
    return value


def _host_name(request, default: str) -> str:
    encoded = request.headers.get("X-Robot-Machine-Encoded")
    if encoded:
        try:
            name = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationError(
                {"X-ROBOT-MACHINE-ENCODED": "Must be the base64 of a UTF-8 host name."}
            ) from None
        if len(name) > Session.HOST_NAME_MAX_LENGTH or "\x00" in name:
            raise ValidationError({"X-ROBOT-MACHINE-ENCODED": "At most 256 characters, no NUL."})
    else:
        name = _header(request, "X-Robot-Machine", "host_name", Session.HOST_NAME_MAX_LENGTH)
    return name or default


class GetConnectionData(APIView):
    """GET, anonymous: how robots of this tenant authenticate. Client credentials with the
    machine's client id and a secret, at the tenant's token endpoint, for the robot scope."""

    authentication_classes = []
    permission_classes = []

    def get(self, request, org, tenant):
        tenant = access_tenant_anonymously(org_slug=org, tenant_name=tenant)
        issuer = settings.IDENTITY_ISSUER
        return Response(
            {
                "authenticationMechanism": "ClientCredentials",
                "forceClientCredentials": setting_values(tenant=tenant)[FORCE_CLIENT_CREDENTIALS],
                "grantType": "client_credentials",
                "scope": ROBOT_SCOPE,
                "issuer": issuer,
                "identityServerUrl": issuer,
                "tokenEndpoint": endpoints.token_endpoint(
                    org=tenant.organization.slug, tenant=tenant.name
                ),
            }
        )


class GetSharedConnectionData(RobotServiceView):
    def get(self, request, org, tenant):
        return Response(
            {"licenseKey": self.machine.client.client_id, "machineName": self.machine.name}
        )


class BeginSession(RobotServiceView):
    """POST `{"userName"}`: the session of the robot that runs as that account begins."""

    def post(self, request, org, tenant):
        user_name = self.body(request, serializers.BeginSessionInput).get("userName", "")
        session = services.session_begin(user_name=user_name, **self.call(request))
        robot = session.robot
        return Response(
            {
                "robotKey": str(robot.key) if robot else None,
                "robotName": robot.name if robot else None,
                "hasLicense": robot is not None,
                "isUnattended": session.is_unattended,
                "machineName": self.machine.name,
                "hostName": session.host_name,
            }
        )


class HeartbeatV2(RobotServiceView):
    """POST `{"CommandState": "All", "Heartbeats": [{"RobotKey", ...}]}`."""

    def post(self, request, org, tenant):
        body = self.body(request, serializers.HeartbeatInput)
        keys = [h["robotKey"] for h in body.get("heartbeats", []) if h.get("robotKey")]
        session = services.session_heartbeat(robot_keys=keys, **self.call(request))
        return Response(
            {
                "commands": [],
                "serviceSettingsStamp": _settings_stamp(session.tenant),
                "isUnattended": session.is_unattended,
                "isUnattendedLicensed": session.robot_id is not None,
            }
        )


class EndSession(RobotServiceView):
    """POST `{"robotKey"}`: the robot ended its session gracefully."""

    def post(self, request, org, tenant):
        robot_key = self.body(request, serializers.EndSessionInput).get("robotKey")
        services.session_end(robot_key=robot_key, **self.call(request))
        return Response({})


class ServiceStateView(RobotServiceView):
    """startservice and stopservice: the robot service on the host started or stopped."""

    state = Session.State.CONNECTED
    action = ""

    def post(self, request, org, tenant):
        self.body(request, serializers.ServiceInput)
        services.session_report(state=self.state, action=self.action, **self.call(request))
        return Response({})


class StartService(ServiceStateView):
    state, action = Session.State.CONNECTED, "robot_service.start"


class StopService(ServiceStateView):
    state, action = Session.State.DISCONNECTED, "robot_service.stop"


def _settings_stamp(tenant) -> str:
    """Changes whenever a setting of the tenant does, so robots know to re-read them."""
    values = json.dumps(setting_values(tenant=tenant), sort_keys=True)
    return hashlib.sha256(values.encode()).hexdigest()[:16]


ACTIONS = {
    "getconnectiondata": GetConnectionData.as_view(),
    "getsharedconnectiondata": GetSharedConnectionData.as_view(),
    "beginsession": BeginSession.as_view(),
    "heartbeatv2": HeartbeatV2.as_view(),
    "endsession": EndSession.as_view(),
    "startservice": StartService.as_view(),
    "stopservice": StopService.as_view(),
}


@csrf_exempt
def robot_service(request, org, tenant, action):
    """Routes `…/robotsservice/{action}` to its view, the action in any case."""
    view = ACTIONS.get(action.lower())
    if view is None:
        return errors.api_not_found(request)
    return view(request, org=org, tenant=tenant)
