"""Connections to the vaults that robot credential stores live in (SPEC §12).

The contract between the credential-store service (machines.credential_stores) and each
vault's client module. `connect(config)` picks the module for `config.kind`; a module
exposes `connect(config) -> Connection`. A Connection never caches or logs a value, and
every failure is a `VaultError` whose `message` is safe to show an admin (it names the
store's kind and what went wrong, never a secret or the value).
"""

from dataclasses import dataclass, field
from typing import Protocol

# Reason codes (SPEC §12), used in the audit log of credential.resolve and in TestConnection.
VAULT_UNREACHABLE = "vault_unreachable"
SECRET_NOT_FOUND = "secret_not_found"  # noqa: S105 - a reason code, not a secret
UNAUTHORIZED = "unauthorized"
BAD_FORMAT = "bad_format"


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
