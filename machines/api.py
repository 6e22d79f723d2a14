"""The tenant APIs of the orchestrator_ routes, for scripts with a bearer token (SPEC §2,
§4, §6, §7).

- `/{org}/{tenant}/orchestrator_/odata/Machines` and `…/Machines({Id})`: OData CRUD.
- `/{org}/{tenant}/orchestrator_/api/Machines/{Id}/ClientSecrets[/{secretId}]`: the secrets
  of a machine's client; the plaintext is answered once, at creation.
- `…/odata/Robots` and `…/Robots({Id})`: unattended robots, OData CRUD.
- `…/odata/Sessions` (read) and `POST …/odata/Sessions/UiPath.Server.Configuration.OData.
  DeleteInactiveUnattendedSessions` `{"sessionIds": [...]}`: all or nothing, 204.
- `…/odata/CredentialStores` and `…/CredentialStores({Id})`: the tenant's robot credential
  stores (SPEC §12, machines.credential_stores), OData CRUD (a delete of a store robots use
  needs `?forceDelete=true`), with UiPath's actions `GetAvailableCredentialStoreTypes()`,
  `GetDefaultStoreForResourceType(resourceType='RobotCredentials')`,
  `({Id})/…SetDefaultStoreForResourceType` and ours, `({Id})/…TestConnection`. Secret
  settings are write-only: no answer carries one.
- `…/odata/Settings` and `GET/PUT …/odata/Settings('{key}')`: every known setting of the
  tenant with its effective value (the default when unset).
- `…/odata/AuditLogs`: this tenant's audit events, newest first, read-only. Events of the
  organization without a tenant (external applications, refused token requests of
  organization clients) are not a tenant's, and are not listed here.
- `…/api/Search?query=…&type=machine,robot&top=20`: tenants.search over this tenant.

Each view names the scope of each method: `OR.Machines`, `OR.Robots` (robots and
sessions), `OR.Settings` (settings and credential stores), `OR.Audit`, as `.Read` or
`.Write`. Answers come in the order of identity_server.permissions: 401, then 404 for
another organization or tenant, then 405, then 403; an id that is not this tenant's is
the same 404 as a missing one. A 400 has UiPath's body (tenants.odata.exception_handler).
"""

from django.http import Http404
from django.urls import reverse
from rest_framework import permissions, status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from identity_server import selectors as identity_selectors
from identity_server import serializers as identity_serializers
from identity_server.permissions import OrchestratorAPIView
from identity_server.scopes import CATALOGUE, scope_satisfied
from identity_server.services import client_secret_create, client_secret_delete
from machines import credential_stores, selectors, serializers, services
from machines.vaults import VaultError
from tenants import odata
from tenants.models import SETTING_DEFINITIONS
from tenants.search import DEFAULT_LIMIT, tenant_search
from tenants.selectors import audit_event_list, setting_values
from tenants.services import Actor, setting_set

READ, WRITE = "OR.Machines.Read", "OR.Machines.Write"
ROBOTS_READ, ROBOTS_WRITE = "OR.Robots.Read", "OR.Robots.Write"
# OData properties a list may be filtered and sorted on, and the fields behind them.
MACHINE_PROPERTIES = {"Id": "id", "Name": "name", "Type": "type"}
ROBOT_PROPERTIES = {
    "Id": "id",
    "Name": "name",
    "Username": "username",
    "MachineId": "machine_id",
    "MachineName": "machine__name",
}
SESSION_PROPERTIES = {
    "Id": "id",
    "MachineId": "machine_id",
    "MachineName": "machine__name",
    "HostMachineName": "host_name",
    "RobotName": "robot__name",
    "ReportingTime": "reporting_time",
}
SETTING_PROPERTIES = {"Id": "key", "Name": "key"}
AUDIT_PROPERTIES = {
    "Id": "id",
    "Action": "action",
    "Outcome": "outcome",
    "ActorKind": "actor_kind",
    "ActorId": "actor_id",
    "UserName": "actor_name",
    "TargetType": "target_kind",
    "TargetId": "target_id",
    "ExecutionTime": "occurred_at",
}
# Answers that carry a plaintext secret must not be kept by any cache.
NO_STORE = {"Cache-Control": "no-store"}


