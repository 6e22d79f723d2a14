"""JSON shapes of the machines APIs, in and out.

Machines, robots, sessions, settings and audit events are OData entities: PascalCase
(`Id`, `Name`, ...); input field names are matched in any case. Client secrets have the
shape of identity_server.serializers. Field checks (lengths, choices, uniqueness) belong
to the services; these only check JSON types.
"""

import json

from rest_framework import serializers
from rest_framework.settings import api_settings

from identity_server.serializers import (
    QUOTA_FIELDS,
    fields_any_case,
    iso_utc,
    quota_input,
    quota_json,
)
from machines import credential_stores, selectors
from machines.models import CredentialStore, Machine, Robot, Session
from machines.services import MAX_SESSIONS_DELETED
from tenants.models import SETTING_DEFINITIONS, AuditEvent, Tenant

# Ids are 64-bit: a larger one names nothing, and the database would refuse it.
MAX_ID = 2**63 - 1

# --- machines ---------------------------------------------------------------------------


class MachineInput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    type = serializers.CharField(required=False)

    FIELDS = ("name", "description", "type")
    # Error keys as the API names them (tenants.odata.exception_handler).
    ERROR_FIELDS = {
        "name": "Name",
        "description": "Description",
        "type": "Type",
        # The machine's client's token quotas (SPEC §10).
        **{field: name[0].upper() + name[1:] for name, field in QUOTA_FIELDS.items()},
    }


def machine_input(data, *, partial: bool = False) -> dict:
    serializer = MachineInput(data=fields_any_case(data, MachineInput.FIELDS), partial=partial)
    serializer.is_valid(raise_exception=True)
    return {**serializer.validated_data, **quota_input(data)}


def machine_json(machine: Machine) -> dict:
    return {
        "Id": machine.pk,
        "Name": machine.name,
        "Description": machine.description,
        "Type": machine.type,
        # Robots connect with it as their client ID (Orchestrator shows it as both).
        "LicenseKey": machine.client.client_id,
        "ClientId": machine.client.client_id,
        **quota_json(machine.client, pascal=True),
    }


# --- robots -------------------------------------------------------------------------------


class RobotInput(serializers.Serializer):
    name = serializers.CharField()
    machineId = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )
    username = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    # Write-only: never in an answer (robot_json says only HasCredential).
    password = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=credential_stores.MAX_PASSWORD_LENGTH,
    )
    credentialStoreId = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )
    credentialType = serializers.ChoiceField(choices=Robot.CredentialType.values, required=False)
    externalName = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    FIELDS = (
        "name",
        "machineId",
        "username",
        "description",
        "password",
        "credentialStoreId",
        "credentialType",
        "externalName",
    )
    ERROR_FIELDS = {
        "name": "Name",
        "machineId": "MachineId",
        "machine": "MachineId",
        "username": "Username",
        "description": "Description",
        "password": "Password",
        "credentialStoreId": "CredentialStoreId",
        "credentialType": "CredentialType",
        "credential_type": "CredentialType",
        "externalName": "ExternalName",
    }


def robot_input(data, *, tenant: Tenant, partial: bool = False) -> dict:
    """The robot's fields, its `MachineId` resolved to a machine of `tenant` (a machine of
    any other tenant is as unknown as a missing one)."""
    serializer = RobotInput(data=fields_any_case(data, RobotInput.FIELDS), partial=partial)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    if "machineId" in data:
        machine_id = data.pop("machineId")
        data["machine"] = None
        if machine_id is not None:
            data["machine"] = selectors.machine_list(tenant=tenant).filter(pk=machine_id).first()
            if data["machine"] is None:
                raise serializers.ValidationError({"machineId": "Unknown machine."})
    if "credentialStoreId" in data:
        store_id = data.pop("credentialStoreId")
        data["credential_store"] = None
        if store_id is not None:
            stores = selectors.credential_store_list(tenant=tenant)
            data["credential_store"] = stores.filter(pk=store_id).first()
            if data["credential_store"] is None:
                raise serializers.ValidationError(
                    {"credentialStoreId": "Unknown credential store."}
                )
    if "credentialType" in data:
        data["credential_type"] = data.pop("credentialType")
    if "externalName" in data:
        data["external_name"] = data.pop("externalName") or ""
    if not data.get("password"):  # null or empty: the password stays as it is
        data.pop("password", None)
    return data


