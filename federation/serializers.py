"""JSON shapes of the federation APIs, in and out, in the camelCase of UiPath's identity
APIs.

- An external application (`ExternalClient`): `id` is its client ID; `secrets` never carry
  a plaintext (only the answer that creates one does, once); its scopes are listed, and
  grouped by resource server under `resources`.
- A federated credential: seed 004's `FederatedCredentialDto`, with SPEC §11's
  `claimsMatchingExpression` (`null` when the credential has a subject, and `subject`
  `null` when it has an expression) and its trust-policy tests `mustMatch` and
  `mustNotMatch` (lists of sample claim sets).
- An identity provider (SPEC §9): the fields of federation.models.IdentityProvider in
  camelCase; the client secret is write-only (`hasClientSecret` says whether one is set).

Field checks (lengths, choices, the issuer) belong to the services; these only check that
each value is of the right JSON type.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from federation.models import (
    IDP_DEFAULT_SCOPES,
    AppKey,
    ExternalApp,
    FederatedCredential,
    IdentityProvider,
)
from identity_server.scopes import CATALOGUE, scopes_by_resource
from identity_server.serializers import (
    QUOTA_FIELDS,
    StrictCharField,
    client_secret_json,
    fields_any_case,
    iso_utc,
    quota_input,
    quota_json,
)
from tenants.selectors import membership_list

# UiPath's scope types: an application scope is used on the application's own behalf (client
# credentials); a user scope is granted by a signed-in user (SPEC §8).
APPLICATION_SCOPE_TYPE = "application"
USER_SCOPE_TYPE = "user"

# --- external applications ---------------------------------------------------------------


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string", "enum": ["application", "user"]},
                    },
                },
            ]
        },
    }
)
class ScopesField(serializers.Field):
    """`["OR.Machines", ...]` (application scopes), or UiPath's objects `[{"name":
    "OR.Machines", "type": "application" | "user"}, ...]`; `{"application": [...], "user":
    [...]}` inside."""

    default_error_messages = {
        "not_a_list": "Must be a list of scope names or scope objects.",
        "bad_type": "A scope's type is `application` or `user`.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        names = {APPLICATION_SCOPE_TYPE: [], USER_SCOPE_TYPE: []}
        for item in data:
            kind = APPLICATION_SCOPE_TYPE
            if isinstance(item, dict):
                kind = item.get("type") or APPLICATION_SCOPE_TYPE
                if not isinstance(kind, str) or kind.lower() not in names:
                    self.fail("bad_type")
                kind = kind.lower()
                item = item.get("name")
            if not isinstance(item, str):
                self.fail("not_a_list")
            names[kind].append(item)
        return names


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class StringListField(serializers.Field):
    """A list of strings (null for none), kept as sent: the service judges each one."""

    default_error_messages = {"not_a_list": "Must be a list of strings."}

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("not_a_list")
        return data


class ExternalAppInput(serializers.Serializer):
    name = StrictCharField()
    isConfidential = serializers.BooleanField(required=False, default=True)
    redirectUri = StrictCharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    redirectUris = StringListField(required=False, allow_null=True)
    postLogoutRedirectUris = StringListField(required=False, allow_null=True)
    allowedCorsOrigins = StringListField(required=False, allow_null=True)
    backchannelLogoutUri = StrictCharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    scopes = ScopesField(required=False)

    FIELDS = (
        "name",
        "isConfidential",
        "redirectUri",
        "redirectUris",
        "postLogoutRedirectUris",
        "allowedCorsOrigins",
        "backchannelLogoutUri",
        "scopes",
    )
    # Error keys as the API names them (identity_server.errors.validation_problem_handler);
    # see external_app_error_fields for the redirect URIs.
    ERROR_FIELDS = {
        "confidential": "isConfidential",
        "user_scopes": "scopes",
        "redirect_uris": "redirectUris",
        "post_logout_redirect_uris": "postLogoutRedirectUris",
        "allowed_origins": "allowedCorsOrigins",
        "backchannel_logout_uri": "backchannelLogoutUri",
        **{field: name for name, field in QUOTA_FIELDS.items()},
    }


def external_app_error_fields(request) -> dict:
    """ERROR_FIELDS for this request: a problem with the redirect URIs is keyed by the field
    the client sent them in, `redirectUri` (UiPath's, one URI) unless it sent
    `redirectUris`."""
    try:
        data = request.data
    except exceptions.ParseError:  # the body's own error is being answered
        data = None
    sent = fields_any_case(data, ExternalAppInput.FIELDS) if isinstance(data, dict) else {}
    key = "redirectUris" if "redirectUris" in sent else "redirectUri"
    return {**ExternalAppInput.ERROR_FIELDS, "redirect_uris": key}


def _redirect_uris(values: dict) -> list[str] | None:
    """The redirect URIs a body names: `redirectUris` when sent (`redirectUri`, if also
    sent, must be one of them: GET answers it as the first), else `redirectUri` alone, else
    None (not named)."""
    single = values.get("redirectUri")
    if "redirectUris" in values:
        uris = values["redirectUris"] or []
        if single and single not in uris:
            raise serializers.ValidationError(
                {"redirectUri": ["Must be one of redirectUris, or left out."]}
            )
        return uris
    if "redirectUri" in values:
        return [single] if single else []
    return None


def external_app_input(data, *, creating: bool) -> dict:
    """Service arguments from a create or update body. `scopes` is every scope, each
    application or user, as UiPath's PUT sends them; the redirect URIs, post-logout
    redirect URIs, allowed origins and back-channel logout URI are changed by an update
    only if the body names them, so a client that knows only UiPath's fields keeps them.
    An update names `isConfidential` only if the body does: it cannot change."""
    serializer = ExternalAppInput(data=fields_any_case(data, ExternalAppInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    scopes = values.get("scopes", {APPLICATION_SCOPE_TYPE: [], USER_SCOPE_TYPE: []})
    fields = {
        "name": values["name"],
        "scopes": scopes[APPLICATION_SCOPE_TYPE],
        "user_scopes": scopes[USER_SCOPE_TYPE],
    }
    if (redirect_uris := _redirect_uris(values)) is not None:
        fields["redirect_uris"] = redirect_uris
    for field, name in (
        ("post_logout_redirect_uris", "postLogoutRedirectUris"),
        ("allowed_origins", "allowedCorsOrigins"),
    ):
        if name in values:
            fields[field] = values[name] or []
    if "backchannelLogoutUri" in values:
        fields["backchannel_logout_uri"] = values["backchannelLogoutUri"] or ""
    if creating or "isConfidential" in serializer.initial_data:
        fields["confidential"] = values["isConfidential"]
    return {**fields, **quota_input(data)}


def _scope_json(name: str, kind: str = APPLICATION_SCOPE_TYPE) -> dict:
    scope = CATALOGUE.get(name)
    return {
        "name": name,
        "displayName": name,
        "description": scope.description if scope else "",
        "type": kind,
    }


def _scopes_json(client) -> list[dict]:
    return [_scope_json(name) for name in client.scopes] + [
        _scope_json(name, USER_SCOPE_TYPE) for name in client.user_scopes
    ]


def _resources_json(scopes: list[dict]) -> list[dict]:
    by_name = {}
    for scope in scopes:
        by_name.setdefault(scope["name"], []).append(scope)
    return [
        {"name": resource, "scopes": [s for name in names for s in by_name.pop(name, [])]}
        for resource, names in scopes_by_resource(list(by_name)).items()
    ]


def external_app_json(app: ExternalApp, *, secrets=()) -> dict:
    """`redirectUri` is the first redirect URI (UiPath's one), `redirectUris` all of them."""
    client = app.client
    scopes = _scopes_json(client)
    redirect_uris = client.redirect_uris.split()
    return {
        "id": client.client_id,
        "name": app.name,
        "isConfidential": client.is_confidential,
        "redirectUri": redirect_uris[0] if redirect_uris else None,
        "redirectUris": redirect_uris,
        "postLogoutRedirectUris": client.post_logout_redirect_uris.split(),
        "allowedCorsOrigins": client.allowed_origins.split(),
        "backchannelLogoutUri": client.backchannel_logout_uri or None,
        "partitionGlobalId": str(app.organization.global_id),
        "scopes": scopes,
        "resources": _resources_json(scopes),
        "secrets": [client_secret_json(secret) for secret in secrets],
        **quota_json(client),
        "createdAt": iso_utc(app.created_at),
        "updatedAt": iso_utc(app.updated_at),
    }


class GenerateSecretInput(serializers.Serializer):
    clientId = StrictCharField()
    partitionGlobalId = StrictCharField()

    FIELDS = ("clientId", "partitionGlobalId")


def generate_secret_target(data) -> dict:
    """The application a GenerateSecret body names (its description and expiry are read by
    identity_server.serializers.client_secret_input)."""
    serializer = GenerateSecretInput(data=fields_any_case(data, GenerateSecretInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- federated credentials ---------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "properties": {"languageVersion": {"type": "integer"}, "value": {"type": "string"}},
    }
)
class ExpressionField(serializers.Field):
    """`{"languageVersion": 1, "value": "claims['sub'] matches '...'"}` (Entra's shape); the
    service parses the value."""

    default_error_messages = {
        "shape": 'Must be {{"languageVersion": 1, "value": "<expression>"}} or null.',
        "version": "Only languageVersion 1 is supported.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not isinstance(data.get("value"), str):
            self.fail("shape")
        version = data.get("languageVersion", 1)
        if isinstance(version, bool) or version != 1:
            self.fail("version")
        return data["value"]


@extend_schema_field({"type": "array", "items": {"type": "object"}, "nullable": True})
class SamplesField(serializers.Field):
    """Sample claim sets of a trust-policy test: a list of JSON objects (the service checks
    their number and size)."""

    default_error_messages = {"shape": "Must be a list of sample claim sets (JSON objects)."}

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            self.fail("shape")
        return data


class FederatedCredentialInput(serializers.Serializer):
    name = StrictCharField()
    description = StrictCharField(required=False, allow_blank=True, allow_null=True)
    # Compared exactly with a token's claims: kept as sent, and refused by the service if
    # they begin or end with blanks, rather than silently changed.
    issuer = StrictCharField(trim_whitespace=False)
    audience = StrictCharField(trim_whitespace=False)
    # One of the two (the service says so when neither or both are given).
    subject = StrictCharField(trim_whitespace=False, required=False, allow_null=True)
    claimsMatchingExpression = ExpressionField(required=False, allow_null=True)
    mustMatch = SamplesField(required=False, allow_null=True)
    mustNotMatch = SamplesField(required=False, allow_null=True)

    FIELDS = (
        "name",
        "description",
        "issuer",
        "audience",
        "subject",
        "claimsMatchingExpression",
        "mustMatch",
        "mustNotMatch",
    )
    # Error keys as the API names them (identity_server.errors.validation_problem_handler).
    ERROR_FIELDS = {
        "claims_matching_expression": "claimsMatchingExpression",
        "must_match": "mustMatch",
        "must_not_match": "mustNotMatch",
    }


def federated_credential_input(data) -> dict:
    """Seed 004's create and update body; every required field, each time. Absent
    trust-policy tests are None (an update keeps the credential's)."""
    serializer = FederatedCredentialInput(
        data=fields_any_case(data, FederatedCredentialInput.FIELDS)
    )
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    return {
        "name": values["name"],
        "description": values.get("description") or "",
        "issuer": values["issuer"],
        "audience": values["audience"],
        "subject": values.get("subject") or "",
        "claims_matching_expression": values.get("claimsMatchingExpression") or "",
        "must_match": values.get("mustMatch"),
        "must_not_match": values.get("mustNotMatch"),
    }


class FederatedCredentialDto(serializers.Serializer):
    """Seed 004's FederatedCredentialDto, the answer of GET, POST and PUT."""

    id = serializers.UUIDField(source="pk")
    clientId = serializers.CharField(source="app.client.client_id")
    name = serializers.CharField()
    description = serializers.CharField()
    issuer = serializers.CharField()
    audience = serializers.CharField()
    subject = serializers.SerializerMethodField()
    claimsMatchingExpression = serializers.SerializerMethodField()
    mustMatch = serializers.JSONField(source="must_match")
    mustNotMatch = serializers.JSONField(source="must_not_match")
    createdAt = serializers.SerializerMethodField()
    updatedAt = serializers.SerializerMethodField()

    def get_subject(self, credential) -> str | None:
        return credential.subject or None

    @extend_schema_field(ExpressionField)
    def get_claimsMatchingExpression(self, credential) -> dict | None:
        value = credential.claims_matching_expression
        return {"languageVersion": 1, "value": value} if value else None

    def get_createdAt(self, credential) -> str:
        return iso_utc(credential.created_at)

    def get_updatedAt(self, credential) -> str:
        return iso_utc(credential.updated_at)


def federated_credential_json(credential: FederatedCredential) -> dict:
    return FederatedCredentialDto(credential).data


class EvaluateInput(serializers.Serializer):
    # Generous: an oversized token is reported by the size check, not refused here.
    assertion = StrictCharField(max_length=64 * 1024, trim_whitespace=False)

    FIELDS = ("assertion",)


def evaluate_input(data) -> str:
    serializer = EvaluateInput(data=fields_any_case(data, EvaluateInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["assertion"]


def evaluation_json(token_checks, reports) -> dict:
    """The report of federation.assertions.assertion_evaluate: the token's own checks, then
    each credential's (a credential's checks are skipped when the token's fail)."""
    return {
        "accepted": any(report.accepted for report in reports),
        "checks": [check.json() for check in token_checks],
        "credentials": [
            {
                "id": str(report.credential.pk),
                "name": report.credential.name,
                "accepted": report.accepted,
                "checks": [check.json() for check in report.checks],
            }
            for report in reports
        ],
    }


# --- the application's own keys (SPEC §11) -------------------------------------------------


class AppKeyInput(serializers.Serializer):
    name = StrictCharField()
    publicKeyPem = StrictCharField(required=False, allow_blank=True, allow_null=True)
    certificatePem = StrictCharField(required=False, allow_blank=True, allow_null=True)
    jwksUri = StrictCharField(required=False, allow_blank=True, allow_null=True)

    FIELDS = ("name", "publicKeyPem", "certificatePem", "jwksUri")


def app_key_input(data) -> dict:
    serializer = AppKeyInput(data=fields_any_case(data, AppKeyInput.FIELDS))
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    return {
        "name": values["name"],
        "public_key_pem": values.get("publicKeyPem") or "",
        "certificate_pem": values.get("certificatePem") or "",
        "jwks_uri": values.get("jwksUri") or "",
    }


def app_key_json(key: AppKey) -> dict:
    """A registered key: its public material only (the PEM as registered, or the JWKS URL),
    its RFC 7638 thumbprint, which a client may send as `kid`."""
    return {
        "id": str(key.pk),
        "clientId": key.app.client.client_id,
        "name": key.name,
        "type": key.kind,
        "keyType": key.description or None,
        "thumbprint": key.thumbprint or None,
        "publicKeyPem": key.pem if key.kind == AppKey.Kind.PUBLIC_KEY else None,
        "certificatePem": key.pem if key.kind == AppKey.Kind.CERTIFICATE else None,
        "jwksUri": key.jwks_uri or None,
        "expiresAt": iso_utc(key.expires_at) if key.expires_at else None,
        "createdAt": iso_utc(key.created_at),
        "lastUsedAt": iso_utc(key.last_used_at) if key.last_used_at else None,
    }


# --- the organization's sign-in identity providers (SPEC §9) ------------------------------


@extend_schema_field(
    {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]}
)
class ScopeNamesField(serializers.Field):
    """The scopes asked of an identity provider: a list of names, or one space-separated
    string as in an OAuth request (RFC 6749 §3.3); the service judges the names."""

    default_error_messages = {"shape": "Must be a list of scope names (or one string of them)."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("shape")
        return " ".join(data)


class IdentityProviderInput(serializers.Serializer):
    """An identity provider's body. `clientSecret` is write-only: no answer carries it, and
    an update without it (or with it null or empty) keeps the stored one. The break-glass
    administrator is named by username."""

    name = StrictCharField()
    kind = StrictCharField(required=False)
    # Compared exactly with the provider's discovery document and id_tokens: kept as sent.
    issuer = StrictCharField(trim_whitespace=False)
    clientId = StrictCharField(trim_whitespace=False)
    clientSecret = StrictCharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    scopes = ScopeNamesField(required=False)
    allowedEmailDomains = StringListField(required=False, allow_null=True)
    subjectClaim = StrictCharField(required=False)
    emailClaim = StrictCharField(required=False)
    nameClaim = StrictCharField(required=False)
    provisioning = StrictCharField(required=False)
    enforced = serializers.BooleanField(required=False)
    breakGlassUserName = StrictCharField(required=False, allow_blank=True, allow_null=True)
    enabled = serializers.BooleanField(required=False)

    FIELDS = (
        "name",
        "kind",
        "issuer",
        "clientId",
        "clientSecret",
        "scopes",
        "allowedEmailDomains",
        "subjectClaim",
        "emailClaim",
        "nameClaim",
        "provisioning",
        "enforced",
        "breakGlassUserName",
        "enabled",
    )
    # The service's field names as the API's (identity_server.errors: `error_fields`).
    ERROR_FIELDS = {
        "client_id": "clientId",
        "client_secret": "clientSecret",
        "allowed_email_domains": "allowedEmailDomains",
        "subject_claim": "subjectClaim",
        "email_claim": "emailClaim",
        "name_claim": "nameClaim",
        "break_glass_user": "breakGlassUserName",
    }
    # API name → service name, for the fields that map one to one.
    SERVICE_NAMES = {
        "name": "name",
        "kind": "kind",
        "issuer": "issuer",
        "clientId": "client_id",
        "scopes": "scopes",
        "allowedEmailDomains": "allowed_email_domains",
        "subjectClaim": "subject_claim",
        "emailClaim": "email_claim",
        "nameClaim": "name_claim",
        "provisioning": "provisioning",
        "enforced": "enforced",
        "enabled": "enabled",
    }


def _identity_provider_defaults(kind: str) -> dict:
    """What a PUT sets a field it leaves out to: the model's default (SPEC §9: subject
    `oid` for Entra ID, as at creation)."""
    return {
        "kind": IdentityProvider.Kind.GENERIC,
        "scopes": IDP_DEFAULT_SCOPES,
        "allowed_email_domains": [],
        "subject_claim": "oid" if kind == IdentityProvider.Kind.ENTRA else "sub",
        "email_claim": "email",
        "name_claim": "name",
        "provisioning": IdentityProvider.Provisioning.LINK_ONLY,
        "enforced": False,
        "break_glass_user": None,
        "enabled": True,
    }


def _break_glass_user(organization, username: str | None):
    """The member named `username` (any case), None for none; a name that is no member's
    is refused without saying whether the account exists elsewhere."""
    if not username:
        return None
    membership = (
        membership_list(organization=organization).filter(user__username__iexact=username).first()
    )
    if membership is None:
        raise serializers.ValidationError(
            {"breakGlassUserName": ["No member of this organization has this username."]}
        )
    return membership.user


def identity_provider_input(data, *, organization, replace: bool = False) -> dict:
    """Service arguments (federation.services.IDP_FIELDS) from a body: the fields it names.

    Creating, the service defaults the others (the model's defaults, subject `oid` for
    Entra ID). `replace` (PUT) sets every field the body leaves out to that default too,
    except the client secret, which is kept unless one is sent: no answer shows it, so a
    client could not send it back. PATCH names only what changes (`partial_input`)."""
    return _identity_provider_fields(data, organization, partial=False, replace=replace)


def identity_provider_partial_input(data, *, organization) -> dict:
    """PATCH: only the fields the body names change, none is required."""
    return _identity_provider_fields(data, organization, partial=True, replace=False)


def _identity_provider_fields(data, organization, *, partial: bool, replace: bool) -> dict:
    sent = fields_any_case(data, IdentityProviderInput.FIELDS)
    serializer = IdentityProviderInput(data=sent, partial=partial)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    fields = _identity_provider_defaults(values.get("kind", "")) if replace else {}
    for name, field in IdentityProviderInput.SERVICE_NAMES.items():
        if name in values:
            fields[field] = values[name]
    if "allowed_email_domains" in fields and fields["allowed_email_domains"] is None:
        fields["allowed_email_domains"] = []
    if "breakGlassUserName" in values:
        fields["break_glass_user"] = _break_glass_user(organization, values["breakGlassUserName"])
    if values.get("clientSecret"):
        fields["client_secret"] = values["clientSecret"]
    return fields


class IdentityProviderDto(serializers.Serializer):
    """What the API answers for a provider (identity_provider_json), for the OpenAPI schema:
    never the client secret, only `hasClientSecret`."""

    id = serializers.UUIDField()
    partitionGlobalId = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=IdentityProvider.Kind.values)
    issuer = serializers.CharField()
    clientId = serializers.CharField()
    hasClientSecret = serializers.BooleanField()
    scopes = serializers.ListField(child=serializers.CharField())
    allowedEmailDomains = serializers.ListField(child=serializers.CharField())
    subjectClaim = serializers.CharField()
    emailClaim = serializers.CharField()
    nameClaim = serializers.CharField()
    provisioning = serializers.ChoiceField(choices=IdentityProvider.Provisioning.values)
    enforced = serializers.BooleanField()
    breakGlassUserName = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    redirectUri = serializers.CharField()
    createdAt = serializers.CharField()
    updatedAt = serializers.CharField()


def identity_provider_json(provider: IdentityProvider, *, redirect_uri: str) -> dict:
    """A provider as the API answers it: never its client secret, only whether one is set
    (`hasClientSecret`); `redirectUri` is the address to register at the provider."""
    user = provider.break_glass_user
    return {
        "id": str(provider.pk),
        "partitionGlobalId": str(provider.organization.global_id),
        "name": provider.name,
        "kind": provider.kind,
        "issuer": provider.issuer,
        "clientId": provider.client_id,
        "hasClientSecret": provider.has_client_secret,
        "scopes": provider.scope_list,
        "allowedEmailDomains": list(provider.allowed_email_domains),
        "subjectClaim": provider.subject_claim,
        "emailClaim": provider.email_claim,
        "nameClaim": provider.name_claim,
        "provisioning": provider.provisioning,
        "enforced": provider.enforced,
        "breakGlassUserName": user.get_username() if user is not None else None,
        "enabled": provider.enabled,
        "redirectUri": redirect_uri,
        "createdAt": iso_utc(provider.created_at),
        "updatedAt": iso_utc(provider.updated_at),
    }


def identity_provider_redirect_uri(provider: IdentityProvider, request) -> str:
    """The redirect URI to register at the provider: the flow's callback (`idp-callback`)
    at this request's address, as federation.sign_in_views sends it to the provider."""
    return request.build_absolute_uri(reverse("idp-callback", args=[provider.pk]))
