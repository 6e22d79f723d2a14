"""Azure Key Vault's secrets REST API and an Entra ID token endpoint, on one HTTPS port.

Key Vault (learn.microsoft.com/rest/api/keyvault/secrets), on the host `kv.localhost` (and
under /secrets/ on any host name, to test a vault whose name does not match the resource):
    GET    /secrets/{name}[/{version}]?api-version=…   → SecretBundle {"value", "id", "attributes"}
    PUT    /secrets/{name}?api-version=…  {"value"}    → SecretBundle
    DELETE /secrets/{name}?api-version=…               → DeletedSecretBundle
A request without a bearer token, or with one this fake did not issue, gets 401 and the
challenge the SDK reads: `WWW-Authenticate: Bearer authorization="{authority}/{tenant}",
resource="https://localhost:{port}"` (the SDK checks that the vault's host ends with the
resource's). A token issued to an application without access gets 403; a missing secret 404
`SecretNotFound`; a name outside [0-9a-zA-Z-]{1,127} or no api-version 400.

Entra ID (the authority, on `localhost`), what azure-identity's ClientSecretCredential asks
for with instance discovery off:
    GET  /{tenant}/v2.0/.well-known/openid-configuration   → the tenant's OpenID configuration
    POST /{tenant}/oauth2/v2.0/token   grant_type=client_credentials, client_id, client_secret,
         scope={resource}/.default     → {"token_type": "Bearer", "access_token", "expires_in"}
A wrong client secret answers 401 `invalid_client` (AADSTS7000215), an unknown tenant 400.
Anything else is refused with 404.
"""

import re
import secrets
import time
from urllib.parse import parse_qs

from tests.fakes.base import FakeServer, Reply, Request

TENANT = "5b0c7a3e-8f41-4d2a-9c6e-1a2b3c4d5e6f"
CLIENT_ID = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
CLIENT_SECRET = "entra-client-secret-8c1d"
NO_ACCESS_CLIENT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"  # its tokens get 403
VAULT_HOST = "kv.localhost"
_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


class FakeKeyVault(FakeServer):
    certificate_names = ("localhost", "127.0.0.1", VAULT_HOST)

    @property
    def authority_host(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def vault_uri(self) -> str:
        return f"https://{VAULT_HOST}:{self.port}/"

    @property
    def resource(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def allowlist(self) -> list[str]:
        return [*super().allowlist, f"{VAULT_HOST}:{self.port}"]

    def reset_state(self) -> None:
        with self.lock:
            self.secrets: dict[str, dict] = {}
            self.tokens: dict[str, str] = {}  # access token → client ID

    def put(self, name: str, value: str) -> None:
        with self.lock:
            self.secrets[name] = {"value": value, "version": secrets.token_hex(16)}

    def get(self, name: str) -> str | None:
        with self.lock:
            entry = self.secrets.get(name)
            return entry["value"] if entry else None

    # --- the protocol ----------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        host = request.headers.get("host", "").rsplit(":", 1)[0]
        if host == VAULT_HOST or request.path.startswith("/secrets/"):
            return self._vault(request)
        return self._entra(request)

    def _entra(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != TENANT:
            return Reply.json(
                400,
                {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."},
            )
        base = f"{self.authority_host}/{TENANT}"
        if request.method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return Reply.json(
                200,
                {
                    "issuer": f"{self.authority_host}/{TENANT}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{self.authority_host}/{TENANT}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "id_token", "code id_token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                        "client_secret_basic",
                    ],
                    "tenant_region_scope": "EU",
                },
            )
        if request.method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(request)
        return Reply.json(404, {"error": "not_found"})

    def _token(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply.json(400, {"error": "unsupported_grant_type"})
        known = form.get("client_id") in (CLIENT_ID, NO_ACCESS_CLIENT_ID)
        if not known or form.get("client_secret") != CLIENT_SECRET:
            return Reply.json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
        if form.get("scope") != f"{self.resource}/.default":
            return Reply.json(
                400,
                {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope."},
            )
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = form["client_id"]
        return Reply.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            },
        )

    def _challenge(self) -> Reply:
        header = (
            f'Bearer authorization="{self.authority_host}/{TENANT}", resource="{self.resource}"'
        )
        return Reply.json(
            401,
            {
                "error": {
                    "code": "Unauthorized",
                    "message": "AKV10000: Request is missing a Bearer.",
                }
            },
            {"WWW-Authenticate": header},
        )

    def _vault(self, request: Request) -> Reply:
        authorization = request.headers.get("authorization", "")
        with self.lock:
            client = self.tokens.get(authorization.removeprefix("Bearer "))
        if not authorization.startswith("Bearer ") or client is None:
            return self._challenge()
        if not request.query.get("api-version"):
            return _error(400, "BadParameter", "The api-version query parameter is required.")
        parts = request.path.strip("/").split("/")
        if parts[0] != "secrets" or len(parts) not in (2, 3):
            return _error(404, "NotFound", "Unsupported path.")
        name = parts[1]
        if not _NAME.fullmatch(name):
            return _error(400, "BadParameter", "The secret name is invalid.")
        if client == NO_ACCESS_CLIENT_ID:
            return _error(403, "Forbidden", "The user, group or application does not have access.")
        if request.method == "GET":
            with self.lock:
                entry = self.secrets.get(name)
            if entry is None or (len(parts) == 3 and parts[2] not in ("", entry["version"])):
                return _error(404, "SecretNotFound", "A secret with this name was not found.")
            return Reply.json(200, self._bundle(name, entry))
        if request.method == "PUT" and len(parts) == 2:
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("value"), str):
                return _error(400, "BadParameter", "The value is required.")
            with self.lock:
                self.secrets[name] = {"value": body["value"], "version": secrets.token_hex(16)}
                entry = self.secrets[name]
            return Reply.json(200, self._bundle(name, entry))
        if request.method == "DELETE" and len(parts) == 2:
            with self.lock:
                entry = self.secrets.pop(name, None)
            if entry is None:
                return _error(404, "SecretNotFound", "A secret with this name was not found.")
            bundle = self._bundle(name, entry)
            del bundle["value"]
            # No recoveryId: a vault without soft delete, so the deletion is complete.
            bundle["deletedDate"] = int(time.time())
            return Reply.json(200, bundle)
        return _error(405, "MethodNotAllowed", "Method not allowed.")

    def _bundle(self, name: str, entry: dict) -> dict:
        now = int(time.time())
        return {
            "value": entry["value"],
            "id": f"{self.vault_uri}secrets/{name}/{entry['version']}",
            "attributes": {
                "enabled": True,
                "created": now,
                "updated": now,
                "recoveryLevel": "Purgeable",
            },
            "tags": {},
        }


def _error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}})
