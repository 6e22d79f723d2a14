"""The OAuth endpoints (SPEC §2): token, introspection, revocation, discovery and JWKS;
and the admin site's sign-in page, throttled (identity_server.login_throttle).

Thin: oauthlib (through DOT) runs the protocol with identity_server.validators; these views
turn its answers into responses and audit the refusals.
"""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET
from oauth2_provider.views.mixins import OAuthLibMixin

from identity_server import login_throttle, scopes, services, tokens
from tenants.models import AuditEvent
from tenants.services import Actor, sign_in_record

JWKS_MAX_AGE = 300


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(
    sensitive_post_parameters("client_secret", "client_assertion", "token"), name="dispatch"
)
class OAuthEndpoint(OAuthLibMixin, View):
    http_method_names = ["post"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = JsonResponse(
            {"error": "invalid_request", "error_description": "Use POST."}, status=405
        )
        response["Allow"] = "POST"
        return response

    def respond(self, request, headers, body, status) -> HttpResponse:
        if status >= 400:
            try:
                error = json.loads(body).get("error", "")
            except (ValueError, AttributeError):
                error = ""
            services.token_failure_record(
                failure=getattr(request, "token_failure", None), error=error, http_request=request
            )
        response = HttpResponse(body or "", status=status, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        return response


class TokenView(OAuthEndpoint):
    """RFC 6749 §4.4 client credentials, at /identity_/connect/token and under /{org}/."""

    def post(self, request, *args, **kwargs):
        _uri, headers, body, status = self.create_token_response(request)
        return self.respond(request, headers, body, status)


class IntrospectView(OAuthEndpoint):
    """RFC 7662, limited to the caller's own tokens (or its organization's, with the
    introspection scope)."""

    def post(self, request, *args, **kwargs):
        headers, body, status = self.get_oauthlib_core().create_introspect_response(request)
        return self.respond(request, headers, body, status)


class RevokeView(OAuthEndpoint):
    """RFC 7009, for the caller's own tokens."""

    def post(self, request, *args, **kwargs):
        _uri, headers, body, status = self.create_revocation_response(request)
        return self.respond(request, headers, body, status)


@require_GET
def openid_configuration(request):
    issuer = settings.IDENTITY_ISSUER
    return JsonResponse(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/connect/token",
            "jwks_uri": f"{issuer}/.well-known/openid-configuration/jwks",
            "introspection_endpoint": f"{issuer}/connect/introspect",
            "revocation_endpoint": f"{issuer}/connect/revocation",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": [tokens.ALGORITHM],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "scopes_supported": sorted(scopes.CATALOGUE),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [tokens.ALGORITHM],
        }
    )


@require_GET
def jwks(request):
    response = JsonResponse({"keys": tokens.published_keys()})
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


# --- signing in to the admin site -------------------------------------------------------


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refused past the limits of identity_server.login_throttle;
    sign-ins, failures and the first refusal of a window are audited (`user.sign_in`)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": (
            "Too many failed sign-in attempts. Wait %(minutes)d minutes, then try again."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        actor = Actor.from_request(self.request)
        if login_throttle.is_throttled(username=username, address=actor.address):
            if login_throttle.first_refusal(username=username, address=actor.address):
                self._audit_failure(actor, username, "throttled")
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": login_throttle.WINDOW_SECONDS // 60},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            if username:
                login_throttle.record_failure(username=username, address=actor.address)
                self._audit_failure(actor, username, "wrong_credentials")
            raise
        login_throttle.clear_username(username=username)
        return cleaned

    @staticmethod
    def _audit_failure(actor: Actor, username: str, reason: str) -> None:
        # The username only when it is one: people type passwords into the wrong field.
        user = get_user_model().objects.filter(username=username).first()
        sign_in_record(
            actor=actor, user=user, outcome=AuditEvent.Outcome.FAILURE, reason_code=reason
        )


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm

    def form_valid(self, form):
        response = super().form_valid(form)  # signs in: the actor is now the user
        sign_in_record(actor=Actor.from_request(self.request), user=form.get_user())
        return response