def robot_json(robot: Robot) -> dict:
    return {
        "Id": robot.pk,
        "Key": str(robot.key),
        "Name": robot.name,
        "MachineId": robot.machine_id,
        "MachineName": robot.machine.name if robot.machine else None,
        "Username": robot.username,
        "Description": robot.description,
        "Type": "Unattended",
        "CredentialStoreId": robot.credential_store_id,
        "CredentialType": robot.credential_type,
        "ExternalName": robot.external_name,
        "HasCredential": credential_stores.robot_has_credential(robot),
    }


# --- credential stores --------------------------------------------------------------------


class CredentialStoreInput(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    type = serializers.CharField(required=False)
    # An object, or UiPath's JSON text of one: settings by their API names, secrets included.
    additionalConfiguration = serializers.JSONField(required=False, allow_null=True)

    FIELDS = ("name", "type", "additionalConfiguration")
    ERROR_FIELDS = {
        "name": "Name",
        "type": "Type",
        "additionalConfiguration": "AdditionalConfiguration",
        "forceDelete": "forceDelete",
        "resourceType": "resourceType",
        "robotId": "RobotId",
        "id": "Id",
    }


def credential_store_input(data, *, partial: bool = False) -> dict:
    serializer = CredentialStoreInput(
        data=fields_any_case(data, CredentialStoreInput.FIELDS), partial=partial
    )
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    configuration = data.pop("additionalConfiguration", None)
    if isinstance(configuration, str) and configuration.strip():
        try:
            configuration = json.loads(configuration)
        except ValueError:
            configuration = None
            raise serializers.ValidationError(
                {"additionalConfiguration": "Must be a JSON object, or its text."}
            ) from None
    if configuration not in (None, "") and not isinstance(configuration, dict):
        raise serializers.ValidationError(
            {"additionalConfiguration": "Must be a JSON object, or its text."}
        )
    data["configuration"] = configuration or {}
    return data


def credential_store_json(store: CredentialStore, *, default_id: int | None) -> dict:
    """A store as the API shows it: never a secret setting's value, only the names of
    those set (`SecretsSet`)."""
    return {
        "Id": store.pk,
        "Name": store.name,
        "Type": store.type,
        "IsReadOnly": credential_stores.store_is_read_only(store),
        "IsDefault": store.pk == default_id,
        "AdditionalConfiguration": credential_stores.store_configuration(store),
        "SecretsSet": credential_stores.store_secrets_set(store),
    }


class ConnectionTestInput(serializers.Serializer):
    robotId = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )

    FIELDS = ("robotId",)


