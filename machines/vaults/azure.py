"""Azure Key Vault's secrets, through azure-keyvault-secrets and azure-identity (SPEC §12).

A robot's secret is the Key Vault secret named `name` (Key Vault allows 1-127 of
[0-9a-zA-Z-]); its value is the password. The client authenticates as an Entra ID
application (directory ID, client ID, client secret) with the client-credentials grant at
`authority_host` (default login.microsoftonline.com; another cloud's or, in tests, a fake's),
for the resource Key Vault names in its 401 challenge; the SDK checks that resource against
the vault's host name.

The Key Vault client and the credential both send through an azure-core RequestsTransport
over the guarded session (machines.vaults.outbound); their retries are switched off, and the
credential skips MSAL's instance discovery (a call to login.microsoftonline.com whatever the
authority), so it fetches only the authority's OpenID configuration and its token endpoint.
"""

import re
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    UNAUTHORIZED,
    VAULT_UNREACHABLE,
    VaultConfig,
    VaultError,
)
from machines.vaults.outbound import (
    guarded_session,
    unreachable,
    url_problem,
    vault_error_in,
)

WHAT = "Azure Key Vault"
DEFAULT_AUTHORITY = "login.microsoftonline.com"
SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


def authority_url(authority_host: str) -> str:
    host = (authority_host or DEFAULT_AUTHORITY).strip().rstrip("/")
    return host if "://" in host else f"https://{host}"


class AzureConnection:
    def __init__(self, config: VaultConfig):
        self.config = config
        fields = config.fields
        self.vault_uri = (fields.get("vault_uri") or "").strip().rstrip("/")
        self.directory_id = (fields.get("directory_id") or "").strip()
        self.client_id = (fields.get("client_id") or "").strip()
        self.authority = authority_url(fields.get("authority_host") or "")

    def check(self) -> None:
        # Listing needs the `list` permission the others do not; a read of a name that
        # cannot exist authenticates with `get`, and its 404 says the vault answered.
        try:
            self.read("uipath-connection-check")
        except VaultError as error:
            if error.reason not in (SECRET_NOT_FOUND, BAD_FORMAT):
                raise

    def read(self, name: str) -> str:
        self._check_name(name)
        with self._client() as client:
            value = client.get_secret(name).value
        if not isinstance(value, str):
            raise VaultError(BAD_FORMAT, f"{WHAT}: the secret has no value.")
        return value

    def write(self, name: str, value: str) -> None:
        self._check_name(name)
        with self._client() as client:
            client.set_secret(name, value)

    def delete(self, name: str) -> None:
        self._check_name(name)
        # begin_delete_secret would leave a thread polling /deletedsecrets after we return;
        # the one DELETE request is the deletion.
        with self._client() as client:
            response = client.send_request(
                HttpRequest("DELETE", f"/secrets/{name}?api-version={client.api_version}")
            )
            if response.status_code == 404:
                return  # already gone
            try:
                response.raise_for_status()
            except HttpResponseError as error:
                raise _mapped(error) from None

    def _check_name(self, name: str) -> None:
        if not SECRET_NAME.fullmatch(name or ""):
            raise VaultError(
                BAD_FORMAT,
                f"{WHAT}: a secret name has 1 to 127 letters, digits and hyphens.",
            )

    @contextmanager
    def _client(self):
        for url in (self.vault_uri, self.authority):
            problem = url_problem(url)
            if problem is not None:
                raise unreachable(WHAT, problem)
        if not (self.directory_id and self.client_id):
            raise VaultError(UNAUTHORIZED, f"{WHAT}: the directory ID and client ID are required.")
        with guarded_session(self.config, WHAT) as session:
            options = {"retry_total": 0, "logging_enable": False}
            credential = ClientSecretCredential(
                self.directory_id,
                self.client_id,
                self.config.secrets.get("client_secret") or "",
                authority=self.authority,
                disable_instance_discovery=True,
                transport=RequestsTransport(session=session, session_owner=False),
                **options,
            )
            client = SecretClient(
                self.vault_uri,
                credential,
                transport=RequestsTransport(session=session, session_owner=False),
                verify_challenge_resource=True,
                **options,
            )
            try:
                yield client
            except (AzureError, ValueError) as error:
                raise _mapped(error) from None
            finally:
                client.close()
                credential.close()


def _mapped(error: Exception) -> VaultError:
    found = vault_error_in(error)
    if found is not None:
        return found
    if isinstance(error, ResourceNotFoundError):
        return VaultError(SECRET_NOT_FOUND, f"{WHAT}: no secret of that name.")
    if isinstance(error, ClientAuthenticationError):
        return VaultError(
            UNAUTHORIZED,
            f"{WHAT}: authentication failed (the directory ID, client ID or client secret).",
        )
    status = getattr(error, "status_code", None)
    if status == 403:
        return VaultError(UNAUTHORIZED, f"{WHAT}: the application is not allowed to do that.")
    if isinstance(error, ValueError):
        # The SDK's check of the challenge: the resource it names is not this vault's.
        return VaultError(
            VAULT_UNREACHABLE,
            f"{WHAT}: the vault's authentication challenge names another resource.",
        )
    if status is not None:
        return VaultError(VAULT_UNREACHABLE, f"{WHAT}: the vault answered HTTP {status}.")
    return VaultError(VAULT_UNREACHABLE, f"{WHAT}: the request failed.")


def connect(config: VaultConfig) -> AzureConnection:
    return AzureConnection(config)
