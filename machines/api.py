"""Machines over REST, for scripts with a bearer token (SPEC §2, §4, §6).

- `/{org}/{tenant}/orchestrator_/odata/Machines` and `…/Machines({Id})`: OData CRUD.
- `/{org}/{tenant}/orchestrator_/api/Machines/{Id}/ClientSecrets[/{secretId}]`: the secrets
  of a machine's client; the plaintext is answered once, at creation.

Reads need `OR.Machines.Read`, writes `OR.Machines.Write` (or `OR.Machines`). Answers come
in the order of identity_server.permissions: 401, then 404 for another organization or
tenant, then 403; a machine or secret id that is not this tenant's is the same 404 as a
missing one. A 400 has UiPath's body (tenants.odata.exception_handler).
"""

from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response

from identity_server import selectors as identity_selectors
from identity_server import serializers as identity_serializers
from identity_server.permissions import OrchestratorAPIView
from identity_server.services import client_secret_create, client_secret_delete
from machines import selectors, serializers, services
from tenants import odata
from tenants.services import Actor

READ, WRITE = "OR.Machines.Read", "OR.Machines.Write"
# OData properties a list may be filtered and sorted on, and the fields behind them.
MACHINE_PROPERTIES = {"Id": "id", "Name": "name", "Type": "type"}
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
