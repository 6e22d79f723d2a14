"""The OAuth2Validator subclass (settings.OAUTH2_PROVIDER) for the client credentials grant.

RFC 6749 §2.3 (client authentication), §3.3 (scope), §4.4 (client credentials), RFC 7009
(revocation), RFC 7662 (introspection), RFC 7521 §4.2 and RFC 7523 §2.2 (JWT client
assertions, checked by settings.CLIENT_ASSERTION_AUTHENTICATOR: federation.assertions,
from a federated credential's issuer or signed by the application's own key, SPEC §11).
DOT and oauthlib keep the protocol; this class decides who the client is and what it may
get.

A request's form is checked before anything else (`form_refusal`, by the endpoint views):
no parameter in the URL query and none repeated (RFC 6749 §2.3.1, §3.2). Here: one
authentication method only, and with an assertion its type, the assertion itself and the
client id (`invalid_request`); what is wrong with the assertion is `invalid_client` (RFC
7521 §4.2.1).

Every refusal records a stable reason code and an `error_description` on the Django request
(`token_failure`); the endpoint view answers with the description (RFC 6749 §5.2) and writes
the reason to the audit log (identity_server.services.token_failure_record). Before the
client has authenticated, a description says what was wrong with the request, never whether
the client or the secret exists: an unknown client and a wrong secret get the same answer.
"""

import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.utils.module_loading import import_string
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from identity_server import denylist, ratelimit, services
from identity_server.clients import ClientSnapshot, client_authenticate_secret
from identity_server.scopes import INTROSPECTION_SCOPE, OFFLINE_ACCESS
from identity_server.tokens import InvalidAccessToken, access_token_decode

# Where identity_server.oauth.OAuthLibCore leaves the Django request among the headers
# (not an HTTP_* key, so no client can send it).
DJANGO_REQUEST = "identity_server.django_request"
ASSERTION_PARAMETERS = ("client_assertion", "client_assertion_type")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

issued_log = logging.getLogger("identity_server.tokens.issued")


# The descriptions of refusals before the client is known (RFC 6749 §5.2): each covers
# every reason that must not be told apart.
NOT_AUTHENTICATED = (
    "The client did not authenticate: send its client_id with a client_secret "
    "(HTTP Basic or the form body) or with a client_assertion."
)
WRONG_CREDENTIALS = (
    "Client authentication failed: the client ID or secret is wrong, or the secret has expired."
)
ASSERTION_REFUSED = (
    "Client authentication failed: the client_assertion is not accepted for this client_id; "
    "the application's administrators can see why in its audit log."
)
# RFC 6749 §5.2: error_description is printable ASCII without the quote and the backslash.
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_NAMES_SHOWN = 5


@dataclass(frozen=True)
class TokenFailure:
    reason: str
    client: ClientSnapshot | None
    client_id: str
    description: str = ""


def _named(names) -> str:
    """Request values named in a description: a few, short, and only characters it may hold."""
    names = [_NOT_IN_DESCRIPTION.sub("?", name)[:64] for name in names]
    shown = " ".join(names[:_NAMES_SHOWN])
    return shown + (f" (and {len(names) - _NAMES_SHOWN} more)" if len(names) > _NAMES_SHOWN else "")


def form_refusal(http_request) -> TokenFailure | None:
    """The `invalid_request` refusal of a token, introspection or revocation request whose
    form is wrong before anything is read from it, or None: parameters in the URL query
    (RFC 6749 §2.3.1: credentials "MUST NOT be included in the request URI", where logs keep
    them; oauthlib refuses any query) or a parameter given more than once (§3.2: "MUST NOT
    be included more than once"), so that no two parts of the server read two different
    values. Reads only the parsed request: no database, no cache."""
    try:
        form, query = http_request.POST, http_request.GET
    except (BadRequest, SuspiciousOperation, MultiPartParserError, ValueError, LookupError):
        # Too large, too many fields, not UTF-8, a broken multipart body: Django cannot
        # parse it, and it is still our answer to give.
        return TokenFailure(
            "unreadable_form",
            None,
            "",
            "The form body could not be read: send application/x-www-form-urlencoded "
            "parameters in UTF-8.",
        )
    client_id = form.get("client_id", "")[:100]
    if query:
        names = _named(sorted(query))
        return TokenFailure(
            "query_parameters",
            None,
            client_id,
            f"Send the parameters in the form body, not in the URL query: {names}.",
        )
    repeated = [name for name, values in form.lists() if len(values) > 1]
    if repeated:
        verb = "is" if len(repeated) == 1 else "are"
        return TokenFailure(
            "duplicate_parameter",
            None,
            client_id,
            f"Each parameter may be sent once: {_named(repeated)} {verb} repeated.",
        )
    return None


class RateLimitedError(errors.OAuth2Error):
    """SPEC §10: a limit of identity_server.ratelimit reached; RFC 6585 §4's 429 with
    RFC 9110 §10.2.3's Retry-After (the seconds left in the limit's window)."""

    error = ratelimit.REASON
    status_code = 429

    def __init__(self, limited: ratelimit.Limited, request=None):
        super().__init__(description=limited.description, request=request)
        self.retry_after = limited.retry_after

    @property
    def headers(self):
        return {"Retry-After": str(self.retry_after)}


