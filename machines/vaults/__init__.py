"""Connections to the vaults that robot credential stores live in (SPEC §12).

The contract between the credential-store service (machines.credential_stores) and each
vault's client module. `connect(config)` picks the module for `config.kind`; a module
exposes `connect(config) -> Connection`. A Connection never caches or logs a value, and
every failure is a `VaultError` whose `message` is safe to show an admin (it names the
store's kind and what went wrong, never a secret or the value).

Modules: hashicorp (hvac), aws (boto3), azure (azure-keyvault-secrets with azure-identity)
and cyberark (requests). All of them send every HTTP request through one guarded transport,
machines.vaults.outbound, which holds each call to these rules:
- HTTPS on port 443 to any host (vaults usually live on private networks, so private
  addresses are allowed); plain HTTP or another port only to a `host:port` listed in
  CREDENTIAL_STORE_OUTBOUND_ALLOWLIST. Checked before any connection, for every request.
- The store's CA (`ca_pem`) replaces the system CAs when set; its client certificate is
  presented when set; certificates are always verified.
- No proxies or CA bundles from the environment, no retries, no redirect to another host.
- One deadline (`timeout`) for the whole operation, enforced by cutting the socket.
- At most outbound.MAX_BODY_BYTES of answer.
How each client is held to them: hvac is given a requests Session whose adapter is the
guarded one; CyberArk's CCP is a GET through that Session; Azure's SDK (the Key Vault client
and the Entra credential alike) gets an azure-core RequestsTransport over it; boto3's requests
are taken at its `before-send` event and sent through it, so botocore's own HTTP stack,
proxies and retries are never used (boto3 still signs them, and finds the host's
credentials through its default chain when no access key is set).
"""

import importlib
from dataclasses import dataclass, field
from typing import Protocol

# Reason codes (SPEC §12), used in the audit log of credential.resolve and in TestConnection.
VAULT_UNREACHABLE = "vault_unreachable"
SECRET_NOT_FOUND = "secret_not_found"  # noqa: S105 - a reason code, not a secret
UNAUTHORIZED = "unauthorized"
BAD_FORMAT = "bad_format"


# Store kinds (UiPath's type names) and the module of each.
MODULES = {
    "HashiCorpVault": "machines.vaults.hashicorp",
    "HashiCorpVaultReadOnly": "machines.vaults.hashicorp",
    "AWSSecretsManager": "machines.vaults.aws",
    "AWSSecretsManagerReadOnly": "machines.vaults.aws",
    "AzureKeyVault": "machines.vaults.azure",
    "AzureKeyVaultReadOnly": "machines.vaults.azure",
    "CyberArkCCP": "machines.vaults.cyberark",
}


class VaultError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class VaultConfig:
    """What a connection needs. `fields` are the store's non-secret settings and `secrets`
    its decrypted secret ones, keyed as listed per kind in machines.credential_stores."""

    kind: str
    fields: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict, repr=False)
    ca_pem: str = ""  # PEM bundle that replaces the system CAs for this store, if set
    client_cert_pem: str = ""  # PEM certificate (CyberArk CCP; optional elsewhere)
    client_key_pem: str = field(default="", repr=False)
    timeout: float = 5.0  # whole-call deadline in seconds


class Connection(Protocol):
    def check(self) -> None:
        """Authenticate to the vault (raises VaultError)."""

    def read(self, name: str) -> str:
        """The secret stored under `name` (raises VaultError, SECRET_NOT_FOUND if absent)."""

    def write(self, name: str, value: str) -> None:
        """Create or replace the secret `name` (read-write stores only)."""

    def delete(self, name: str) -> None:
        """Delete the secret `name`; a missing one is not an error."""


class ReadOnlyConnection:
    """A read-only kind's connection: it checks and reads; it never writes, and never
    deletes, since what a read-only store holds belongs to the vault's own admins."""

    def __init__(self, connection: Connection, kind: str):
        self._connection = connection
        self._kind = kind

    def check(self) -> None:
        self._connection.check()

    def read(self, name: str) -> str:
        return self._connection.read(name)

    def write(self, name: str, value: str) -> None:
        raise VaultError(BAD_FORMAT, f"{self._kind} is read-only: passwords are not written to it.")

    def delete(self, name: str) -> None:
        """Nothing of ours lives in a read-only store."""


def connect(config: VaultConfig) -> Connection:
    """The connection to the vault of `config.kind` (no network until a method is called)."""
    module = MODULES.get(config.kind)
    if module is None:
        raise ValueError(f"no vault client for the store kind {config.kind!r}")
    connection = importlib.import_module(module).connect(config)
    if config.kind.endswith("ReadOnly"):
        return ReadOnlyConnection(connection, config.kind)
    return connection
