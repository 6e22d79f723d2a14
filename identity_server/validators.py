"""The OAuth2Validator subclass (settings.OAUTH2_PROVIDER): client credentials, and the
authorization code and refresh token grants of user sign-in (SPEC §8).

RFC 6749 §2.3 (client authentication), §3.3 (scope), §4.4 (client credentials), §4.1.3
(authorization code, with RFC 7636 PKCE), §6 (refresh, rotated as RFC 9700 §4.14), RFC 7009
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

User sign-in keeps its codes and refresh tokens in our own tables (identity_server.models
says why not DOT's); identity_server.signin decides which clients and scopes, for the
authorization endpoint and these grants alike. A public client (PKCE, no secret) is
authenticated by its client_id alone for these two grants and for revoking its refresh
token, nowhere else.
"""

import base64
import binascii
import dataclasses
import hmac
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.module_loading import import_string
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from identity_server import denylist, ratelimit, services, signin
from identity_server.clients import (
    ClientSnapshot,
    client_authenticate_secret,
    client_snapshot,
    secret_digest,
)
from identity_server.models import CLI_CLIENT_ID, AuthorizationCode, OAuthClient, RefreshToken
from identity_server.requestlog import request_token_issued
from identity_server.scopes import INTROSPECTION_SCOPE, OFFLINE_ACCESS
from identity_server.tokens import (
    REFRESH_TOKEN_PREFIX,
    InvalidAccessToken,
    SignIn,
    access_token_decode,
    id_token_encode,
)