def connection_test_input(data) -> int | None:
    serializer = ConnectionTestInput(data=fields_any_case(data or {}, ConnectionTestInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("robotId")


class ResourceTypeInput(serializers.Serializer):
    resourceType = serializers.CharField(required=False)

    FIELDS = ("resourceType",)


def resource_type_input(data) -> str:
    serializer = ResourceTypeInput(data=fields_any_case(data or {}, ResourceTypeInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("resourceType", credential_stores.RESOURCE_TYPE)


# --- sessions -----------------------------------------------------------------------------


class DeleteInactiveSessionsInput(serializers.Serializer):
    sessionIds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        allow_empty=False,
        max_length=MAX_SESSIONS_DELETED,
    )

    FIELDS = ("sessionIds",)


def delete_inactive_sessions_input(data) -> list[int]:
    fields = fields_any_case(data, DeleteInactiveSessionsInput.FIELDS)
    serializer = DeleteInactiveSessionsInput(data=fields)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["sessionIds"]


def session_json(session: Session) -> dict:
    """A session from selectors.session_list (annotated with `is_unresponsive`)."""
    return {
        "Id": session.pk,
        "MachineId": session.machine_id,
        "MachineName": session.machine.name,
        "HostMachineName": session.host_name,
        "RobotId": session.robot_id,
        "RobotName": session.robot.name if session.robot else None,
        "State": selectors.session_state(session),
        "IsUnresponsive": session.is_unresponsive,
        "IsUnattended": session.is_unattended,
        "ReportingTime": iso_utc(session.reporting_time),
        "Version": session.version,
        "CreationTime": iso_utc(session.created_at),
    }


# --- settings -----------------------------------------------------------------------------


class SettingInput(serializers.Serializer):
    # Any JSON scalar: the setting's definition (tenants.models) checks its type.
    name = serializers.CharField(required=False)
    value = serializers.JSONField()

    FIELDS = ("name", "value")
    ERROR_FIELDS = {"name": "Name", "key": "Name", "value": "Value"}


def setting_input(data, *, key: str):
    """The `Value` to store under `key`; a `Name`, if sent, must be that key."""
    serializer = SettingInput(data=fields_any_case(data, SettingInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    name = serializer.validated_data.get("name")
    if name is not None and name != key:
        raise serializers.ValidationError({"name": f"Must be “{key}”, the setting in the URL."})
    return serializer.validated_data["value"]


def setting_json(key: str, value) -> dict:
    """A setting as UiPath answers it: `Value` a string (`"30"`, `"true"`)."""
    definition = SETTING_DEFINITIONS[key]
    return {
        "Id": key,
        "Name": key,
        "Value": str(value).lower() if isinstance(value, bool) else str(value),
        "Type": {bool: "Boolean", int: "Int"}[definition.type],
        "Description": definition.description,
    }


# --- audit --------------------------------------------------------------------------------


def audit_event_json(event: AuditEvent) -> dict:
    return {
        "Id": event.pk,
        "Action": event.action,
        "Outcome": event.outcome,
        "ReasonCode": event.reason_code,
        "ActorKind": event.actor_kind,
        "ActorId": event.actor_id,
        "UserName": event.actor_name,
        "TargetType": event.target_kind,
        "TargetId": event.target_id,
        "TargetName": event.target_name,
        "ExecutionTime": iso_utc(event.occurred_at),
        "ClientAddress": event.client_address,
        "UserAgent": event.user_agent,
        # The X-Request-Id of the request that caused it, as in the request log (SPEC §10).
        "RequestId": event.request_id,
        "Details": event.details,
    }


# --- the robot service --------------------------------------------------------------------


class Text(serializers.CharField):
    """A JSON string, and nothing else (DRF's CharField also takes numbers)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AnyCaseSerializer(serializers.Serializer):
    """Robot clients send camelCase or PascalCase and fields we do not use: the declared
    fields are matched in any case, the rest ignored."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            # Keyed, as DRF expects of a serializer's errors (a bare list breaks `errors`).
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Must be a JSON object."]}
            )
        return super().to_internal_value(fields_any_case(data, tuple(self.fields)))


class Key(serializers.UUIDField):
    """A UUID written as a JSON string (DRF's UUIDField also takes integers)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class BeginSessionInput(AnyCaseSerializer):
    userName = Text(required=False, allow_blank=True, max_length=256)


class HeartbeatItem(AnyCaseSerializer):
    robotKey = Key(required=False, allow_null=True)


class HeartbeatInput(AnyCaseSerializer):
    commandState = Text(required=False, allow_blank=True, max_length=64)
    heartbeats = HeartbeatItem(many=True, required=False, max_length=100)


class EndSessionInput(AnyCaseSerializer):
    robotKey = Key(required=False, allow_null=True)


class ServiceInput(AnyCaseSerializer):
    """startservice and stopservice: no field is used."""


def robot_service_input(serializer_class, data) -> dict:
    """A robot service body: nothing (an empty body) or a JSON object."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
