"""HashiCorp Vault's key/value secrets engine, through hvac (SPEC §12).

KV version 1 (`/v1/{mount}/{path}`) or 2 (`/v1/{mount}/data/{path}`, deleted with every
version at `/v1/{mount}/metadata/{path}`); authentication by token, AppRole
(`/v1/auth/approle/login`) or user name and password (`/v1/auth/userpass/login/{user}`);
an optional namespace (Vault Enterprise, the `X-Vault-Namespace` header).

A secret lives at `{data_path}/{name}` under the mount. We write the password under the key
`password`; a read takes `password`, or the only key when there is one (a read-only store's
secret written by someone else), and anything else is bad_format.

hvac sends through the guarded session (machines.vaults.outbound); it reads VAULT_TOKEN,
VAULT_ADDR and the CA variables from the environment only for what it is not given, and it
is given everything (an empty token for the logins, so none is taken from the environment).
"""

from contextlib import contextmanager

import hvac
import hvac.exceptions

from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    UNAUTHORIZED,
    VaultConfig,
    VaultError,
)
from machines.vaults.outbound import guarded_session, unreachable, url_problem, where

WHAT = "HashiCorp Vault"
AUTH_TYPES = ("AppRole", "Token", "UsernamePassword")
KV_VERSIONS = ("1", "2")


def secret_path_problem(path: str) -> str | None:
    """Why `path` cannot name a secret under the mount, or None."""
    segments = path.split("/")
    if not path or any(s in ("", ".", "..") for s in segments):
        return "the secret's path must be names separated by single slashes, without . or .."
    if any(not c.isprintable() or c.isspace() for c in path):
        return "the secret's path must not contain spaces or control characters."
    return None


class HashiCorpConnection:
    def __init__(self, config: VaultConfig):
        self.config = config
        fields = config.fields
        self.url = (fields.get("url") or "").rstrip("/")
        self.auth_type = fields.get("auth_type") or "Token"
        self.mount = (fields.get("mount_path") or "secret").strip("/")
        self.kv_version = str(fields.get("kv_version") or "2")
        self.data_path = (fields.get("data_path") or "").strip("/")
        self.namespace = fields.get("namespace") or None

    # --- the operations of the Connection protocol ---------------------------------------

    def check(self) -> None:
        with self._client() as client:
            if self.auth_type == "Token":
                self._call(lambda: client.auth.token.lookup_self())

    def read(self, name: str) -> str:
        path = self._path(name)
        with self._client() as client:
            if self.kv_version == "1":
                answer = self._call(
                    lambda: client.secrets.kv.v1.read_secret(path=path, mount_point=self.mount)
                )
                data = (answer or {}).get("data")
            else:
                answer = self._call(
                    lambda: client.secrets.kv.v2.read_secret_version(
                        path=path, mount_point=self.mount, raise_on_deleted_version=True
                    )
                )
                data = ((answer or {}).get("data") or {}).get("data")
        if not isinstance(data, dict):
            raise VaultError(BAD_FORMAT, f"{WHAT}: the secret's answer has no key/value data.")
        value = data.get("password") if "password" in data else None
        if value is None and len(data) == 1:
            value = next(iter(data.values()))
        if not isinstance(value, str):
            raise VaultError(
                BAD_FORMAT,
                f"{WHAT}: the secret has no string under the key `password` (nor a single key).",
            )
        return value

    def write(self, name: str, value: str) -> None:
        path = self._path(name)
        with self._client() as client:
            if self.kv_version == "1":
                self._call(
                    lambda: client.secrets.kv.v1.create_or_update_secret(
                        path=path, secret={"password": value}, method="PUT", mount_point=self.mount
                    )
                )
            else:
                self._call(
                    lambda: client.secrets.kv.v2.create_or_update_secret(
                        path=path, secret={"password": value}, mount_point=self.mount
                    )
                )

    def delete(self, name: str) -> None:
        path = self._path(name)
        with self._client() as client:
            try:
                if self.kv_version == "1":
                    self._call(
                        lambda: client.secrets.kv.v1.delete_secret(
                            path=path, mount_point=self.mount
                        )
                    )
                else:
                    self._call(
                        lambda: client.secrets.kv.v2.delete_metadata_and_all_versions(
                            path=path, mount_point=self.mount
                        )
                    )
            except VaultError as error:
                if error.reason != SECRET_NOT_FOUND:
                    raise

    # --- helpers ---------------------------------------------------------------------

    def _path(self, name: str) -> str:
        path = f"{self.data_path}/{name}" if self.data_path else name
        problem = secret_path_problem(path)
        if problem is not None:
            raise VaultError(BAD_FORMAT, f"{WHAT}: {problem}")
        return path

    @contextmanager
    def _client(self):
        """A logged-in hvac client over a guarded session, for one operation."""
        with guarded_session(self.config, WHAT) as session:
            yield self._login(session)

    def _login(self, session) -> hvac.Client:
        problem = url_problem(self.url)
        if problem is not None:
            raise unreachable(WHAT, problem)
        if self.auth_type not in AUTH_TYPES:
            raise VaultError(UNAUTHORIZED, f"{WHAT}: unknown authentication type.")
        if self.kv_version not in KV_VERSIONS:
            raise VaultError(BAD_FORMAT, f"{WHAT}: the KV version must be 1 or 2.")
        secrets = self.config.secrets
        token = (secrets.get("token") or "") if self.auth_type == "Token" else ""
        if self.auth_type == "Token" and not token:
            raise VaultError(UNAUTHORIZED, f"{WHAT}: no token is set.")
        client = hvac.Client(
            url=self.url,
            token=token,
            namespace=self.namespace,
            session=session,
            timeout=self.config.timeout,
            verify=True,
            allow_redirects=True,  # same-origin only: the guarded adapter refuses others
        )
        try:
            if self.auth_type == "AppRole":
                client.auth.approle.login(
                    role_id=self.config.fields.get("role_id") or "",
                    secret_id=secrets.get("secret_id") or "",
                )
            elif self.auth_type == "UsernamePassword":
                client.auth.userpass.login(
                    username=self.config.fields.get("username") or "",
                    password=secrets.get("password") or "",
                )
        except hvac.exceptions.InvalidRequest:
            # Vault answers a wrong role, secret ID, user or password with 400.
            raise VaultError(UNAUTHORIZED, f"{WHAT}: the login was refused.") from None
        except hvac.exceptions.VaultError as error:
            raise self._mapped(error) from None
        return client

    def _call(self, operation):
        try:
            return operation()
        except hvac.exceptions.VaultError as error:
            raise self._mapped(error) from None

    def _mapped(self, error: hvac.exceptions.VaultError) -> VaultError:
        if isinstance(error, hvac.exceptions.InvalidPath):
            return VaultError(SECRET_NOT_FOUND, f"{WHAT}: no secret at that path.")
        if isinstance(error, (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)):
            return VaultError(
                UNAUTHORIZED, f"{WHAT}: permission denied (the token, role or policy)."
            )
        if isinstance(error, hvac.exceptions.VaultDown):
            return unreachable(WHAT, f"{where(self.url)} is sealed or in maintenance.")
        status = getattr(error, "status_code", None) or "an unexpected status"
        return unreachable(WHAT, f"{where(self.url)} answered HTTP {status}.")


def connect(config: VaultConfig) -> HashiCorpConnection:
    return HashiCorpConnection(config)
