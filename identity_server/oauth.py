"""How Django requests reach oauthlib (settings.OAUTH2_PROVIDER's backend class)."""

from oauth2_provider import oauth2_backends

from identity_server.validators import DJANGO_REQUEST, DjangoRequest


class OAuthLibCore(oauth2_backends.OAuthLibCore):
    def extract_body(self, request):
        # SPEC §3: some clients send every field, empty; an empty field is an absent one.
        return [(key, value) for key, value in super().extract_body(request) if value != ""]

    def extract_headers(self, request):
        headers = super().extract_headers(request)
        # The validator needs the route (token paths under /{org}/) and the caller's
        # address for the audit log.
        headers[DJANGO_REQUEST] = DjangoRequest(request)
        return headers

    def create_introspect_response(self, request):
        """RFC 7662 through oauthlib's introspection endpoint (DOT has no wrapper for it)."""
        uri, http_method, body, headers = self._extract_params(request)
        return self.server.create_introspect_response(uri, http_method, body, headers)