class MachineListView(OrchestratorAPIView):
    """GET (OData list) and POST `…/odata/Machines`."""

    required_scopes = {"get": READ, "post": WRITE}
    error_fields = serializers.MachineInput.ERROR_FIELDS

    def get(self, request, org, tenant):
        query = odata.odata_query(request.query_params, fields=MACHINE_PROPERTIES)
        count, machines = odata.odata_page(selectors.machine_list(tenant=self.tenant), query)
        value = [serializers.machine_json(m) for m in machines]
        return Response(
            odata.odata_collection(request, entity_set="Machines", count=count, value=value)
        )

    def post(self, request, org, tenant):
        data = serializers.machine_input(request.data)
        machine = services.machine_create(
            tenant=self.tenant, actor=Actor.from_request(request), **data
        )
        location = reverse(
            "machine", kwargs={"org": org, "tenant": tenant, "machine_id": machine.pk}
        )
        return Response(
            _machine_entity(request, machine),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class MachineDetailView(OrchestratorAPIView):
    """GET, PUT (every field; an absent Type stays), PATCH and DELETE `…/Machines({Id})`."""

    required_scopes = {"get": READ, "put": WRITE, "patch": WRITE, "delete": WRITE}
    error_fields = serializers.MachineInput.ERROR_FIELDS

    def get(self, request, org, tenant, machine_id):
        return Response(_machine_entity(request, self._machine(machine_id)))

    def put(self, request, org, tenant, machine_id):
        machine = self._machine(machine_id)
        changes = {"description": "", **serializers.machine_input(request.data)}
        return self._update(request, machine, changes)

    def patch(self, request, org, tenant, machine_id):
        machine = self._machine(machine_id)
        changes = serializers.machine_input(request.data, partial=True)
        return self._update(request, machine, changes)

    def delete(self, request, org, tenant, machine_id):
        machine = self._machine(machine_id)
        services.machine_delete(machine=machine, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _machine(self, machine_id):
        return selectors.machine_get(tenant=self.tenant, machine_id=int(machine_id))

    def _update(self, request, machine, changes):
        machine = services.machine_update(
            machine=machine, actor=Actor.from_request(request), **changes
        )
        return Response(_machine_entity(request, machine))


class MachineClientSecretListView(OrchestratorAPIView):
    """GET (without plaintexts) and POST `…/api/Machines/{Id}/ClientSecrets`."""

    required_scopes = {"get": READ, "post": WRITE}

    def get(self, request, org, tenant, machine_id):
        machine = selectors.machine_get(tenant=self.tenant, machine_id=machine_id)
        secrets = identity_selectors.client_secret_list(client=machine.client)
        return Response([identity_serializers.client_secret_json(s) for s in secrets])

    def post(self, request, org, tenant, machine_id):
        machine = selectors.machine_get(tenant=self.tenant, machine_id=machine_id)
        secret, plaintext = client_secret_create(
            client=machine.client,
            actor=Actor.from_request(request),
            **identity_serializers.client_secret_input(request.data),
        )
        return Response(
            identity_serializers.client_secret_created_json(secret, plaintext),
            status=status.HTTP_201_CREATED,
            headers=NO_STORE,
        )


class MachineClientSecretDetailView(OrchestratorAPIView):
    """DELETE `…/api/Machines/{Id}/ClientSecrets/{secretId}`: the secret stops working at
    once, and so do the tokens it issued."""

    required_scopes = {"delete": WRITE}

    def delete(self, request, org, tenant, machine_id, secret_id):
        machine = selectors.machine_get(tenant=self.tenant, machine_id=machine_id)
        secret = identity_selectors.client_secret_get(client=machine.client, secret_id=secret_id)
        client_secret_delete(secret=secret, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _machine_entity(request, machine) -> dict:
    return odata.odata_entity(
        request, entity_set="Machines", value=serializers.machine_json(machine)
    )


# --- robots -------------------------------------------------------------------------------


class RobotListView(OrchestratorAPIView):
    """GET (OData list) and POST `…/odata/Robots`."""

    required_scopes = {"get": ROBOTS_READ, "post": ROBOTS_WRITE}
    error_fields = serializers.RobotInput.ERROR_FIELDS

    def get(self, request, org, tenant):
        query = odata.odata_query(request.query_params, fields=ROBOT_PROPERTIES)
        count, robots = odata.odata_page(selectors.robot_list(tenant=self.tenant), query)
        value = [serializers.robot_json(r) for r in robots]
        return Response(
            odata.odata_collection(request, entity_set="Robots", count=count, value=value)
        )

    def post(self, request, org, tenant):
        data = serializers.robot_input(request.data, tenant=self.tenant)
        robot = services.robot_create(tenant=self.tenant, actor=Actor.from_request(request), **data)
        location = reverse("robot", kwargs={"org": org, "tenant": tenant, "robot_id": robot.pk})
        return Response(
            _robot_entity(request, robot),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class RobotDetailView(OrchestratorAPIView):
    """GET, PUT (every field; an absent MachineId stays), PATCH and DELETE
    `…/Robots({Id})`."""

    required_scopes = {
        "get": ROBOTS_READ,
        "put": ROBOTS_WRITE,
        "patch": ROBOTS_WRITE,
        "delete": ROBOTS_WRITE,
    }
    error_fields = serializers.RobotInput.ERROR_FIELDS

    def get(self, request, org, tenant, robot_id):
        return Response(_robot_entity(request, self._robot(robot_id)))

    def put(self, request, org, tenant, robot_id):
        robot = self._robot(robot_id)
        changes = {"description": "", **serializers.robot_input(request.data, tenant=self.tenant)}
        return self._update(request, robot, changes)

    def patch(self, request, org, tenant, robot_id):
        robot = self._robot(robot_id)
        changes = serializers.robot_input(request.data, tenant=self.tenant, partial=True)
        return self._update(request, robot, changes)

    def delete(self, request, org, tenant, robot_id):
        services.robot_delete(robot=self._robot(robot_id), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _robot(self, robot_id):
        return selectors.robot_get(tenant=self.tenant, robot_id=int(robot_id))

    def _update(self, request, robot, changes):
        robot = services.robot_update(robot=robot, actor=Actor.from_request(request), **changes)
        return Response(_robot_entity(request, robot))


def _robot_entity(request, robot) -> dict:
    return odata.odata_entity(request, entity_set="Robots", value=serializers.robot_json(robot))


# --- sessions -----------------------------------------------------------------------------


class SessionListView(OrchestratorAPIView):
    """GET `…/odata/Sessions`: State (Connected, Disconnected or Unresponsive, computed
    now from the tenant's heartbeat settings), IsUnresponsive, ReportingTime, names."""

    required_scopes = {"get": ROBOTS_READ}

    def get(self, request, org, tenant):
        query = odata.odata_query(
            request.query_params, fields=SESSION_PROPERTIES, time_fields={"ReportingTime"}
        )
        count, sessions = odata.odata_page(selectors.session_list(tenant=self.tenant), query)
        value = [serializers.session_json(s) for s in sessions]
        return Response(
            odata.odata_collection(request, entity_set="Sessions", count=count, value=value)
        )


class DeleteInactiveSessionsView(OrchestratorAPIView):
    """POST `…/Sessions/UiPath.Server.Configuration.OData.DeleteInactiveUnattendedSessions`
    `{"sessionIds": [...]}`: deletes them all, or none (400 naming the refused ids)."""

    required_scopes = {"post": ROBOTS_WRITE}

    def post(self, request, org, tenant):
        session_ids = serializers.delete_inactive_sessions_input(request.data)
        services.session_delete_inactive(
            tenant=self.tenant, session_ids=session_ids, actor=Actor.from_request(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- credential stores --------------------------------------------------------------------

SETTINGS_READ, SETTINGS_WRITE = "OR.Settings.Read", "OR.Settings.Write"
CREDENTIAL_STORE_PROPERTIES = {"Id": "id", "Name": "name", "Type": "type"}
# What TestConnection answers for a robot, by the reason code of its resolution.
CREDENTIAL_RESULTS = {"secret_not_found": "NotFound", "unauthorized": "Unauthorized"}
CREDENTIAL_RESULTS["bad_format"] = "BadFormat"


def _store_entity(request, store, *, default_id: int) -> dict:
    return odata.odata_entity(
        request,
        entity_set="CredentialStores",
        value=serializers.credential_store_json(store, default_id=default_id),
    )


def _vault_refusal(error: VaultError) -> ValidationError:
    # A vault down, slow or refusing us is the admin's to fix: a 400 naming the store.
    return ValidationError([ErrorDetail(error.message, code=error.reason)])


class CredentialStoreListView(OrchestratorAPIView):
    """GET (OData list) and POST `…/odata/CredentialStores`."""

    required_scopes = {"get": SETTINGS_READ, "post": SETTINGS_WRITE}
    error_fields = serializers.CredentialStoreInput.ERROR_FIELDS

    def get(self, request, org, tenant):
        default_id = credential_stores.credential_store_default(tenant=self.tenant).pk
        query = odata.odata_query(request.query_params, fields=CREDENTIAL_STORE_PROPERTIES)
        stores = selectors.credential_store_list(tenant=self.tenant)
        count, page = odata.odata_page(stores, query)
        value = [serializers.credential_store_json(s, default_id=default_id) for s in page]
        return Response(
            odata.odata_collection(request, entity_set="CredentialStores", count=count, value=value)
        )

    def post(self, request, org, tenant):
        data = serializers.credential_store_input(request.data)
        store = credential_stores.credential_store_create(
            tenant=self.tenant,
            actor=Actor.from_request(request),
            name=data["name"],
            type=data.get("type", ""),
            configuration=data["configuration"],
        )
        location = reverse(
            "credential-store", kwargs={"org": org, "tenant": tenant, "store_id": store.pk}
        )
        default_id = credential_stores.credential_store_default(tenant=self.tenant).pk
        return Response(
            _store_entity(request, store, default_id=default_id),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class CredentialStoreDetailView(OrchestratorAPIView):
    """GET, PUT and PATCH (a secret setting left out keeps its value; the type stays) and
    DELETE (`?forceDelete=true` when robots use the store) `…/CredentialStores({Id})`."""

    required_scopes = {
        "get": SETTINGS_READ,
        "put": SETTINGS_WRITE,
        "patch": SETTINGS_WRITE,
        "delete": SETTINGS_WRITE,
    }
    error_fields = serializers.CredentialStoreInput.ERROR_FIELDS

    def get(self, request, org, tenant, store_id):
        return self._entity(request, self._store(store_id))

    def put(self, request, org, tenant, store_id):
        return self._update(request, store_id, partial=False)

    def patch(self, request, org, tenant, store_id):
        return self._update(request, store_id, partial=True)

    def delete(self, request, org, tenant, store_id):
        force = request.query_params.get("forceDelete", "false").lower()
        if force not in {"true", "false"}:
            raise ValidationError({"forceDelete": ["Must be true or false."]})
        credential_stores.credential_store_delete(
            store=self._store(store_id), actor=Actor.from_request(request), force=force == "true"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _store(self, store_id):
        return selectors.credential_store_get(tenant=self.tenant, store_id=int(store_id))

    def _update(self, request, store_id, *, partial: bool):
        store = self._store(store_id)
        data = serializers.credential_store_input(request.data, partial=partial)
        store = credential_stores.credential_store_update(
            store=store,
            actor=Actor.from_request(request),
            name=data.get("name"),
            type=data.get("type"),
            configuration=data["configuration"],
        )
        return self._entity(request, store)

    def _entity(self, request, store):
        default_id = credential_stores.credential_store_default(tenant=self.tenant).pk
        return Response(_store_entity(request, store, default_id=default_id))


class CredentialStoreTypesView(OrchestratorAPIView):
    """GET `…/CredentialStores/UiPath.Server.Configuration.OData.
    GetAvailableCredentialStoreTypes()`: the type names a store may be created with."""

    required_scopes = {"get": SETTINGS_READ}

    def get(self, request, org, tenant):
        return Response({"value": list(credential_stores.KINDS)})


class CredentialStoreDefaultView(OrchestratorAPIView):
    """GET `…/CredentialStores/UiPath.Server.Configuration.OData.
    GetDefaultStoreForResourceType(resourceType='RobotCredentials')`: the default store's
    Id as `value`."""

    required_scopes = {"get": SETTINGS_READ}
    error_fields = serializers.CredentialStoreInput.ERROR_FIELDS

    def get(self, request, org, tenant, resource_type):
        if resource_type != credential_stores.RESOURCE_TYPE:
            raise ValidationError(
                {"resourceType": [f"The only resource type is {credential_stores.RESOURCE_TYPE}."]}
            )
        store = credential_stores.credential_store_default(tenant=self.tenant)
        return Response({"value": store.pk})


class CredentialStoreSetDefaultView(OrchestratorAPIView):
    """POST `…/CredentialStores({Id})/UiPath.Server.Configuration.OData.
    SetDefaultStoreForResourceType` `{"resourceType": "RobotCredentials"}`: 204."""

    required_scopes = {"post": SETTINGS_WRITE}
    error_fields = serializers.CredentialStoreInput.ERROR_FIELDS

    def post(self, request, org, tenant, store_id):
        store = selectors.credential_store_get(tenant=self.tenant, store_id=int(store_id))
        credential_stores.credential_store_set_default(
            store=store,
            actor=Actor.from_request(request),
            resource_type=serializers.resource_type_input(request.data),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialStoreTestView(OrchestratorAPIView):
    """POST `…/CredentialStores({Id})/UiPath.Server.Configuration.OData.TestConnection`
    `{"robotId": 7}` (optional): authenticates to the vault and, for a robot of this
    store, says whether its password is Found, NotFound, Unauthorized or BadFormat, never
    the value. A vault that cannot be reached or refuses our credentials is a 400 naming
    the store. Audited (`credential_store.test`, and `credential.resolve` for a robot)."""

    required_scopes = {"post": SETTINGS_WRITE}
    error_fields = serializers.CredentialStoreInput.ERROR_FIELDS

    def post(self, request, org, tenant, store_id):
        store = selectors.credential_store_get(tenant=self.tenant, store_id=int(store_id))
        robot_id = serializers.connection_test_input(request.data)
        robot = None
        if robot_id is not None:
            robot = selectors.robot_list(tenant=self.tenant).filter(pk=robot_id).first()
            if robot is None or robot.credential_store_id != store.pk:
                raise ValidationError({"robotId": ["Unknown robot, or not a robot of this store."]})
        actor = Actor.from_request(request)
        try:
            credential_stores.credential_store_test(store=store, actor=actor)
        except VaultError as error:
            raise _vault_refusal(error) from None
        answer = {"Id": store.pk, "Name": store.name, "Connected": True}
        if robot is not None:
            answer["Robot"] = {"Id": robot.pk, "Name": robot.name, "Credential": "Found"}
            try:
                credential_stores.robot_password_resolve(robot=robot, actor=actor)
            except VaultError as error:
                if error.reason not in CREDENTIAL_RESULTS:
                    raise _vault_refusal(error) from None
                answer["Robot"]["Credential"] = CREDENTIAL_RESULTS[error.reason]
                answer["Robot"]["Message"] = error.message
        return Response(answer)


# --- settings -----------------------------------------------------------------------------


class SettingListView(OrchestratorAPIView):
    """GET `…/odata/Settings`: every known setting, stored or default."""

    required_scopes = {"get": "OR.Settings.Read"}

    def get(self, request, org, tenant):
        query = odata.odata_query(
            request.query_params, fields=SETTING_PROPERTIES, default_order=("key",)
        )
        rows = [{"key": k, "value": v} for k, v in setting_values(tenant=self.tenant).items()]
        count, page = odata.odata_page_of_rows(rows, query)
        value = [serializers.setting_json(row["key"], row["value"]) for row in page]
        return Response(
            odata.odata_collection(request, entity_set="Settings", count=count, value=value)
        )


class SettingDetailView(OrchestratorAPIView):
    """GET and PUT `…/odata/Settings('{key}')` (PUT `{"Value": …}`, or `{"Name", "Value"}`
    with the same name). An unknown key is a 404 to GET and a 400 to PUT."""

    required_scopes = {"get": "OR.Settings.Read", "put": "OR.Settings.Write"}
    error_fields = serializers.SettingInput.ERROR_FIELDS

    def get(self, request, org, tenant, key):
        if key not in SETTING_DEFINITIONS:
            raise Http404
        return Response(self._entity(request, key))

    def put(self, request, org, tenant, key):
        value = serializers.setting_input(request.data, key=key)
        setting_set(tenant=self.tenant, key=key, value=value, actor=Actor.from_request(request))
        return Response(self._entity(request, key))

    def _entity(self, request, key):
        value = setting_values(tenant=self.tenant)[key]
        return odata.odata_entity(
            request, entity_set="Settings", value=serializers.setting_json(key, value)
        )


# --- audit --------------------------------------------------------------------------------


class AuditLogListView(OrchestratorAPIView):
    """GET `…/odata/AuditLogs`: this tenant's events, newest first; `$filter` on Action,
    UserName, ActorId, ActorKind, Outcome, TargetType, TargetId and ExecutionTime
    (`ExecutionTime ge 2026-11-22T00:00:00Z`). Append-only: no write method exists."""

    required_scopes = {"get": "OR.Audit.Read"}

    def get(self, request, org, tenant):
        query = odata.odata_query(
            request.query_params,
            fields=AUDIT_PROPERTIES,
            default_order=("-occurred_at", "-id"),
            time_fields={"ExecutionTime"},
        )
        events = audit_event_list(organization=self.tenant.organization, tenant=self.tenant)
        count, page = odata.odata_page(events, query)
        value = [serializers.audit_event_json(e) for e in page]
        return Response(
            odata.odata_collection(request, entity_set="AuditLogs", count=count, value=value)
        )


# --- search -------------------------------------------------------------------------------


class SearchView(OrchestratorAPIView):
    """GET `…/api/Search?query=text[&type=machine,robot][&top=20]`: the tenant's objects
    whose name contains the text, in name order, `{"value": [{"type", "id", "name",
    "description"}]}`. Any valid token of the tenant may search; each result needs its own
    read scope (`OR.Machines.Read` for a machine), and the others are left out."""

    permission_classes = [permissions.IsAuthenticated]

    def get(self, request, org, tenant):
        params = request.query_params
        types = params.get("type")
        top = params.get("top", str(DEFAULT_LIMIT))
        granted = {s for s in CATALOGUE if scope_satisfied(s, request.user.scopes)}
        results = tenant_search(
            tenant=self.tenant,
            text=params.get("query", ""),
            types=[t.strip() for t in types.split(",")] if types is not None else None,
            scopes=granted,
            limit=int(top) if top.isascii() and top.isdigit() and len(top) < 4 else 0,
        )
        return Response(
            {
                "value": [
                    {"type": r.type, "id": r.id, "name": r.name, "description": r.description}
                    for r in results
                ]
            }
        )
