"""JSON shapes shared by the APIs of every app: lenient field names, times, and client
secrets (of machines and external applications alike), in the camelCase of UiPath's
identity APIs. Field checks (lengths, choices) belong to the services; these only check
that each value is of the right JSON type.
"""

from datetime import UTC, datetime

from rest_framework import serializers

from identity_server.models import ClientSecret


def fields_any_case(data, names: tuple[str, ...]) -> dict:
    """The entries of a JSON object whose keys are `names` in any case (`Name`, `name`);
    other keys are ignored, as OData clients send whole entities back."""
    if not isinstance(data, dict):
        raise serializers.ValidationError("The body must be a JSON object.")
    canonical = {name.lower(): name for name in names}
    return {canonical[k.lower()]: v for k, v in data.items() if k.lower() in canonical}


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as .NET clients parse it."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would turn `12` or `1.5` into text.
    (NUL and lone surrogates are refused by CharField itself.)"""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClientSecretInput(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    expiryTime = serializers.DateTimeField(required=False, allow_null=True)

    FIELDS = ("description", "expiryTime")


def client_secret_input(data) -> dict:
    serializer = ClientSecretInput(data=fields_any_case(data, ClientSecretInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    return {
        "description": serializer.validated_data.get("description") or "",
        "expires_at": serializer.validated_data.get("expiryTime"),
    }


def client_secret_json(secret: ClientSecret) -> dict:
    """A secret as listed: never its plaintext, which is not stored."""
    return {
        "id": secret.pk,
        "description": secret.description,
        "creationTime": iso_utc(secret.created_at),
        "expiryTime": iso_utc(secret.expires_at),
        "lastUsedTime": iso_utc(secret.last_used_at),
        "prefix": secret.prefix,
    }


def client_secret_created_json(secret: ClientSecret, plaintext: str) -> dict:
    """The answer to creating a secret: the only time its plaintext is shown."""
    return {
        "id": secret.pk,
        "description": secret.description,
        "secret": plaintext,
        "creationTime": iso_utc(secret.created_at),
        "expiryTime": iso_utc(secret.expires_at),
    }


# SPEC §10: a client's issued-token quotas (identity_server.ratelimit), in the camelCase of
# these APIs (OData bodies match names in any case), and the services' names for them.
QUOTA_FIELDS = {
    "tokenQuotaPerHour": "quota_per_hour",
    "tokenQuotaPerDay": "quota_per_day",
    "tokenQuotaEnforced": "quota_enforced",
}


class QuotaInput(serializers.Serializer):
    tokenQuotaPerHour = serializers.IntegerField(required=False, allow_null=True)
    tokenQuotaPerDay = serializers.IntegerField(required=False, allow_null=True)
    tokenQuotaEnforced = serializers.BooleanField(required=False)


def quota_input(data) -> dict:
    """The quota fields a body names, with the services' names; absent ones stay as they
    are (ranges are the service's to check: identity_server.services)."""
    serializer = QuotaInput(data=fields_any_case(data, tuple(QUOTA_FIELDS)))
    serializer.is_valid(raise_exception=True)
    return {QUOTA_FIELDS[name]: value for name, value in serializer.validated_data.items()}


def quota_json(client, *, pascal: bool = False) -> dict:
    values = {name: getattr(client, field) for name, field in QUOTA_FIELDS.items()}
    return {(name[0].upper() + name[1:] if pascal else name): v for name, v in values.items()}
