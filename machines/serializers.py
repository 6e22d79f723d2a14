"""JSON shapes of the machines APIs, in and out.

Machines are OData entities: PascalCase (`Id`, `Name`, `Description`, `Type`, `LicenseKey`,
`ClientId`). Their client secrets have the shape of identity_server.serializers. Field
checks (lengths, choices, uniqueness) belong to the services.
"""

from rest_framework import serializers

from identity_server.serializers import fields_any_case
from machines.models import Machine

# --- machines ---------------------------------------------------------------------------


class MachineInput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    type = serializers.CharField(required=False)

    FIELDS = ("name", "description", "type")
    # Error keys as the API names them (tenants.odata.exception_handler).
    ERROR_FIELDS = {"name": "Name", "description": "Description", "type": "Type"}


def machine_input(data, *, partial: bool = False) -> dict:
    serializer = MachineInput(data=fields_any_case(data, MachineInput.FIELDS), partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def machine_json(machine: Machine) -> dict:
    return {
        "Id": machine.pk,
        "Name": machine.name,
        "Description": machine.description,
        "Type": machine.type,
        # Robots connect with it as their client ID (Orchestrator shows it as both).
        "LicenseKey": machine.client.client_id,
        "ClientId": machine.client.client_id,
    }
