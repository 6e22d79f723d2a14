"""The OAuth endpoints (SPEC §2): token, introspection, revocation, discovery and JWKS;
and the admin site's sign-in page, throttled (identity_server.login_throttle).

Thin: oauthlib (through DOT) runs the protocol with identity_server.validators; these views
turn its answers into responses and audit the refusals.
"""

import json
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from identity_server import (
    csp,
    login_throttle,
    metrics,
    ratelimit,
    scopes,
    services,
    signin,
    tokens,
    validators,
)
from identity_server.requestlog import request_client_known
from tenants.models import AuditEvent
from tenants.services import Actor, sign_in_record

# RFC 6749 §5.1, RFC 7662 §2.2, RFC 7009: every answer of these endpoints, refusals
# included, may carry a credential or say something about one: no cache keeps it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6749 §5.2: a 401 names the HTTP authentication scheme the endpoint takes, which is
# Basic (RFC 7617 §2), whether or not the client tried it; oauthlib would send Bearer.
BASIC_CHALLENGE = 'Basic realm="identity", charset="UTF-8"'
# How a client authenticates at the token, introspection and revocation endpoints alike.
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
# What private_key_jwt assertions may be signed with: RS256 from a federated credential's
# issuer, RS256, PS256 or ES256 with the application's own key (federation.assertions'
# ALGORITHM and OWN_KEY_ALGORITHMS; identity_server does not import federation).
CLIENT_ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256"]
# The refusals oauthlib makes before the validator has a say, and leaves undescribed.
OAUTHLIB_DESCRIPTIONS = {
    "unsupported_grant_type": (
        "grant_type must be client_credentials, authorization_code or refresh_token."
    ),
    "unsupported_token_type": "Only access and refresh tokens can be introspected or revoked here.",
}


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(
    sensitive_post_parameters("client_secret", "client_assertion", "token"), name="dispatch"
)
class OAuthEndpoint(OAuthLibMixin, View):
    http_method_names = ["post"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        return JsonResponse(
            {"error": "invalid_request", "error_description": "Use POST."},
            status=405,
            headers={"Allow": "POST", **NO_STORE},
        )

    # Each endpoint's `oauth_response(request)` is oauthlib's (headers, body, status).

    def post(self, request, *args, **kwargs):
        started = time.perf_counter()
        refusal = validators.form_refusal(request)
        # Before anything is hashed or parsed, from this process's memory (ratelimit); the
        # client ID is form_refusal's when the form cannot be read again.
        request.rate_limit_client_id = refusal.client_id if refusal else None
        limited = ratelimit.failures_limited(request, client_id=request.rate_limit_client_id)
        if limited is not None:
            if limited.first:
                services.token_rate_limited_record(
                    limited=limited.limited, client_id=limited.client_id, http_request=request
                )
            request.rate_limited = limited.limited
            response = self.respond(request, *validators.rate_limited_answer(limited.limited))
        elif refusal is not None:
            request.token_failure = refusal
            error = oauth_errors.InvalidRequestError(description=refusal.description)
            response = self.respond(request, {}, error.json, error.status_code)
        else:
            headers, body, status = self.oauth_response(request)
            response = self.respond(request, headers, body, status)
        self.observe(request, response, started)
        return response

    def observe(self, request, response, started: float) -> None:
        """Names the client in the request log once it is known to exist."""
        failure = getattr(request, "token_failure", None)
        client = getattr(request, "oauth_client", None) or (failure and failure.client)
        if client:
            request_client_known(
                request, client_id=client.client_id, organization=client.organization_slug
            )

    def respond(self, request, headers, body, status) -> HttpResponse:
        headers = {**headers, **NO_STORE}
        if status == 429:
            # Audited by the limit itself, once per key and window (ratelimit).
            request.token_error = ratelimit.REASON
            metrics.rate_limited(limit=request.rate_limited.limit, endpoint=self.metric_endpoint)
        elif status >= 400:
            ratelimit.failure_record(request, client_id=request.rate_limit_client_id)
            body, error = self._refusal_body(request, body)
            request.token_error = error
            if status == 401:
                headers["WWW-Authenticate"] = BASIC_CHALLENGE
            services.token_failure_record(
                failure=getattr(request, "token_failure", None), error=error, http_request=request
            )
        response = HttpResponse(body or "", status=status, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        return response

    @staticmethod
    def _refusal_body(request, body: str) -> tuple[str, str]:
        """oauthlib's error body with the refusal's `error_description` (RFC 6749 §5.2)."""
        try:
            refusal = json.loads(body)
        except ValueError:
            refusal = {}
        error = refusal.get("error", "") if isinstance(refusal, dict) else ""
        failure = getattr(request, "token_failure", None)
        description = (
            (failure.description if failure else "")
            or refusal.get("error_description", "")
            or OAUTHLIB_DESCRIPTIONS.get(error, "")
        )
        return json.dumps({"error": error, "error_description": description}), error


def _form(request):
    """The parsed form, or nothing when the body cannot be read (validators.form_refusal
    refuses those; Django keeps an empty form once parsing failed)."""
    try:
        return request.POST
    except (BadRequest, SuspiciousOperation, MultiPartParserError, ValueError, LookupError):
        return {}


def client_auth_method(request) -> str:
    """How the request tried to authenticate its client (RFC 6749 §2.3, RFC 7523 §2.2),
    from its form and headers alone."""
    form = _form(request)
    if form.get("client_assertion"):
        return "private_key_jwt"
    # META rather than request.headers, which would build a mapping of every header.
    if request.META.get("HTTP_AUTHORIZATION", "")[:6].lower() == "basic ":
        return "client_secret_basic"
    return "client_secret_post" if form.get("client_secret") else "none"


class TokenView(OAuthEndpoint):
    """RFC 6749 §4.4 client credentials, §4.1.3 authorization code and §6 refresh (SPEC §8),
    at /identity_/connect/token and under /{org}/ and /{org}/{tenant}/.

    CORS (SPEC §8), for browser pages that exchange a code with fetch(): a preflight names
    no client, so it is answered for an origin some client may use (the CLI's loopback
    origins, or an origin an application lists); the response itself carries the origin
    only if it is the requesting client's. Never `*`, never credentials. A request without
    an Origin header (robots, servers) costs nothing more."""

    http_method_names = ["post", "options"]

    def options(self, request, *args, **kwargs):
        origin = request.headers.get("Origin", "")
        response = HttpResponse(status=204, headers={"Allow": "POST, OPTIONS", "Vary": "Origin"})
        wanted = request.headers.get("Access-Control-Request-Method", "")
        if wanted == "POST" and signin.origin_allowed_for_any(origin):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST"
            response["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response["Access-Control-Max-Age"] = "600"
        return response

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        origin = request.META.get("HTTP_ORIGIN")  # not request.headers: see client_auth_method
        if origin:
            response["Vary"] = "Origin"
            try:
                client_id = request.POST.get("client_id", "")
            except Exception:  # an unreadable form: already refused, and no client to allow
                client_id = ""
            if signin.origin_allowed(client_id, origin):
                response["Access-Control-Allow-Origin"] = origin
        return response

    metric_endpoint = "token"

    def oauth_response(self, request):
        _uri, headers, body, status = self.create_token_response(request)
        return headers, body, status

    def observe(self, request, response, started: float) -> None:
        """Counts the request by grant, authentication method, outcome and reason, and its
        time (SPEC §10): in memory, no I/O."""
        super().observe(request, response, started)
        issued = response.status_code == 200
        failure = getattr(request, "token_failure", None)
        metrics.token_request_observed(
            grant=_form(request).get("grant_type", ""),
            auth_method=client_auth_method(request),
            reason=""
            if issued
            else (failure.reason if failure else getattr(request, "token_error", "")),
            duration=time.perf_counter() - started,
            issued=issued,
        )


class IntrospectView(OAuthEndpoint):
    """RFC 7662, limited to the caller's own tokens (or its organization's, with the
    introspection scope)."""

    metric_endpoint = "introspect"

    def oauth_response(self, request):
        return self.get_oauthlib_core().create_introspect_response(request)


class RevokeView(OAuthEndpoint):
    """RFC 7009, for the caller's own tokens."""

    metric_endpoint = "revocation"

    def oauth_response(self, request):
        _uri, headers, body, status = self.create_revocation_response(request)
        return headers, body, status


@method_decorator(csrf_exempt, name="dispatch")
class PublicDocument(View):
    """A public JSON document (discovery, JWKS; each view's `document()`): GET and HEAD
    (RFC 9110 §9.3.2), cached by anyone for a short while, so that clients soon see new
    endpoints and rotated keys; any other method a JSON 405. No session, no state: a POST
    needs no CSRF token to be told so."""

    http_method_names = ["get", "head"]
    max_age = 300

    def get(self, request, *args, **kwargs):
        response = JsonResponse(self.document())
        response["Cache-Control"] = f"public, max-age={self.max_age}"
        return response

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
        response["Allow"] = "GET, HEAD"
        return response


class OpenIDConfiguration(PublicDocument):
    """The server's metadata, at OpenID Connect Discovery's path and at RFC 8414 §3's
    (`/.well-known/oauth-authorization-server` inserted before the issuer's path)."""

    def document(self):
        issuer = settings.IDENTITY_ISSUER
        return {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/connect/token",
            "jwks_uri": f"{issuer}/.well-known/openid-configuration/jwks",
            "introspection_endpoint": f"{issuer}/connect/introspect",
            "revocation_endpoint": f"{issuer}/connect/revocation",
            "authorization_endpoint": f"{issuer}/connect/authorize",
            "userinfo_endpoint": f"{issuer}/connect/userinfo",
            # OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 §2.1
            # (identity_server.signout): logout tokens carry the session's `sid`.
            "end_session_endpoint": f"{issuer}/connect/endsession",
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "claims_supported": [
                "sub",
                "sub_type",
                "prt_id",
                "preferred_username",
                "name",
                "email",
                "email_verified",
                "auth_time",
                "amr",
                "nonce",
                "at_hash",
                "sid",
            ],
            # private_key_jwt (RFC 7523 §2.2) is a JWT from the workload's own identity
            # provider, checked against the application's federated credentials, or one the
            # application signed with its own registered key (SPEC §11), at all three
            # endpoints (one validator authenticates the client); RFC 8414 §2 wants the
            # accepted algorithms named wherever private_key_jwt is. `none` at the token
            # endpoint: public clients exchange codes and refresh tokens with PKCE and no
            # secret (SPEC §8).
            **{
                f"{endpoint}_endpoint_{member}": value
                for endpoint in ("token", "introspection", "revocation")
                for member, value in (
                    (
                        "auth_methods_supported",
                        CLIENT_AUTH_METHODS + ["none"] * (endpoint == "token"),
                    ),
                    ("auth_signing_alg_values_supported", CLIENT_ASSERTION_ALGORITHMS),
                )
            },
            "scopes_supported": sorted({*scopes.CATALOGUE, *signin.PROTOCOL_SCOPES}),
            # SPEC §8: the authorization code flow only (RFC 9700 §2.1.2: no implicit).
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "prompt_values_supported": ["none", "login"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [tokens.ALGORITHM],
        }


class JWKS(PublicDocument):
    """The public keys that verify our access tokens (RFC 7517)."""

    def document(self):
        return {"keys": tokens.published_keys()}


# --- signing in to the admin site -------------------------------------------------------


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refused past the limits of identity_server.login_throttle;
    sign-ins, failures and the first refusal of a window are audited (`user.sign_in`)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": (
            "Too many failed sign-in attempts. Wait %(minutes)d minutes, then try again."
        ),
        "sso_enforced": (
            "Your organization signs in through %(provider)s only: use “Sign in with %(provider)s”."
        ),
    }
    # SPEC §9: set when an organization of the account signs in through its provider only.
    sso_provider = None
    policy_details: dict = {}  # replaced per form, never changed in place

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
        self._sso_check(username, actor)
        try:
            cleaned = super().clean()
        except ValidationError:
            if username:
                login_throttle.record_failure(username=username, address=actor.address)
                self._audit_failure(actor, username, "wrong_credentials")
            raise
        login_throttle.clear_username(username=username)
        return cleaned

    def _sso_check(self, username: str, actor: Actor) -> None:
        """SPEC §9 "sign-in through this provider only": a member of such an organization
        is refused a local password, before it is even checked (no password oracle), unless
        it is the organization's break-glass administrator, whose sign-in is flagged. The
        refusal counts as a failure for the throttle, so it cannot be used to list
        accounts faster than passwords can be guessed."""
        user = get_user_model().objects.filter(username=username).first() if username else None
        if user is None:
            return
        next_url = self.request.POST.get("next", "") if self.request else ""
        policy = import_string(settings.SIGN_IN_PASSWORD_POLICY)(user, next_url=next_url)
        self.policy_details = policy.details
        if policy.refused_by is None:
            return
        self.sso_provider = policy.refused_by
        login_throttle.record_failure(username=username, address=actor.address)
        sign_in_record(
            actor=actor,
            user=user,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code="sso_enforced",
            details={"provider": policy.refused_by.name},
        )
        raise ValidationError(
            self.error_messages["sso_enforced"],
            code="sso_enforced",
            params={"provider": policy.refused_by.name},
        )

    @staticmethod
    def _audit_failure(actor: Actor, username: str, reason: str) -> None:
        # The username only when it is one: people type passwords into the wrong field.
        user = get_user_model().objects.filter(username=username).first()
        sign_in_record(
            actor=actor, user=user, outcome=AuditEvent.Outcome.FAILURE, reason_code=reason
        )


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm

    def get_initial(self):
        # OpenID Connect Core §3.1.2.1 login_hint, passed on by the authorization endpoint.
        return {"username": self.request.GET.get("login_hint", "")[:150]}

    def form_valid(self, form):
        response = super().form_valid(form)  # signs in: the actor is now the user
        # RFC 8176 §2: a password (an earlier sign-in of this session may have said else).
        self.request.session[signin.SESSION_AMR_KEY] = ["pwd"]
        sign_in_record(
            actor=Actor.from_request(self.request),
            user=form.get_user(),
            method="password",
            details=form.policy_details,
        )
        return response

    def get_context_data(self, **kwargs):
        """SPEC §9: "Sign in with {name}" for the organization of `?org=` and for the
        domain of a typed email (`?email=`, or the authorization request's login_hint)."""
        context = super().get_context_data(**kwargs)
        email = (self.request.GET.get("email") or self.request.GET.get("login_hint", ""))[:254]
        choices = import_string(settings.SIGN_IN_PROVIDER_CHOICES)(
            org_slug=self.request.GET.get("org", "")[:64],
            email=email.strip() if "@" in email else "",
            next_url=self.get_redirect_url(),
        )
        form = context.get("form")
        enforced = getattr(form, "sso_provider", None)
        if enforced is not None and all(c.url != enforced.url for c in choices):
            choices.insert(0, enforced)
        context.update(
            identity_providers=choices,
            email=email,
            email_searched="email" in self.request.GET,
        )
        return context

    def render_to_response(self, context, **kwargs):
        # The form's POST goes on to the authorization endpoint and the client (csp.py).
        response = super().render_to_response(context, **kwargs)
        redirect_uri = csp.authorization_redirect_uri(self.get_redirect_url())
        return csp.allow_form_redirect_to(response, redirect_uri) if redirect_uri else response
