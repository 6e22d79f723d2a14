"""The OpenAPI description of the REST APIs (drf-spectacular), served at
`/identity_/api/schema` with Swagger UI at `/identity_/api/schema/docs`.

Every operation's security requirement is read from its view's `required_scopes`
(identity_server.permissions), so the schema cannot disagree with what the server checks:
an operation that needs `X.Read` lists `X.Read` or `X`, either of which suffices.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from identity_server.scopes import CATALOGUE

SECURITY_SCHEME = "clientCredentials"
_ACCESS_SUFFIXES = (".Read", ".Write")


class ScopedAutoSchema(AutoSchema):
    def get_auth(self):
        default = super().get_auth()  # also registers the security scheme's component
        if not hasattr(self.view, "required_scopes"):
            return default
        action = getattr(self.view, "action", None) or self.method.lower()
        required = self.view.required_scopes.get("get" if action == "head" else action)
        if required is None:
            return default
        alternatives = [required]
        if required.endswith(_ACCESS_SUFFIXES):
            alternatives.append(required.rsplit(".", 1)[0])
        return [{SECURITY_SCHEME: [scope]} for scope in alternatives]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Our access tokens come from the client credentials grant (SPEC §3)."""

    target_class = "identity_server.authentication.BearerTokenAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/identity_/connect/token",
                    "scopes": {name: scope.description for name, scope in CATALOGUE.items()},
                }
            },
        }
