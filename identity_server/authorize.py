"""The authorization endpoint and userinfo (SPEC §8): OpenID Connect's authorization code
flow with PKCE, for external applications with user scopes and the official CLI.

RFC 6749 §4.1.1-§4.1.2.1, RFC 7636 §4.3-§4.4, RFC 9207 (`iss` in every response),
RFC 9700 §2.1.1 (PKCE S256 only), OpenID Connect Core §3.1.2 (`nonce`, `prompt`,
`login_hint`, `acr_values`) and §5.3 (userinfo).

Order of checks: the client and its redirect URI first; while either is wrong the user sees
an error page and nothing is redirected (§4.1.2.1), since the redirect would go to an
address nobody registered. Every other refusal is redirected to the client with `error`,
`error_description`, `state` and `iss`. Then the site session (the sign-in page when there
is none, `login_required` with prompt=none), the organization (the client's; for the
platform-wide CLI the path, `acr_values` or the user's choice on a page), the scopes
(identity_server.signin.scopes_granted), and a code.

Every refusal is audited (`sign_in.authorize`, outcome failure, with a reason code).
"""

import secrets
import uuid
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render, resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from identity_server import services, signin
from identity_server.authentication import BearerTokenAuthentication
from identity_server.permissions import InsufficientScope
from tenants.models import AuditEvent, Membership, Organization
from tenants.services import Actor, AuditTarget, audit_record

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SINGLE_VALUED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "acr_values",
)
PROMPTS = {"none", "login"}
MAX_STATE_LENGTH = 2048
MAX_NONCE_LENGTH = 512


class PageRefusal(Exception):
    """Client or redirect URI wrong: an error page, never a redirect (§4.1.2.1)."""

    def __init__(self, reason: str, description: str, client=None):
        self.reason, self.description, self.client = reason, description, client


class RedirectRefusal(Exception):
    """§4.1.2.1: an error the client receives at its redirect URI."""

    def __init__(self, reason: str, error: str, description: str):
        self.reason, self.error, self.description = reason, error, description


