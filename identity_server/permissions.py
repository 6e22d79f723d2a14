"""Scope checks for token-authenticated APIs, and the order of their answers.

A view declares `required_scopes`, a map from its action (a viewset action, else the
lower-case HTTP method) to `X.Read` or `X.Write`; either that scope or the whole-resource
`X` satisfies it (identity_server.scopes). An action missing from the map is refused.

Answers come in this order: 401 without a valid token; 404 when the organization or tenant
in the URL is not the token's (the same 404 as for one that does not exist); 405 for a
method the view does not have; 403 when the object is visible but a scope is missing,
naming it (RFC 6750 §3.1 `insufficient_scope`).
"""

from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from identity_server import errors
from identity_server.authentication import BEARER_REALM, BearerTokenAuthentication
from identity_server.scopes import scope_satisfied, scopes_satisfying
from identity_server.serializers import fields_any_case
from tenants import odata
from tenants.access import access_organization, access_tenant


class InsufficientScope(exceptions.PermissionDenied):
    """RFC 6750 §3.1 `insufficient_scope`: a 403 whose challenge names the scopes that would
    do (§3: space-separated, as in a token request) and whose body names the one required.
    DRF's exception handler sends `auth_header` as WWW-Authenticate."""

    def __init__(self, required: str):
        satisfying = scopes_satisfying(required)
        super().__init__(
            f"The access token lacks the scope {required} this operation requires"
            + (f" (or {' or '.join(satisfying[1:])})." if len(satisfying) > 1 else "."),
            code="insufficient_scope",
        )
        self.auth_header = (
            f'{BEARER_REALM}, error="insufficient_scope", scope="{" ".join(satisfying)}"'
        )


class HasRequiredScopes(permissions.BasePermission):
    message = "The access token lacks the scope this operation requires."

    def has_permission(self, request, view):
        action = getattr(view, "action", None) or request.method.lower()
        if action == "options":
            return True
        if action == "head":  # a GET without its body
            action = "get"
        required = getattr(view, "required_scopes", {}).get(action)
        if required is None:
            return False
        if not scope_satisfied(required, getattr(request.user, "scopes", frozenset())):
            raise InsufficientScope(required)
        return True


class TokenAPIView(APIView):
    """Base of the APIs that robots and scripts call with a bearer token."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated, HasRequiredScopes]
    # Bodies capped and nesting bounded (tenants.odata.JSONParser), for every token API.
    parser_classes = [odata.JSONParser]
    required_scopes: dict[str, str] = {}

    def check_permissions(self, request):
        if not request.user or not request.user.is_authenticated:
            self.permission_denied(request)
        self.resolve_scope(request, **self.kwargs)
        if request.method.lower() not in self.http_method_names or not hasattr(
            self, request.method.lower()
        ):
            raise exceptions.MethodNotAllowed(request.method)
        super().check_permissions(request)

    def resolve_scope(self, request, **kwargs) -> None:
        """Loads what the URL names (Http404 if the caller cannot see it)."""


class TenantAPIView(TokenAPIView):
    """An API under /{org}/{tenant}/: `self.tenant` is the caller's tenant or a 404."""

    def resolve_scope(self, request, **kwargs) -> None:
        self.tenant = access_tenant(
            user=request.user, org_slug=kwargs["org"], tenant_name=kwargs["tenant"]
        )


class OrchestratorAPIView(TenantAPIView):
    """A tenant API under orchestrator_: UiPath's error body for a 400 (tenants.odata).
    `error_fields` maps service field names to the names the API uses (`name` → `Name`)."""

    error_fields: dict[str, str] = {}

    def get_exception_handler(self):
        return odata.exception_handler


class OrganizationAPIView(TokenAPIView):
    """An identity_ API of one organization: `self.organization` is the organization whose
    `partitionGlobalId` the path names (or, for the routes that create, the body), and whose
    slug the optional `/{org}/` prefix names, if it is the caller's; a 404 otherwise. A 400
    has the ValidationProblemDetails body (identity_server.errors); `error_fields` maps
    service field names to the API's (`redirect_uri` → `redirectUri`)."""

    error_fields: dict[str, str] = {}

    def resolve_scope(self, request, **kwargs) -> None:
        global_id = kwargs.get("partition_global_id")
        if global_id is None:
            global_id = self._partition_global_id_from_body(request)
        self.organization = access_organization(
            user=request.user, global_id=global_id, slug=kwargs.get("org")
        )

    def _partition_global_id_from_body(self, request) -> str:
        value = fields_any_case(request.data, ("partitionGlobalId",)).get("partitionGlobalId")
        if not value or not isinstance(value, str):
            raise exceptions.ValidationError(
                {"partitionGlobalId": ["The organization's global ID is required."]}
            )
        return value

    def get_exception_handler(self):
        return errors.validation_problem_handler