def rate_limited_answer(limited: ratelimit.Limited) -> tuple[dict, str, int]:
    """The endpoint views' (headers, body, status) of a limited request."""
    error = RateLimitedError(limited)
    return error.headers, error.json, error.status_code


@dataclass(frozen=True)
class DjangoRequest:
    """Carries the Django request through oauthlib, which would iterate a bare HttpRequest
    (reading its body) when it copies the headers."""

    request: object


def _http_request(request):
    holder = request.headers.get(DJANGO_REQUEST)
    return holder.request if isinstance(holder, DjangoRequest) else None


def _params(request) -> dict[str, str]:
    return dict(request.decoded_body or ())


@cache
def _assertion_authenticator():
    """`(client_id, assertion) -> check` with `client`, `reason` and `authenticated_by`."""
    return import_string(settings.CLIENT_ASSERTION_AUTHENTICATOR)


class IdentityValidator(OAuth2Validator):
    def _fail(
        self, request, reason: str, client: ClientSnapshot | None = None, description: str = ""
    ) -> bool:
        http_request = _http_request(request)
        if http_request is not None:
            client_id = client.client_id if client else _params(request).get("client_id", "")
            http_request.token_failure = TokenFailure(reason, client, client_id[:100], description)
        return False

    # --- client authentication (RFC 6749 §2.3) -----------------------------------------

    def client_authentication_required(self, request, *args, **kwargs):
        # Every client of ours is confidential at the token, introspection and revocation
        # endpoints: client credentials has no public variant.
        return True

    def authenticate_client(self, request, *args, **kwargs):
        params = _params(request)
        if any(params.get(name) for name in ASSERTION_PARAMETERS):
            return self.authenticate_client_assertion(request)
        client_id, secret = self._secret_credentials(request, params)
        check = client_authenticate_secret(client_id, secret)
        if check.reason:
            reason, description = check.reason, WRONG_CREDENTIALS
            if not secret:
                # Told from the request alone: the same for a client that does not exist.
                description = NOT_AUTHENTICATED
                if check.client is not None:
                    reason = "missing_secret" if check.client.confidential else "public_client"
            return self._fail(request, reason, check.client, description)
        return self._authenticated(request, check)

    def authenticate_client_assertion(self, request) -> bool:
        """RFC 7523 §2.2 client authentication with a JWT from the client's own identity
        provider, once the request's form is right."""
        params = _params(request)
        self._assertion_form_check(request, params)
        # `client_id` is optional when the assertion is the application's own (`iss` = `sub`
        # = its client ID, SPEC §11); the authenticator says `client_id_missing` otherwise.
        check = _assertion_authenticator()(params.get("client_id", ""), params["client_assertion"])
        if check.reason == "client_id_missing":
            description = "Client authentication with an assertion: client_id is missing."
            self._fail(request, check.reason, description=description)
            raise errors.InvalidRequestError(description=description, request=request)
        if check.reason:
            # One description for every reason, an unknown client's included: the precise
            # reason is in the audit log, for the application's administrators.
            return self._fail(request, check.reason, check.client, ASSERTION_REFUSED)
        return self._authenticated(request, check)

    def _authenticated(self, request, check) -> bool:
        """A secret's or an assertion's successful check: the client is this request's, if
        the endpoint's path serves it."""
        if not self._path_allows(request, check.client):
            # Said only to a client that proved who it is.
            return self._fail(
                request,
                "other_organization",
                check.client,
                "This client belongs to another organization or tenant than the one in the "
                "token endpoint's path.",
            )
        request.client = check.client
        request.client_id = check.client.client_id
        request.authenticated_by = check.authenticated_by
        http_request = _http_request(request)
        if http_request is not None:  # for the request log and metrics (the endpoint view)
            http_request.oauth_client = check.client
        return True

    def _assertion_form_check(self, request, params: dict) -> None:
        """RFC 6749 §2.3, RFC 7521 §4.2: `invalid_request` unless the assertion is the only
        authentication, of the JWT bearer type (that none is repeated, `form_refusal` has
        checked; whether a client id is needed, the authenticator says)."""
        scheme = request.headers.get("Authorization", "").strip().partition(" ")[0]
        assertion_type = params.get("client_assertion_type")
        if params.get("client_secret") or scheme.lower() == "basic":
            reason, description = "multiple_authentication_methods", "one method only"
        elif assertion_type != JWT_BEARER:
            reason = "assertion_type_unsupported" if assertion_type else "assertion_type_missing"
            description = f"client_assertion_type must be {JWT_BEARER}"
        elif not params.get("client_assertion"):
            reason, description = "assertion_missing", "client_assertion is missing"
        else:
            return
        description = f"Client authentication with an assertion: {description}."
        self._fail(request, reason, description=description)
        raise errors.InvalidRequestError(description=description, request=request)

    def _secret_credentials(self, request, params: dict) -> tuple[str, str]:
        """(client_id, secret) from HTTP Basic or the form body, never both (RFC 6749 §2.3)."""
        body_id, body_secret = params.get("client_id", ""), params.get("client_secret", "")
        # RFC 7235 §2.1: the scheme name is case-insensitive.
        scheme, _, basic = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            return body_id, body_secret
        try:
            decoded = base64.b64decode(basic.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            description = (
                "The HTTP Basic credentials are not the base64 of client_id:client_secret."
            )
            self._fail(request, "malformed_basic_credentials", description=description)
            raise errors.InvalidClientError(description=description, request=request)
        # §2.3.1: both parts are form-urlencoded before being joined.
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if body_secret or (body_id and body_id != client_id):
            description = "Authenticate the client with one method only."
            self._fail(request, "multiple_authentication_methods", description=description)
            raise errors.InvalidRequestError(description=description, request=request)
        return client_id, secret

    def _path_allows(self, request, client: ClientSnapshot) -> bool:
        """A token endpoint under /{org}/ or /{org}/{tenant}/ serves that organization's
        clients (and that tenant's machines) only."""
        match = getattr(_http_request(request), "resolver_match", None)
        kwargs = match.kwargs if match else {}
        if "org" in kwargs and kwargs["org"].lower() != client.organization_slug:
            return False
        return not (
            "tenant" in kwargs
            and client.tenant_name is not None
            and kwargs["tenant"].lower() != client.tenant_name.lower()
        )

    # --- grant and scopes (RFC 6749 §3.3, §4.4) ------------------------------------------

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        # §4.4: client credentials is for confidential clients only. A public application
        # authenticates only with an assertion of a federated credential; it is refused
        # here, after authenticating, as `unauthorized_client` (§5.2).
        if not client.confidential:
            return self._fail(
                request,
                "public_client",
                client,
                "This application is public: the client credentials grant is for "
                "confidential clients only.",
            )
        return grant_type == "client_credentials"

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        # SPEC §3: an empty or missing `scope` asks for everything the client was granted.
        return list(request.client.scopes)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        if OFFLINE_ACCESS in scopes:
            # §4.4.3: no refresh token for client credentials, so no offline access.
            return self._fail(
                request,
                "offline_access",
                client,
                "offline_access is not available with client credentials: they get no "
                "refresh token.",
            )
        missing = sorted(set(scopes) - set(client.scopes))
        if missing:
            # Named only now that the client has authenticated.
            verb = "is" if len(missing) == 1 else "are"
            return self._fail(
                request,
                "scope_not_granted",
                client,
                f"scope {_named(missing)} {verb} not granted to this client.",
            )
        return self._quota_allows(request, client)

    def _quota_allows(self, request, client: ClientSnapshot) -> bool:
        """SPEC §10: counts the token about to be issued against the client's quotas (none:
        nothing to do, no round trip); past an enforced one, a 429 (RateLimitedError).
        Here, once the client has authenticated and its scopes are granted, so that only
        tokens it would get count."""
        if client.quota is None:
            return True
        check = ratelimit.quota_check(client.client_id, client.quota)
        http_request = _http_request(request)
        for passed in check.passed:
            services.token_rate_limited_record(
                limited=passed,
                client_id=client.client_id,
                http_request=http_request,
                refused=client.quota.enforced,
            )
        if check.limited is not None:
            if http_request is not None:
                http_request.rate_limited = check.limited
            raise RateLimitedError(check.limited, request=request)
        return True

    # --- issuance: self-contained tokens, no rows ---------------------------------------

    def save_bearer_token(self, token, request, *args, **kwargs):
        claims = request.access_token_claims
        issued_log.info(
            json.dumps(
                {
                    "event": "token.issued",
                    "client_id": claims["client_id"],
                    "prt_id": claims["prt_id"],
                    **request.authenticated_by,
                    "scope": claims["scope"],
                    "jti": claims["jti"],
                    "exp": claims["exp"],
                },
                separators=(",", ":"),
            )
        )

    def rotate_refresh_token(self, request):
        return False

    # --- introspection (RFC 7662) and revocation (RFC 7009) -----------------------------

    def _token_claims_for_caller(self, token: str, request) -> dict | None:
        """The claims of an active token the authenticated caller may see: its own, or any
        of its organization's when it holds the introspection scope (RFC 7662 §4)."""
        try:
            claims = access_token_decode(token)
        except InvalidAccessToken:
            return None
        caller = request.client
        own = claims["client_id"] == caller.client_id
        allowed = INTROSPECTION_SCOPE in caller.scopes and (
            claims.get("prt_id") == caller.organization_global_id
        )
        if not (own or allowed) or denylist.is_revoked(claims):
            return None
        return claims

    def introspect_token(self, token, token_type_hint, request, *args, **kwargs):
        claims = self._token_claims_for_caller(token, request)
        if claims is None:
            return None
        return {**claims, "scope": " ".join(claims["scope"]), "token_type": "Bearer"}

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        claims = self._token_claims_for_caller(token, request)
        # §2.2: an invalid or foreign token gets the same 200 as a revoked one.
        if claims is not None and claims["client_id"] == request.client.client_id:
            services.token_revoke(claims=claims, http_request=_http_request(request))