@method_decorator(csrf_exempt, name="dispatch")
class AuthorizeView(View):
    """GET|POST /identity_/connect/authorize, also under /{org}/ and /{org}/{tenant}/. A POST
    comes from the client's page (OpenID Connect Core §3.1.2.1), hence no CSRF token."""

    http_method_names = ["get", "post"]

    def get(self, request, *args, **kwargs):
        return self.authorize(request, request.GET, kwargs.get("org"))

    def post(self, request, *args, **kwargs):
        return self.authorize(request, request.POST, kwargs.get("org"))

    def authorize(self, request, params: QueryDict, org_slug: str | None) -> HttpResponse:
        try:
            client, redirect_uri = self._client_and_redirect(params)
        except PageRefusal as refusal:
            # A known client's refusals reach its organization's audit log.
            self._audit_failure(request, refusal.client, params, refusal.reason)
            response = render(
                request,
                "identity/authorize_error.html",
                {"description": refusal.description},
                status=400,
            )
            return self._no_store(response)
        state = params.get("state", "")
        try:
            return self._no_store(self._authorize(request, params, client, redirect_uri, org_slug))
        except RedirectRefusal as refusal:
            self._audit_failure(request, client, params, refusal.reason)
            answer = {"error": refusal.error, "error_description": refusal.description}
            return self._no_store(self._redirect(redirect_uri, answer, state))

    # --- the steps ------------------------------------------------------------------------

    def _client_and_redirect(self, params: QueryDict):
        for name in ("client_id", "redirect_uri"):
            if len(params.getlist(name)) > 1:
                raise PageRefusal("duplicate_parameter", f"{name} is given more than once.")
        client = signin.sign_in_client(params.get("client_id", ""))
        if client is None:
            raise PageRefusal(
                "unknown_client",
                "The application is not registered here, or it cannot sign users in.",
            )
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            raise PageRefusal("redirect_missing", "The request has no redirect_uri.", client)
        if not signin.redirect_uri_allowed(client, redirect_uri):
            raise PageRefusal(
                "redirect_mismatch",
                "The redirect_uri is not one registered for this application.",
                client,
            )
        return client, redirect_uri

    def _authorize(self, request, params, client, redirect_uri, org_slug) -> HttpResponse:
        self._check_request(params, client)
        prompt = params.get("prompt", "")
        user = request.user
        if prompt == "login" and user.is_authenticated:
            # OpenID Connect Core §3.1.2.1: sign in again, then come back without the prompt.
            logout(request)
            return self._to_sign_in(request, params, client, org_slug, without_prompt=True)
        if not user.is_authenticated:
            if prompt == "none":
                raise RedirectRefusal("login_required", "login_required", "No user is signed in.")
            return self._to_sign_in(
                request, params, client, org_slug, without_prompt=prompt == "login"
            )
        membership = self._membership(request, params, client, org_slug)
        if isinstance(membership, HttpResponse):
            return membership
        requested = params.get("scope", "").split()
        scopes = signin.scopes_granted(client=client, requested=requested, role=membership.role)
        if not scopes:
            raise RedirectRefusal(
                "no_scope_granted",
                "invalid_scope",
                "None of the requested scopes is available to this user with this application.",
            )
        session = request.session
        sid = session.setdefault(signin.SESSION_SID_KEY, secrets.token_urlsafe(24))
        amr = session.get(signin.SESSION_AMR_KEY) or ["pwd"]
        code = services.authorization_code_create(
            client_id=client.client_id,
            application=client.application,
            user=user,
            organization=membership.organization,
            redirect_uri=redirect_uri,
            scopes=scopes,
            code_challenge=params.get("code_challenge", ""),
            nonce=params.get("nonce", ""),
            sid=sid,
            auth_time=user.last_login or timezone.now(),
            amr=amr,
        )
        audit_record(
            action="sign_in.authorize",
            actor=Actor.from_request(request),
            organization=membership.organization,
            target=AuditTarget("oauth_client", client.client_id, client.name),
            details={"scopes": scopes, "requested": [name[:64] for name in requested[:40]]},
        )
        return self._redirect(redirect_uri, {"code": code}, params.get("state", ""))

    def _check_request(self, params: QueryDict, client) -> None:
        """§4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.2; redirected refusals."""
        repeated = [name for name in SINGLE_VALUED if len(params.getlist(name)) > 1]
        if repeated:
            raise RedirectRefusal(
                "duplicate_parameter",
                "invalid_request",
                f"Each parameter may be sent once: {repeated[0]} is repeated.",
            )
        if params.get("response_type") != "code":
            raise RedirectRefusal(
                "unsupported_response_type",
                "unsupported_response_type",
                "response_type must be code.",
            )
        if len(params.get("state", "")) > MAX_STATE_LENGTH:
            raise RedirectRefusal("state_too_long", "invalid_request", "state is too long.")
        if len(params.get("nonce", "")) > MAX_NONCE_LENGTH:
            raise RedirectRefusal("nonce_too_long", "invalid_request", "nonce is too long.")
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method", "")
        if challenge or method:
            # RFC 7636 §4.3: no method means plain, which RFC 9700 §2.1.1 rules out.
            if method != "S256":
                raise RedirectRefusal(
                    "pkce_plain" if method in ("", "plain") else "pkce_method_unsupported",
                    "invalid_request",
                    "code_challenge_method must be S256.",
                )
            if not signin.S256_CHALLENGE.fullmatch(challenge):
                raise RedirectRefusal(
                    "pkce_malformed",
                    "invalid_request",
                    "code_challenge must be the 43-character base64url SHA-256 of the verifier.",
                )
        elif not client.confidential:
            raise RedirectRefusal(
                "pkce_missing",
                "invalid_request",
                "This application is public: send a code_challenge with S256 (PKCE).",
            )
        prompts = set(params.get("prompt", "").split())
        if prompts - PROMPTS or len(prompts) > 1:
            raise RedirectRefusal(
                "prompt_unsupported", "invalid_request", "prompt must be none or login."
            )

    def _membership(self, request, params, client, org_slug) -> Membership | HttpResponse:
        """The user's membership in the organization the sign-in is for: the client's own,
        else the one named by the path or `acr_values`, else the only one, else chosen."""
        memberships = Membership.objects.filter(user=request.user).select_related("organization")
        if client.organization_id is not None:
            memberships = memberships.filter(organization_id=client.organization_id)
        named = False
        if org_slug:
            memberships = memberships.filter(organization__slug=org_slug.lower())
            named = True
        for value in params.get("acr_values", "").split():
            kind, _, wanted = value.partition(":")
            if kind == "tenantName" and wanted:
                memberships = memberships.filter(organization__slug=wanted.lower())
                named = True
            elif kind == "tenant" and wanted:
                try:
                    global_id = uuid.UUID(wanted)
                except ValueError:  # names no organization
                    memberships = memberships.none()
                else:
                    memberships = memberships.filter(organization__global_id=global_id)
                named = True
        found = list(memberships.order_by("organization__name")[:50])
        if not request.user.is_active or not found:
            raise RedirectRefusal(
                "not_a_member",
                "access_denied",
                "The user is not a member of "
                + ("that organization." if named else "an organization this application serves."),
            )
        if len(found) == 1:
            return found[0]
        if params.get("prompt") == "none":
            raise RedirectRefusal(
                "organization_choice_required",
                "account_selection_required",
                "The user belongs to several organizations: name one in acr_values.",
            )
        choices = [
            (m.organization, self._with(request, params, acr_values=f"tenantName:{slug}"))
            for m in found
            for slug in [m.organization.slug]
        ]
        return render(
            request,
            "identity/choose_organization.html",
            {"choices": choices, "client_name": client.name},
        )

    # --- responses ------------------------------------------------------------------------

    @staticmethod
    def _with(request, params: QueryDict, **changes) -> str:
        """This authorization request as a GET URL, with `changes` (None drops one)."""
        query = params.copy()
        for name, value in changes.items():
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        return f"{request.path}?{query.urlencode()}"

    def _to_sign_in(
        self, request, params, client, org_slug, *, without_prompt: bool
    ) -> HttpResponse:
        changes = {"prompt": None} if without_prompt else {}
        query = {"next": self._with(request, params, **changes)}
        if params.get("login_hint"):
            query["login_hint"] = params["login_hint"][:150]
        # SPEC §9: the page offers the organization's identity providers when it is known:
        # the application's own, the path's, or acr_values' `tenantName:{org}`.
        organization = self._organization_slug(params, client, org_slug)
        if organization:
            query["org"] = organization
        return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode(query)}")

    @staticmethod
    def _organization_slug(params, client, org_slug) -> str:
        if client.organization_id is not None:
            return (
                Organization.objects.filter(pk=client.organization_id)
                .values_list("slug", flat=True)
                .first()
                or ""
            )
        if org_slug:
            return org_slug.lower()
        for value in params.get("acr_values", "").split():
            kind, _, wanted = value.partition(":")
            if kind == "tenantName" and wanted:
                return wanted.lower()[:64]
        return ""

    @staticmethod
    def _redirect(redirect_uri: str, answer: dict, state: str) -> HttpResponse:
        """§4.1.2 / §4.1.2.1 in the query, with `state` and RFC 9207's `iss`."""
        answer = dict(answer)
        if state:
            answer["state"] = state
        answer["iss"] = settings.IDENTITY_ISSUER
        separator = "&" if urlsplit(redirect_uri).query else "?"
        response = HttpResponse(status=302)
        response["Location"] = f"{redirect_uri}{separator}{urlencode(answer)}"
        return response

    @staticmethod
    def _no_store(response: HttpResponse) -> HttpResponse:
        for name, value in NO_STORE.items():
            response[name] = value
        return response

    @staticmethod
    def _audit_failure(request, client, params, reason: str) -> None:
        organization = None
        if client is not None and client.organization_id is not None:
            organization = Organization.objects.filter(pk=client.organization_id).first()
        client_id = params.get("client_id", "")[:100]
        audit_record(
            action="sign_in.authorize",
            actor=Actor.from_request(request),
            organization=organization,
            target=AuditTarget("oauth_client", client_id, client.name if client else client_id),
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=reason,
        )


class UserInfoView(APIView):
    """OpenID Connect Core §5.3: the signed-in user behind a user token with `openid`."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request, *args, **kwargs):
        claims = request.auth
        if claims.get("sub_type") != "user":
            raise exceptions.AuthenticationFailed("userinfo answers for a user's token only.")
        if signin.OPENID not in claims["scope"]:
            raise InsufficientScope(signin.OPENID)
        user = request.user.account
        return Response(
            {
                "sub": str(user.pk),
                "name": user.get_full_name() or user.get_username(),
                "preferred_username": user.get_username(),
                "email": user.email,
                # Local accounts' addresses are typed in by an administrator, not proven;
                # an identity provider's verified address is (SPEC §9).
                "email_verified": signin.email_verified(user),
                "prt_id": claims["prt_id"],
            },
            headers=NO_STORE,
        )

    post = get
