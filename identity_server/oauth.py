"""How Django requests reach oauthlib (settings.OAUTH2_PROVIDER's backend and server
classes)."""

from oauth2_provider import oauth2_backends
from oauthlib.oauth2 import BackendApplicationServer
from oauthlib.oauth2.rfc6749.endpoints import RevocationEndpoint, TokenEndpoint
from oauthlib.oauth2.rfc6749.grant_types import AuthorizationCodeGrant, RefreshTokenGrant

from identity_server.validators import DJANGO_REQUEST, DjangoRequest

# The headers oauthlib, DOT's validator and ours read, by their name there and in META.
# DOT would copy all of META (oauthlib then converts and copies it twice more); the rest of
# the request stays reachable through DJANGO_REQUEST.
_HEADERS = (
    ("Authorization", "HTTP_AUTHORIZATION"),
    ("HTTP_AUTHORIZATION", "HTTP_AUTHORIZATION"),
    ("Content-Type", "CONTENT_TYPE"),
    ("Origin", "HTTP_ORIGIN"),
)


class OAuthLibCore(oauth2_backends.OAuthLibCore):
    def _extract_params(self, request):
        # The form as Django parsed it, as (name, value) pairs, which oauthlib takes as they
        # are (oauthlib.common.extract_params); DOT would encode it into a string for
        # oauthlib to parse again. No name is repeated: validators.form_refusal has seen to it.
        uri = self._get_escaped_full_path(request)
        return uri, request.method, self.extract_body(request), self.extract_headers(request)

    def extract_body(self, request):
        # SPEC §3: some clients send every field, empty; an empty field is an absent one.
        return [(key, value) for key, value in super().extract_body(request) if value != ""]

    def extract_headers(self, request):
        meta = request.META
        headers = {name: meta[key] for name, key in _HEADERS if key in meta}
        if request.is_secure():
            headers["X_DJANGO_OAUTH_TOOLKIT_SECURE"] = "1"
        # The validator needs the route (token paths under /{org}/) and the caller's
        # address for the audit log.
        headers[DJANGO_REQUEST] = DjangoRequest(request)
        return headers

    def create_introspect_response(self, request):
        """RFC 7662 through oauthlib's introspection endpoint (DOT has no wrapper for it)."""
        uri, http_method, body, headers = self._extract_params(request)
        return self.server.create_introspect_response(uri, http_method, body, headers)


class Server(BackendApplicationServer):
    """oauthlib's client-credentials server (introspection, revocation) whose token endpoint
    also takes a signed-in user's grants (SPEC §8): the authorization code and the refresh
    token, rotated on every use. The authorization endpoint is ours
    (identity_server.authorize): SPEC §8's error handling, organization choice and loopback
    redirects go beyond what oauthlib's would do."""

    def __init__(self, request_validator, **kwargs):
        super().__init__(request_validator, **kwargs)
        grant_types = {
            "client_credentials": self.credentials_grant,
            "authorization_code": AuthorizationCodeGrant(request_validator),
            "refresh_token": RefreshTokenGrant(request_validator, issue_new_refresh_tokens=True),
        }
        TokenEndpoint.__init__(
            self,
            default_grant_type="client_credentials",
            grant_types=grant_types,
            default_token_type=self.bearer,
        )
        # RFC 7009 §2: refresh tokens can be revoked too (introspection stays for access
        # tokens: a refresh token is only ever the client's business).
        RevocationEndpoint.__init__(
            self, request_validator, supported_token_types=["access_token", "refresh_token"]
        )
