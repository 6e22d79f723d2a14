"""External applications and their federated credentials over REST, for scripts with a
bearer token (SPEC §2, §5; seed 004), at `/identity_/api/…` and `/{org}/identity_/api/…`.

- `ExternalClient/{partitionGlobalId}` (GET list), `ExternalClient` (POST, the
  organization in the body), `ExternalClient/{partitionGlobalId}/{clientId}` (GET, PUT,
  DELETE): applications, `PM.OAuthApp[.Read|.Write]`.
- `ExternalClient/GenerateSecret` (POST) and `ExternalClient/{partitionGlobalId}/secrets/
  {secretId}` (DELETE): their client secrets, `PM.OAuthAppSecret[.Write]`.
- `ExternalClient/{partitionGlobalId}/{clientId}/FederatedCredentials[/{credentialId}]`:
  seed 004's federated credentials, `PM.OAuthApp[.Read|.Write]`; `…/evaluate` (POST) says
  why a token would or would not be accepted, and issues none.
- `ExternalClient/{partitionGlobalId}/{clientId}/Keys[/{keyId}]` (GET list, POST, DELETE):
  the application's own public keys for `private_key_jwt` (SPEC §11), with the same scopes.
- `/{org}/identity_/api/IdentityProvider[/{id}]` (GET list, POST; GET, PUT, PATCH,
  DELETE): the organization's sign-in identity providers (SPEC §9),
  `PM.IdentityProviders[.Read|.Write]`, for applications holding the scope and for
  administrators' own tokens (a member's user token is refused: who may sign in, and how,
  is the administrators' business, as on the admin pages). The client secret is
  write-only.

Answers come in the order of identity_server.permissions: 401, then 404 for another
organization, then 403; an application, secret or credential that is not this
organization's (or this application's) is the same 404 as a missing one. A 400 is a
ValidationProblemDetails body with the errors keyed by field.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response

from federation import assertions, selectors, serializers, services
from identity_server import selectors as identity_selectors
from identity_server import serializers as identity_serializers
from identity_server.permissions import OrganizationAPIView
from identity_server.services import client_secret_create, client_secret_delete
from tenants.access import access_organization
from tenants.models import Membership
from tenants.selectors import membership_list
from tenants.services import Actor

READ, WRITE = "PM.OAuthApp.Read", "PM.OAuthApp.Write"
SECRET_WRITE = "PM.OAuthAppSecret.Write"  # noqa: S105 (a scope name)
# Answers that carry a plaintext secret must not be kept by any cache.
NO_STORE = {"Cache-Control": "no-store"}


def _app_json(app) -> dict:
    secrets = identity_selectors.client_secret_list(client=app.client)
    return serializers.external_app_json(app, secrets=secrets)


OBJECT = OpenApiTypes.OBJECT
Dto = serializers.FederatedCredentialDto


@extend_schema_view(
    post=extend_schema(request=serializers.ExternalAppInput, responses={201: OBJECT})
)
class ExternalClientCreateView(OrganizationAPIView):
    """POST `ExternalClient`: the application, and for a confidential one the plaintext of
    its first secret, shown only in this answer."""

    required_scopes = {"post": WRITE}

    @property
    def error_fields(self):
        return serializers.external_app_error_fields(self.request)

    def post(self, request, org=None):
        app, plaintext = services.external_app_create(
            organization=self.organization,
            actor=Actor.from_request(request),
            **serializers.external_app_input(request.data, creating=True),
        )
        body = _app_json(app)
        if plaintext is not None:
            body["secret"] = plaintext
        location = reverse(
            "external-client",
            kwargs={
                "partition_global_id": self.organization.global_id,
                "client_id": app.client.client_id,
            },
        )
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={**NO_STORE, "Location": request.build_absolute_uri(location)},
        )


@extend_schema_view(get=extend_schema(responses={200: OBJECT}))
class ExternalClientListView(OrganizationAPIView):
    required_scopes = {"get": READ}

    def get(self, request, partition_global_id, org=None):
        apps = selectors.external_app_list(organization=self.organization)
        return Response([_app_json(app) for app in apps])


@extend_schema_view(
    get=extend_schema(responses={200: OBJECT}),
    put=extend_schema(request=serializers.ExternalAppInput, responses={200: OBJECT}),
    delete=extend_schema(responses={204: None}),
)
class ExternalClientDetailView(OrganizationAPIView):
    """GET, PUT (name, scopes and the user sign-in fields; confidentiality is fixed) and
    DELETE (its credentials and secrets go with it, and its tokens are revoked)."""

    required_scopes = {"get": READ, "put": WRITE, "delete": WRITE}

    @property
    def error_fields(self):
        return serializers.external_app_error_fields(self.request)

    def get(self, request, partition_global_id, client_id, org=None):
        return Response(_app_json(self._app(client_id)))

    def put(self, request, partition_global_id, client_id, org=None):
        app = services.external_app_update(
            app=self._app(client_id),
            actor=Actor.from_request(request),
            **serializers.external_app_input(request.data, creating=False),
        )
        return Response(_app_json(app))

    def delete(self, request, partition_global_id, client_id, org=None):
        services.external_app_delete(app=self._app(client_id), actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _app(self, client_id):
        return selectors.external_app_get(organization=self.organization, client_id=client_id)


@extend_schema_view(
    post=extend_schema(request=serializers.GenerateSecretInput, responses={200: OBJECT})
)
class GenerateSecretView(OrganizationAPIView):
    """POST `ExternalClient/GenerateSecret` `{clientId, description, partitionGlobalId,
    expiryTime}`: a new secret, its plaintext shown only in this answer."""

    required_scopes = {"post": SECRET_WRITE}
    error_fields = {"expires_at": "expiryTime"}

    def post(self, request, org=None):
        target = serializers.generate_secret_target(request.data)
        app = selectors.external_app_get(
            organization=self.organization, client_id=target["clientId"]
        )
        secret, plaintext = client_secret_create(
            client=app.client,
            actor=Actor.from_request(request),
            **identity_serializers.client_secret_input(request.data),
        )
        return Response(
            identity_serializers.client_secret_created_json(secret, plaintext), headers=NO_STORE
        )


@extend_schema_view(delete=extend_schema(responses={204: None}))
class ExternalClientSecretDeleteView(OrganizationAPIView):
    """DELETE `ExternalClient/{partitionGlobalId}/secrets/{secretId}`: the secret stops
    working at once, and so do the tokens it issued."""

    required_scopes = {"delete": SECRET_WRITE}

    def delete(self, request, partition_global_id, secret_id, org=None):
        secret = selectors.external_app_secret_get(
            organization=self.organization, secret_id=secret_id
        )
        client_secret_delete(secret=secret, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(responses={200: Dto(many=True)}),
    create=extend_schema(request=serializers.FederatedCredentialInput, responses={201: Dto}),
    retrieve=extend_schema(responses={200: Dto}),
    update=extend_schema(request=serializers.FederatedCredentialInput, responses={200: Dto}),
    destroy=extend_schema(responses={204: None}),
)
class FederatedCredentialViewSet(viewsets.ViewSetMixin, OrganizationAPIView):
    """Seed 004: list (`[]` when none), create (201), retrieve, update (PUT, every required
    field), destroy (204)."""

    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": WRITE,
        "update": WRITE,
        "destroy": WRITE,
        "evaluate": WRITE,
    }
    error_fields = serializers.FederatedCredentialInput.ERROR_FIELDS

    def list(self, request, partition_global_id, client_id, org=None):
        credentials = selectors.federated_credential_list(app=self._app(client_id))
        return Response([serializers.federated_credential_json(c) for c in credentials])

    def create(self, request, partition_global_id, client_id, org=None):
        credential = services.federated_credential_create(
            app=self._app(client_id),
            actor=Actor.from_request(request),
            **serializers.federated_credential_input(request.data),
        )
        return Response(
            serializers.federated_credential_json(credential), status=status.HTTP_201_CREATED
        )

    def retrieve(self, request, partition_global_id, client_id, credential_id, org=None):
        credential = self._credential(client_id, credential_id)
        return Response(serializers.federated_credential_json(credential))

    def update(self, request, partition_global_id, client_id, credential_id, org=None):
        credential = services.federated_credential_update(
            credential=self._credential(client_id, credential_id),
            actor=Actor.from_request(request),
            **serializers.federated_credential_input(request.data),
        )
        return Response(serializers.federated_credential_json(credential))

    def destroy(self, request, partition_global_id, client_id, credential_id, org=None):
        services.federated_credential_delete(
            credential=self._credential(client_id, credential_id),
            actor=Actor.from_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=serializers.EvaluateInput, responses={200: OBJECT})
    def evaluate(self, request, partition_global_id, client_id, org=None):
        """POST `…/FederatedCredentials/evaluate` `{"assertion": "<JWT>"}`: every check, for
        every credential of the application, with near-miss hints. Issues no token."""
        credentials = selectors.federated_credential_list(app=self._app(client_id))
        assertion = serializers.evaluate_input(request.data)
        token_checks, reports = assertions.assertion_evaluate(assertion, credentials)
        return Response(serializers.evaluation_json(token_checks, reports))

    def _app(self, client_id):
        return selectors.external_app_get(organization=self.organization, client_id=client_id)

    def _credential(self, client_id, credential_id):
        return selectors.federated_credential_get(
            app=self._app(client_id), credential_id=credential_id
        )


@extend_schema_view(
    list=extend_schema(responses={200: OBJECT}),
    create=extend_schema(request=serializers.AppKeyInput, responses={201: OBJECT}),
    destroy=extend_schema(responses={204: None}),
)
class AppKeyViewSet(viewsets.ViewSetMixin, OrganizationAPIView):
    """SPEC §11: list (`[]` when none), create (201 with `id`), destroy (204)."""

    required_scopes = {"list": READ, "create": WRITE, "destroy": WRITE}
    error_fields = {"public_key_pem": "publicKeyPem", "certificate_pem": "certificatePem"}

    def list(self, request, partition_global_id, client_id, org=None):
        keys = selectors.app_key_list(app=self._app(client_id))
        return Response([serializers.app_key_json(key) for key in keys])

    def create(self, request, partition_global_id, client_id, org=None):
        key = services.app_key_create(
            app=self._app(client_id),
            actor=Actor.from_request(request),
            **serializers.app_key_input(request.data),
        )
        return Response(serializers.app_key_json(key), status=status.HTTP_201_CREATED)

    def destroy(self, request, partition_global_id, client_id, key_id, org=None):
        key = selectors.app_key_get(app=self._app(client_id), key_id=key_id)
        services.app_key_delete(key=key, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _app(self, client_id):
        return selectors.external_app_get(organization=self.organization, client_id=client_id)


# --- the organization's sign-in identity providers (SPEC §9) ------------------------------

IDP_READ, IDP_WRITE = "PM.IdentityProviders.Read", "PM.IdentityProviders.Write"
IdpInput = serializers.IdentityProviderInput
IdpDto = serializers.IdentityProviderDto


def _provider_json(provider, request) -> dict:
    return serializers.identity_provider_json(
        provider, redirect_uri=serializers.identity_provider_redirect_uri(provider, request)
    )


@extend_schema_view(
    list=extend_schema(responses={200: IdpDto(many=True)}),
    create=extend_schema(request=IdpInput, responses={201: IdpDto}),
    retrieve=extend_schema(responses={200: IdpDto}),
    update=extend_schema(request=IdpInput, responses={200: IdpDto}),
    partial_update=extend_schema(request=IdpInput, responses={200: IdpDto}),
    destroy=extend_schema(responses={204: None}),
)
class IdentityProviderViewSet(viewsets.ViewSetMixin, OrganizationAPIView):
    """SPEC §9, at `/{org}/identity_/api/IdentityProvider`: list (`[]` when none), create
    (201; the issuer's discovery and keys are fetched first), retrieve, update (PUT: the
    fields left out take their defaults; PATCH: only the fields sent), destroy (204). The
    client secret is never answered (`hasClientSecret`); an update without one keeps it."""

    required_scopes = {
        "list": IDP_READ,
        "retrieve": IDP_READ,
        "create": IDP_WRITE,
        "update": IDP_WRITE,
        "partial_update": IDP_WRITE,
        "destroy": IDP_WRITE,
    }
    error_fields = IdpInput.ERROR_FIELDS

    def resolve_scope(self, request, **kwargs) -> None:
        self.organization = access_organization(user=request.user, slug=kwargs["org"])

    def check_permissions(self, request):
        super().check_permissions(request)
        account = getattr(request.user, "account", None)
        admins = membership_list(organization=self.organization).filter(role=Membership.Role.ADMIN)
        if account is not None and not admins.filter(user=account).exists():
            raise exceptions.PermissionDenied(
                "Only the organization's administrators may manage its identity providers."
            )

    def list(self, request, org):
        providers = selectors.identity_provider_list(organization=self.organization)
        return Response([_provider_json(provider, request) for provider in providers])

    def create(self, request, org):
        provider = services.identity_provider_create(
            organization=self.organization,
            actor=Actor.from_request(request),
            **serializers.identity_provider_input(request.data, organization=self.organization),
        )
        location = reverse("identity-provider", kwargs={"org": org, "provider_id": provider.pk})
        return Response(
            _provider_json(provider, request),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )

    def retrieve(self, request, org, provider_id):
        return Response(_provider_json(self._provider(provider_id), request))

    def update(self, request, org, provider_id):
        return self._save(
            provider_id,
            serializers.identity_provider_input(
                request.data, organization=self.organization, replace=True
            ),
        )

    def partial_update(self, request, org, provider_id):
        return self._save(
            provider_id,
            serializers.identity_provider_partial_input(
                request.data, organization=self.organization
            ),
        )

    def destroy(self, request, org, provider_id):
        services.identity_provider_delete(
            provider=self._provider(provider_id), actor=Actor.from_request(self.request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _save(self, provider_id, fields: dict):
        provider = services.identity_provider_update(
            provider=self._provider(provider_id), actor=Actor.from_request(self.request), **fields
        )
        return Response(_provider_json(provider, self.request))

    def _provider(self, provider_id):
        return selectors.identity_provider_get(
            organization=self.organization, provider_id=provider_id
        )