# Where identity_server.oauth.OAuthLibCore leaves the Django request among the headers
# (not an HTTP_* key, so no client can send it).
DJANGO_REQUEST = "identity_server.django_request"
# The grants of a signed-in user (SPEC §8), beside client credentials.
USER_GRANTS = ("authorization_code", "refresh_token")
ASSERTION_PARAMETERS = ("client_assertion", "client_assertion_type")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


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
CODE_INVALID = "The authorization code is not valid."
NOT_A_MEMBER = "The user can no longer sign in to this organization."
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
class SimpleCheck:
    """A public client's "authentication": it named itself (RFC 6749 §3.2.1)."""

    client: ClientSnapshot
    authenticated_by: dict = dataclasses.field(default_factory=dict)


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
        # Client credentials, introspection and revocation: every client authenticates.
        # A user's grant from a public client (RFC 6749 §4.1.3, §6) sends no credentials,
        # nor does its revocation of a refresh token (RFC 7009 §2.1).
        if request.grant_type == "client_credentials":
            return True  # the hot path: nothing more to look at
        params = _params(request)
        if request.grant_type not in USER_GRANTS and not self._is_refresh_revocation(
            request, params
        ):
            return True
        if params.get("client_secret") or any(params.get(n) for n in ASSERTION_PARAMETERS):
            return True
        if request.headers.get("Authorization", "").strip().lower().startswith("basic"):
            return True
        return self._public_client(params.get("client_id", "")) is None

    @staticmethod
    def _is_refresh_revocation(request, params) -> bool:
        """RFC 7009 §2.1: a public client revokes its refresh token with its client_id."""
        if not params.get("token", "").startswith(REFRESH_TOKEN_PREFIX):
            return False
        match = getattr(_http_request(request), "resolver_match", None)
        return match is not None and match.url_name == "revocation"

    def _public_client(self, client_id: str) -> ClientSnapshot | None:
        if client_id == CLI_CLIENT_ID:
            return signin.cli_snapshot() if signin.cli_enabled() else None
        client = client_snapshot(client_id)
        return client if client is not None and not client.confidential else None

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        """RFC 6749 §3.2.1: a public client names itself; PKCE binds its code (§4.1.3)."""
        client = self._public_client(client_id)
        if client is None or client.kind != OAuthClient.Kind.EXTERNAL_APP:
            return self._fail(request, "unknown_public_client", description=NOT_AUTHENTICATED)
        return self._authenticated(request, SimpleCheck(client))

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
        clients (and that tenant's machines) only; the platform-wide CLI, any."""
        if client.client_id == CLI_CLIENT_ID:
            return True
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
        if grant_type in USER_GRANTS:
            # SPEC §8: external applications (and the CLI) sign users in; machines do not.
            if client.kind != OAuthClient.Kind.EXTERNAL_APP:
                return self._fail(
                    request,
                    "grant_not_allowed",
                    client,
                    f"This client cannot use the {grant_type} grant: it signs no users in.",
                )
            return True
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

    # --- authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6) ----------------------------

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """The code is ours, this client's, unexpired and unused, and the request's
        redirect_uri and code_verifier match what it is bound to; then it is used up.
        A used code presented again revokes what its first use issued (§4.1.2)."""
        row = (
            AuthorizationCode.objects.select_related("user", "organization", "issued_grant")
            .filter(digest=secret_digest(code or "").hex())
            .first()
        )
        if row is None or row.client_id != client.client_id:
            reason = "code_invalid" if row is None else "code_client_mismatch"
            return self._grant_refused(
                request, reason, client, "The authorization code is not valid."
            )
        if row.used_at is not None:
            return self._code_reused(request, client, row)
        if row.expires_at <= timezone.now():
            return self._grant_refused(
                request, "code_expired", client, "The authorization code has expired."
            )
        if request.redirect_uri != row.redirect_uri:
            # §4.1.3: identical to the authorization request's (always sent there).
            return self._grant_refused(
                request,
                "redirect_mismatch",
                client,
                "redirect_uri is not the one of the authorization request.",
            )
        verifier = request.code_verifier or ""
        if row.code_challenge and not signin.CODE_VERIFIER.fullmatch(verifier):
            return self._grant_refused(
                request,
                "pkce_missing",
                client,
                "code_verifier is missing or malformed (RFC 7636 §4.1).",
            )
        if row.code_challenge and not hmac.compare_digest(
            signin.pkce_s256(verifier), row.code_challenge
        ):
            return self._grant_refused(
                request, "pkce_mismatch", client, "code_verifier does not match the code_challenge."
            )
        if signin.membership_role(user=row.user, organization_id=row.organization_id) is None:
            return self._grant_refused(
                request,
                "not_a_member",
                client,
                NOT_A_MEMBER,
            )
        if not services.authorization_code_claim(code=row):
            row.refresh_from_db()
            return self._code_reused(request, client, row)
        request.user = row.user
        request.scopes = list(row.scopes)
        request.sign_in_code = row
        request.sign_in = SignIn(
            user=row.user,
            organization_global_id=str(row.organization.global_id),
            grant_global_id=services.code_grant_id(row),
            sid=row.sid,
            auth_time=int(row.auth_time.timestamp()),
            amr=tuple(row.amr),
            nonce=row.nonce,
        )
        return True

    def _grant_refused(self, request, reason, client, description) -> bool:
        self._fail(request, reason, client, description)
        raise errors.InvalidGrantError(description=description, request=request)

    @staticmethod
    def _actor(request, client):
        return services.client_actor(
            client_id=client.client_id, kind=client.kind, http_request=_http_request(request)
        )

    def _code_reused(self, request, client, row) -> bool:
        services.code_reuse_revoke(code=row, actor=self._actor(request, client))
        return self._grant_refused(
            request, "code_reused", client, "The authorization code has already been used."
        )

    def get_code_challenge(self, code, request):
        row = getattr(request, "sign_in_code", None)
        return (row.code_challenge or None) if row is not None else None

    def get_code_challenge_method(self, code, request):
        return "S256"

    def is_pkce_required(self, client_id, request):
        client = getattr(request, "client", None)
        return client is not None and not client.confidential

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        row = getattr(request, "sign_in_code", None)
        return row is not None and redirect_uri == row.redirect_uri

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        return None

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """Already used up by validate_code, atomically, before anything was issued."""

    # --- refresh tokens (RFC 6749 §6, RFC 9700 §4.14) -----------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """Ours, this client's, unexpired, its grant active and its user still a member;
        then exchanged, once. A rotated token presented again revokes its grant."""
        row = (
            RefreshToken.objects.select_related("grant__user", "grant__organization")
            .filter(digest=secret_digest(refresh_token or "").hex())
            .first()
        )
        if row is None or row.grant.client_id != client.client_id:
            reason = "refresh_invalid" if row is None else "refresh_client_mismatch"
            return self._grant_refused(request, reason, client, "The refresh token is not valid.")
        grant = row.grant
        actor = self._actor(request, client)
        if grant.revoked_at is not None:
            return self._grant_refused(
                request, "refresh_revoked", client, "The refresh token has been revoked."
            )
        if row.rotated_at is not None or not services.refresh_token_claim(token=row):
            services.sign_in_grant_revoke(grant=grant, actor=actor, reason="refresh_reused")
            return self._grant_refused(
                request,
                "refresh_reused",
                client,
                "The refresh token has already been used; the sign-in is revoked.",
            )
        now = timezone.now()
        if row.expires_at <= now or grant.expires_at <= now:
            return self._grant_refused(
                request, "refresh_expired", client, "The refresh token has expired."
            )
        role = signin.membership_role(user=grant.user, organization_id=grant.organization_id)
        if role is None:
            services.sign_in_grant_revoke(grant=grant, actor=actor, reason="not_a_member")
            return self._grant_refused(
                request,
                "not_a_member",
                client,
                NOT_A_MEMBER,
            )
        sign_in_client = signin.sign_in_client(grant.client_id)
        if sign_in_client is None:
            # The application lost its user scopes, or the CLI was disabled.
            services.sign_in_grant_revoke(grant=grant, actor=actor, reason="client_cannot_sign_in")
            return self._grant_refused(
                request,
                "client_cannot_sign_in",
                client,
                "This client can no longer sign users in.",
            )
        request.user = grant.user
        request.sign_in_grant = grant
        request.sign_in_role = role
        request.sign_in_client = sign_in_client
        request.sign_in = SignIn(
            user=grant.user,
            organization_global_id=str(grant.organization.global_id),
            grant_global_id=str(grant.global_id),
            sid=grant.sid,
            auth_time=int(grant.auth_time.timestamp()),
            amr=tuple(grant.amr),
        )
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        # The role or the client's user scopes may have changed since the sign-in: a
        # demoted admin refreshes to read scopes.
        return signin.scopes_granted(
            client=request.sign_in_client,
            requested=request.sign_in_grant.scopes,
            role=request.sign_in_role,
        )

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        # SPEC §8: a user's sign-in drops the names it cannot grant rather than refusing
        # (the CLI asks again for everything it asked at first); §6: never more than before.
        original = self.get_original_scopes(refresh_token, request)
        kept = [scope for scope in request_scopes if scope in original]
        if not kept:
            return self._fail(
                request,
                "scope_not_granted",
                request.client,
                "None of the requested scopes was granted to this sign-in.",
            )
        request.scopes = kept
        return True

    def rotate_refresh_token(self, request):
        return request.grant_type == "refresh_token"

    # --- issuance: self-contained tokens; a user's grant and refresh token stored hashed --

    def save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type in USER_GRANTS:
            self._save_user_token(token, request)
        http_request = _http_request(request)
        if http_request is not None:
            # In the request's one log line (identity_server.requestlog), never the token.
            claims = request.access_token_claims
            request_token_issued(
                http_request,
                {
                    "jti": claims["jti"],
                    "exp": claims["exp"],
                    "scope": claims["scope"],
                    "prt_id": claims["prt_id"],
                    **request.authenticated_by,
                },
            )

    def _save_user_token(self, token, request) -> None:
        """Stores what the response carries: the grant (on a code exchange) and the refresh
        token's hash, only with offline_access; and adds the id_token when openid."""
        refresh_token = token.pop("refresh_token", None)
        offline = OFFLINE_ACCESS in request.scopes
        sign_in = request.sign_in
        if request.grant_type == "authorization_code":
            code = request.sign_in_code
            services.sign_in_grant_create(
                global_id=sign_in.grant_global_id,
                client_id=code.client_id,
                application=code.application,
                user=code.user,
                organization=code.organization,
                sid=code.sid,
                scopes=request.scopes,
                auth_time=code.auth_time,
                amr=code.amr,
                refresh_token=refresh_token if offline else None,
                code=code,
            )
        elif offline:
            services.refresh_token_store(grant=request.sign_in_grant, refresh_token=refresh_token)
        if offline and refresh_token:
            token["refresh_token"] = refresh_token
        if signin.OPENID in request.scopes:
            token["id_token"] = id_token_encode(
                client_id=request.client.client_id,
                sign_in=sign_in,
                access_token=token["access_token"],
            )

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
        if token.startswith(REFRESH_TOKEN_PREFIX):
            # §2.1: revoking a refresh token ends its grant, access tokens included.
            row = (
                RefreshToken.objects.select_related("grant__user", "grant__organization")
                .filter(digest=secret_digest(token).hex())
                .first()
            )
            if row is not None and row.grant.client_id == request.client.client_id:
                services.sign_in_grant_revoke(
                    grant=row.grant,
                    actor=self._actor(request, request.client),
                    reason="revoked_by_client",
                )
            return
        claims = self._token_claims_for_caller(token, request)
        # §2.2: an invalid or foreign token gets the same 200 as a revoked one.
        if claims is not None and claims["client_id"] == request.client.client_id:
            services.token_revoke(claims=claims, http_request=_http_request(request))
