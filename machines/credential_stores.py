"""Robot credential stores (SPEC §12): their kinds and settings, every write to them, the
credentials of robots kept in them, and the one service that resolves a robot's password.

- Kinds (`KINDS`): the built-in database store (one per tenant, created with it), and the
  vaults of machines.vaults: HashiCorp Vault, AWS Secrets Manager and Azure Key Vault
  (each read-write and read-only) and CyberArk CCP (read-only). Each kind lists its
  settings with the names the API and the site use (`VaultUri`) and the keys of the
  vault client's contract (`url`); secret settings are encrypted at rest and write-only.
- Read-write stores keep a robot's password under a name generated from its key
  (`robot_secret_name`), and the robot keeps only that name; read-only stores refuse a
  password and hold the name the vault's admins gave it (`ExternalName`).
- `robot_password_resolve` is the one way a password is read: it never caches or logs the
  value, and audits each resolution (`credential.resolve`, outcome, reason code).
- Every failure of a vault is a VaultError whose message names the store; callers turn it
  into a 400, never a 500. This module never imports a vault library: machines.vaults
  connects.
"""

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from identity_server.encryption import InvalidToken, decrypt, encrypt
from machines import selectors
from machines.models import CredentialStore, Robot, StoredSecret
from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    VAULT_UNREACHABLE,
    Connection,
    VaultConfig,
    VaultError,
)
from tenants.models import AuditEvent, Tenant
from tenants.services import Actor, apply_changes, audit_record, duplicate_name, save_unique_name

logger = logging.getLogger(__name__)

# Salts of identity_server.encryption: a store's settings, and passwords in the database.
STORE_SECRETS_PURPOSE = "machines.credential-store.secrets"
DATABASE_SECRET_PURPOSE = "machines.credential-store.database"  # noqa: S105 - a salt
DATABASE_STORE_NAME = "Orchestrator Database"
# The only resource type whose default store UiPath's API sets.
RESOURCE_TYPE = "RobotCredentials"
MAX_SETTING_LENGTH = 2048
MAX_PEM_LENGTH = 32 * 1024
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class Setting:
    """One setting of a kind: `name` in the API and on the site, `key` in the vault
    client's VaultConfig (machines.vaults)."""

    name: str
    key: str
    label: str
    secret: bool = False
    required: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()
    pem: bool = False


@dataclass(frozen=True)
class Kind:
    type: str
    read_only: bool
    settings: tuple[Setting, ...]
    # For a choice setting's value, the other settings it needs (`{"auth_type": {...}}`).
    needs: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


_CA = Setting(
    "CaCertificate",
    "ca_pem",
    "CA certificates (PEM; replace the system's for this store)",
    pem=True,
)
_HASHICORP = (
    Setting("VaultUri", "url", "Vault URI", required=True),
    Setting(
        "AuthenticationType",
        "auth_type",
        "Authentication type",
        required=True,
        default="AppRole",
        choices=("AppRole", "Token", "UsernamePassword"),
    ),
    Setting("RoleId", "role_id", "Role ID"),
    Setting("SecretId", "secret_id", "Secret ID", secret=True),
    Setting("Token", "token", "Token", secret=True),
    Setting("Username", "username", "Username"),
    Setting("Password", "password", "Password", secret=True),
    Setting("SecretsEngineMountPath", "mount_path", "Secrets engine mount path", default="secret"),
    Setting("KvVersion", "kv_version", "KV version", default="2", choices=("1", "2")),
    Setting("DataPath", "data_path", "Data path"),
    Setting("Namespace", "namespace", "Namespace"),
    _CA,
)
_HASHICORP_NEEDS = (
    ("auth_type", "AppRole", ("role_id", "secret_id")),
    ("auth_type", "Token", ("token",)),
    ("auth_type", "UsernamePassword", ("username", "password")),
)
_AWS = (
    Setting("Region", "region", "Region", required=True),
    Setting("AccessKeyId", "access_key_id", "Access key ID (blank: the host's role)"),
    Setting("SecretAccessKey", "secret_access_key", "Secret access key", secret=True),
    Setting("EndpointUrl", "endpoint_url", "Endpoint URL (optional, e.g. a VPC endpoint)"),
    _CA,
)
_AZURE = (
    Setting("KeyVaultUri", "vault_uri", "Key Vault URI", required=True),
    Setting("DirectoryId", "directory_id", "Directory (tenant) ID", required=True),
    Setting("ClientId", "client_id", "Client (application) ID", required=True),
    Setting("ClientSecret", "client_secret", "Client secret", secret=True, required=True),
    Setting("AuthorityHost", "authority_host", "Authority host (optional)"),
    _CA,
)
_CYBERARK = (
    Setting(
        "CentralCredentialProviderUrl", "ccp_url", "Central Credential Provider URL", required=True
    ),
    Setting("AppId", "app_id", "Application ID", required=True),
    Setting("Safe", "safe", "Safe", required=True),
    Setting("Folder", "folder", "Folder", default="Root"),
    Setting("WebServiceName", "web_service_name", "Web service name", default="AIMWebService"),
    Setting("ClientCertificate", "client_cert_pem", "Client certificate (PEM)", pem=True),
    Setting(
        "ClientCertificateKey",
        "client_key_pem",
        "Client certificate's private key (PEM)",
        secret=True,
        pem=True,
    ),
    _CA,
)
T = CredentialStore.Type
KINDS = {
    kind.type: kind
    for kind in (
        Kind(T.DATABASE, False, ()),
        Kind(T.HASHICORP, False, _HASHICORP, _HASHICORP_NEEDS),
        Kind(T.HASHICORP_READ_ONLY, True, _HASHICORP, _HASHICORP_NEEDS),
        Kind(T.AWS, False, _AWS),
        Kind(T.AWS_READ_ONLY, True, _AWS),
        Kind(T.AZURE, False, _AZURE),
        Kind(T.AZURE_READ_ONLY, True, _AZURE),
        Kind(T.CYBERARK_CCP, True, _CYBERARK),
    )
}
# Kept in their own columns, not in `fields` (machines.models.CredentialStore).
_COLUMNS = ("ca_pem", "client_cert_pem")


def store_is_read_only(store: CredentialStore) -> bool:
    return KINDS[store.type].read_only


def store_secrets(store: CredentialStore) -> dict:
    """The store's secret settings, decrypted: for its vault client only."""
    if not store.secrets_encrypted:
        return {}
    try:
        return json.loads(decrypt(STORE_SECRETS_PURPOSE, store.secrets_encrypted))
    except InvalidToken:
        raise VaultError(
            BAD_FORMAT,
            "Its settings cannot be decrypted: SECRET_KEY changed without the old key in "
            "SECRET_KEY_FALLBACKS. Enter its secrets again.",
        ) from None


def store_configuration(store: CredentialStore) -> dict:
    """The store's settings as the API shows them: every non-secret one by its API name,
    never a secret (`store_secrets_set` says which are set)."""
    values = {**store.fields, "ca_pem": store.ca_pem, "client_cert_pem": store.client_cert_pem}
    return {
        s.name: values.get(s.key, s.default) for s in KINDS[store.type].settings if not s.secret
    }


def store_secrets_set(store: CredentialStore) -> list[str]:
    """The API names of the store's secret settings that hold a value (never the values)."""
    try:
        held = store_secrets(store)
    except VaultError:
        return []
    return [s.name for s in KINDS[store.type].settings if s.secret and held.get(s.key)]


# --- connections --------------------------------------------------------------------------


class DatabaseConnection:
    """The database store as a vault: StoredSecret rows, each value encrypted with a key
    derived from SECRET_KEY (and still readable with SECRET_KEY_FALLBACKS)."""

    def __init__(self, store: CredentialStore):
        self.store = store

    def check(self) -> None:
        return None

    def read(self, name: str) -> str:
        row = StoredSecret.objects.filter(store=self.store, name=name).first()
        if row is None:
            raise VaultError(SECRET_NOT_FOUND, "No password is stored under this name.")
        try:
            return decrypt(DATABASE_SECRET_PURPOSE, row.value_encrypted)
        except InvalidToken:
            raise VaultError(
                BAD_FORMAT,
                "The password cannot be decrypted: SECRET_KEY changed without the old key in "
                "SECRET_KEY_FALLBACKS.",
            ) from None

    def write(self, name: str, value: str) -> None:
        StoredSecret.objects.update_or_create(
            store=self.store,
            name=name,
            defaults={"value_encrypted": encrypt(DATABASE_SECRET_PURPOSE, value)},
        )

    def delete(self, name: str) -> None:
        StoredSecret.objects.filter(store=self.store, name=name).delete()


def _named(store: CredentialStore, error: VaultError) -> VaultError:
    return VaultError(error.reason, f"Credential store “{store.name}”: {error.message}")


class _StoreConnection:
    """A store's connection whose every failure is a VaultError naming the store. A client
    that fails in a way it did not foresee is a vault that cannot be used, not a 500; only
    the exception's type is logged, as its text might hold a setting."""

    def __init__(self, store: CredentialStore, connect):
        self.store = store
        self._connect = connect
        self._connection: Connection | None = None

    def _call(self, method: str, *args):
        try:
            if self._connection is None:
                self._connection = self._connect()
            return getattr(self._connection, method)(*args)
        except VaultError as error:
            raise _named(self.store, error) from None
        except Exception as error:
            logger.warning(
                "credential store %s: %s failed with %s",
                self.store.pk,
                method,
                type(error).__name__,
            )
            raise _named(
                self.store, VaultError(VAULT_UNREACHABLE, "The vault could not be used.")
            ) from None

    def check(self) -> None:
        self._call("check")

    def read(self, name: str) -> str:
        return self._call("read", name)

    def write(self, name: str, value: str) -> None:
        self._call("write", name, value)

    def delete(self, name: str) -> None:
        self._call("delete", name)


def store_connection(store: CredentialStore) -> _StoreConnection:
    """The store's connection (lazy: nothing is sent before its first call)."""
    if store.type == CredentialStore.Type.DATABASE:
        return _StoreConnection(store, lambda: DatabaseConnection(store))

    def connect():
        try:
            from machines.vaults import connect as vault_connect
        except ImportError:
            raise VaultError(
                VAULT_UNREACHABLE, "This server has no client for this kind of vault."
            ) from None
        secrets = store_secrets(store)
        return vault_connect(
            VaultConfig(
                kind=store.type,
                fields=dict(store.fields),
                secrets={k: v for k, v in secrets.items() if k != "client_key_pem"},
                ca_pem=store.ca_pem,
                client_cert_pem=store.client_cert_pem,
                client_key_pem=secrets.get("client_key_pem", ""),
                timeout=float(settings.CREDENTIAL_STORE_TIMEOUT_SECONDS),
            )
        )

    return _StoreConnection(store, connect)


# --- stores ------------------------------------------------------------------------------


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _settings_of(
    kind: Kind, configuration: dict, *, fields: dict, secrets: dict
) -> tuple[dict, dict]:
    """`fields` and `secrets` (keyed as the client's contract) with `configuration` (keyed
    by API names, any case) applied and checked. A secret left out or empty keeps its
    value; a non-secret setting left out keeps its value, or gets its default."""
    by_name = {s.name.lower(): s for s in kind.settings}
    fields, secrets = dict(fields), dict(secrets)
    for name, value in configuration.items():
        setting = by_name.get(str(name).lower())
        if setting is None:
            known = ", ".join(s.name for s in kind.settings) or "none"
            raise _invalid(
                "additionalConfiguration",
                f"“{name}” is not a setting of a {kind.type} store (its settings: {known}).",
            )
        value = "" if value is None else value
        if not isinstance(value, str):
            raise _invalid("additionalConfiguration", f"{setting.name} must be a string.")
        value = value if setting.pem else value.strip()
        limit = MAX_PEM_LENGTH if setting.pem else MAX_SETTING_LENGTH
        if len(value) > limit or "\x00" in value:
            raise _invalid("additionalConfiguration", f"{setting.name} is too long or invalid.")
        if setting.pem and value and "-----BEGIN " not in value:
            raise _invalid("additionalConfiguration", f"{setting.name} must be PEM text.")
        if setting.choices and value and value not in setting.choices:
            raise _invalid(
                "additionalConfiguration",
                f"{setting.name} must be one of {', '.join(setting.choices)}.",
            )
        if setting.secret:
            if value:
                secrets[setting.key] = value
        else:
            fields[setting.key] = value
    for setting in kind.settings:
        if not setting.secret and not fields.get(setting.key) and setting.default:
            fields[setting.key] = setting.default
    held = {**fields, **secrets}
    missing = [s.name for s in kind.settings if s.required and not held.get(s.key)]
    for key, value, needed in kind.needs:
        if held.get(key) == value:
            missing += [s.name for s in kind.settings if s.key in needed and not held.get(s.key)]
    if kind.type in (T.AWS, T.AWS_READ_ONLY) and bool(held.get("access_key_id")) != bool(
        held.get("secret_access_key")
    ):
        missing.append("AccessKeyId and SecretAccessKey (both, or neither for the host's role)")
    if kind.type == T.CYBERARK_CCP and bool(held.get("client_cert_pem")) != bool(
        held.get("client_key_pem")
    ):
        missing.append("ClientCertificate and ClientCertificateKey (both, or neither)")
    if missing:
        raise _invalid(
            "additionalConfiguration", f"A {kind.type} store needs {', '.join(missing)}."
        )
    return fields, secrets


def _refuse_shared_cyberark(store: CredentialStore) -> None:
    """UiPath documents two tenants reading the same App ID, Safe and Folder of CyberArk as
    a cross-tenant leak: each tenant's robots could name the other's accounts."""
    if store.type != T.CYBERARK_CCP:
        return
    same = (
        CredentialStore.objects.filter(type=T.CYBERARK_CCP)
        .exclude(tenant=store.tenant_id)
        .filter(
            # CyberArk's names are not case-sensitive: neither is the comparison.
            fields__app_id__iexact=store.fields.get("app_id"),
            fields__safe__iexact=store.fields.get("safe"),
            fields__folder__iexact=store.fields.get("folder"),
        )
    )
    if same.exists():
        raise _invalid(
            "additionalConfiguration",
            "Another tenant's CyberArk store already reads this App ID, Safe and Folder; "
            "sharing them would let each tenant's robots read the other's accounts.",
            code="cyberark_shared",
        )


def _store_save(store: CredentialStore, **options) -> None:
    store.full_clean(
        exclude=["tenant", "fields", "secrets_encrypted"],
        validate_unique=False,
        validate_constraints=False,
    )
    others = CredentialStore.objects.filter(tenant=store.tenant).exclude(pk=store.pk)
    message = "A credential store with this name already exists."
    if others.alias(name_ci=Lower("name")).filter(name_ci=store.name.lower()).exists():
        raise duplicate_name(message)
    save_unique_name(
        store, constraint="credentialstore_name_unique_in_tenant", message=message, **options
    )


def _apply_settings(store: CredentialStore, configuration: dict) -> dict:
    """Applies `configuration` to the store; the audit details of what changed (secrets
    by name only: `{"write_only_changed": ["SecretId"]}`)."""
    kind = KINDS[store.type]
    stored = {**store.fields, **{k: getattr(store, k) for k in _COLUMNS}}
    before_secrets = store_secrets(store) if store.secrets_encrypted else {}
    fields, secrets = _settings_of(kind, configuration, fields=stored, secrets=before_secrets)
    columns = {k: fields.pop(k, "") for k in _COLUMNS}
    diff = apply_changes(store, {"fields": fields, **columns})
    changed = [s.name for s in kind.settings if secrets.get(s.key) != before_secrets.get(s.key)]
    if changed:
        store.secrets_encrypted = encrypt(STORE_SECRETS_PURPOSE, json.dumps(secrets))
        diff["write_only_changed"] = changed
    return diff


def credential_store_database_create(*, tenant: Tenant, actor: Actor) -> CredentialStore:
    """The tenant's built-in database store (settings.TENANT_CREATED_HOOKS)."""
    store = CredentialStore.objects.create(
        tenant=tenant, name=DATABASE_STORE_NAME, type=CredentialStore.Type.DATABASE
    )
    audit_record(
        action="credential_store.create",
        actor=actor,
        tenant=tenant,
        target=store,
        details={"name": store.name, "type": store.type},
    )
    return store


def credential_store_database(*, tenant: Tenant) -> CredentialStore:
    """The tenant's database store, made now for a tenant that was created without it
    (rows made directly, not through tenants.services.tenant_create)."""
    store = tenant.credential_stores.filter(type=CredentialStore.Type.DATABASE).first()
    if store is not None:
        return store
    try:
        with transaction.atomic():
            return credential_store_database_create(tenant=tenant, actor=Actor.system("server"))
    except IntegrityError:  # a concurrent request made it
        return tenant.credential_stores.get(type=CredentialStore.Type.DATABASE)


def credential_store_default(*, tenant: Tenant) -> CredentialStore:
    """The store new robots' credentials go to: the one set as default for
    RobotCredentials, else the database store."""
    return selectors.credential_store_default(tenant=tenant) or credential_store_database(
        tenant=tenant
    )


@transaction.atomic
def credential_store_create(
    *, tenant: Tenant, name: str, type: str, actor: Actor, configuration: dict | None = None
) -> CredentialStore:
    if type not in KINDS:
        raise _invalid("type", f"Unknown type; use one of {', '.join(KINDS)}.")
    if type == T.DATABASE:
        raise _invalid("type", "The database store is built in: each tenant has one.")
    store = CredentialStore(tenant=tenant, name=(name or "").strip(), type=type)
    details = _apply_settings(store, configuration or {})
    _refuse_shared_cyberark(store)
    _store_save(store)
    audit_record(
        action="credential_store.create",
        actor=actor,
        tenant=tenant,
        target=store,
        details={"name": store.name, "type": store.type, **details},
    )
    return store


@transaction.atomic
def credential_store_update(
    *,
    store: CredentialStore,
    actor: Actor,
    name: str | None = None,
    type: str | None = None,
    configuration: dict | None = None,
) -> CredentialStore:
    """Renames the store or changes its settings; its type stays (robots' credentials are
    where it put them). A secret setting left out keeps its value."""
    store = CredentialStore.objects.select_for_update().select_related("tenant").get(pk=store.pk)
    if type is not None and type != store.type:
        raise _invalid("type", "A store's type cannot change; create another store.")
    diff = {}
    if name is not None:
        diff.update(apply_changes(store, {"name": name.strip()}))
    if configuration:
        if store.type == T.DATABASE:
            raise _invalid("additionalConfiguration", "The database store has no settings.")
        diff.update(_apply_settings(store, configuration))
        _refuse_shared_cyberark(store)
    if not diff:
        return store
    _store_save(store)
    audit_record(
        action="credential_store.update",
        actor=actor,
        tenant=store.tenant,
        target=store,
        details=diff,
    )
    return store


def _secret_delete(*, store: CredentialStore, robot: Robot, name: str, actor: Actor) -> bool:
    """Deletes a password we wrote, best effort: a failure is audited, not raised."""
    try:
        store_connection(store).delete(name)
    except VaultError as error:
        audit_record(
            action="credential.delete",
            actor=actor,
            tenant=store.tenant,
            target=robot,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"store_id": store.pk, "store": store.name, "message": error.message},
        )
        return False
    return True


@transaction.atomic
def credential_store_delete(*, store: CredentialStore, actor: Actor, force: bool = False) -> None:
    """Deletes the store. While robots use it, only with `force`: they are left without a
    credential, and the passwords it holds for them are deleted (best effort; a vault that
    cannot be reached keeps them, audited). The database store is built in and stays."""
    store = CredentialStore.objects.select_for_update().select_related("tenant").get(pk=store.pk)
    if store.type == T.DATABASE:
        raise _invalid("id", "The database store is built in: it cannot be deleted.")
    robots = list(Robot.objects.filter(credential_store=store).select_for_update())
    if robots and not force:
        raise _invalid(
            "forceDelete",
            f"{len(robots)} robot(s) use this store; delete with forceDelete=true to leave "
            "them without a credential.",
            code="store_in_use",
        )
    reachable = not store_is_read_only(store)
    for robot in robots:
        if reachable and robot.secret_name:
            reachable = _secret_delete(
                store=store, robot=robot, name=robot.secret_name, actor=actor
            )
    Robot.objects.filter(pk__in=[r.pk for r in robots]).update(
        credential_store=None, secret_name="", external_name=""
    )
    audit_record(
        action="credential_store.delete",
        actor=actor,
        tenant=store.tenant,
        target=store,
        details={
            "name": store.name,
            "type": store.type,
            "robots": [r.pk for r in robots],
            "forced": bool(robots),
        },
    )
    store.delete()


@transaction.atomic
def credential_store_set_default(
    *, store: CredentialStore, actor: Actor, resource_type: str = RESOURCE_TYPE
) -> CredentialStore:
    """Makes `store` the tenant's default for new robots' credentials."""
    if resource_type != RESOURCE_TYPE:
        raise _invalid("resourceType", f"The only resource type is {RESOURCE_TYPE}.")
    # Every store of the tenant locked, so that two concurrent calls take turns rather
    # than meet at the one-default constraint.
    stores = {
        s.pk: s
        for s in CredentialStore.objects.select_for_update()
        .select_related("tenant")
        .filter(tenant=store.tenant_id)
        .order_by("pk")
    }
    store = stores[store.pk]
    if store.is_default:
        return store
    before = selectors.credential_store_default(tenant=store.tenant)
    CredentialStore.objects.filter(tenant=store.tenant, is_default=True).update(is_default=False)
    store.is_default = True
    store.save(update_fields=["is_default", "updated_at"])
    audit_record(
        action="credential_store.set_default",
        actor=actor,
        tenant=store.tenant,
        target=store,
        details={"resource_type": resource_type, "before": before.pk if before else None},
    )
    return store


def credential_store_test(*, store: CredentialStore, actor: Actor) -> None:
    """Authenticates to the store's vault; raises VaultError (naming the store). Audited
    either way (`credential_store.test`)."""
    try:
        store_connection(store).check()
    except VaultError as error:
        audit_record(
            action="credential_store.test",
            actor=actor,
            tenant=store.tenant,
            target=store,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"message": error.message},
        )
        raise
    audit_record(action="credential_store.test", actor=actor, tenant=store.tenant, target=store)


# --- robots' credentials ------------------------------------------------------------------


def robot_secret_name(robot: Robot) -> str:
    """Where a read-write store keeps the robot's password: its key, unique everywhere, in
    the characters every vault accepts in a name (Azure: letters, digits and `-`)."""
    return f"uipath-robot-{robot.key}"


def robot_has_credential(robot: Robot) -> bool:
    return robot.credential_store_id is not None and bool(robot.secret_name or robot.external_name)


_KEEP = object()


def robot_credential_set(
    *,
    robot: Robot,
    actor: Actor,
    store=_KEEP,
    password: str | None = None,
    external_name: str | None = None,
) -> dict:
    """Applies a robot's credential changes, in the caller's transaction, after its row is
    saved: `store` (a CredentialStore of its tenant; None for none; left out: the one it
    has, or for a new password the tenant's default), a `password` for a read-write store
    (written to it under robot_secret_name), an `external_name` for a read-only store.
    Returns the audit details; a vault that fails is a ValidationError naming the store."""
    before = robot.credential_store
    if store is _KEEP:
        store = before
        if store is None and password:
            store = credential_store_default(tenant=robot.tenant)
    if store is not None and store.tenant_id != robot.tenant_id:
        raise _invalid("credentialStoreId", "Unknown credential store.")
    details = {}
    moved = (store.pk if store else None) != (before.pk if before else None)
    if moved:
        if before is not None and robot.secret_name and not store_is_read_only(before):
            _secret_delete(store=before, robot=robot, name=robot.secret_name, actor=actor)
        details["credential_store_id"] = {
            "before": before.pk if before else None,
            "after": store.pk if store else None,
        }
        robot.credential_store, robot.secret_name = store, ""
        if store is None or not store_is_read_only(store):
            robot.external_name = ""
    read_only = store is not None and store_is_read_only(store)
    if password:
        if store is None:
            raise _invalid("password", "Choose a credential store for the password.")
        if read_only:
            raise _invalid(
                "password",
                f"The store “{store.name}” is read-only: the password is in the vault already; "
                "name it with ExternalName.",
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise _invalid("password", f"At most {MAX_PASSWORD_LENGTH} characters.")
        name = robot.secret_name or robot_secret_name(robot)
        try:
            store_connection(store).write(name, password)
        except VaultError as error:
            raise _invalid("password", error.message, code=error.reason) from None
        robot.secret_name = name
        details["credential"] = "written"
    if external_name is not None:
        external_name = external_name.strip()
        if external_name and not read_only:
            raise _invalid(
                "externalName",
                "Only a read-only store looks a password up by ExternalName; give a "
                "read-write store the Password itself.",
            )
        if len(external_name) > Robot._meta.get_field("external_name").max_length:
            raise _invalid("externalName", "Too long.")
        if external_name != robot.external_name:
            details["external_name"] = {"before": robot.external_name, "after": external_name}
            robot.external_name = external_name
    if moved or details:
        robot.save(update_fields=["credential_store", "secret_name", "external_name", "updated_at"])
    return details


def robot_credential_delete(*, robot: Robot, actor: Actor) -> None:
    """With the robot: the password we wrote for it, best effort (audited on failure)."""
    store = robot.credential_store
    if store is not None and robot.secret_name and not store_is_read_only(store):
        _secret_delete(store=store, robot=robot, name=robot.secret_name, actor=actor)


def robot_password_resolve(*, robot: Robot, actor: Actor) -> str:
    """The robot's password, read from its store now. Never cached, never logged; each
    resolution is audited (`credential.resolve`) with its outcome and, on failure, the
    reason code of machines.vaults, and raises that VaultError (its message names the
    store and is safe to show)."""
    store = robot.credential_store
    name = robot.secret_name or robot.external_name
    try:
        if store is None or not name:
            raise VaultError(SECRET_NOT_FOUND, "The robot has no credential.")
        value = store_connection(store).read(name)
        if not isinstance(value, str) or not value:
            raise _named(store, VaultError(BAD_FORMAT, "The secret holds no password."))
    except VaultError as error:
        audit_record(
            action="credential.resolve",
            actor=actor,
            tenant=robot.tenant,
            target=robot,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"store_id": store.pk if store else None, "message": error.message},
        )
        raise
    audit_record(
        action="credential.resolve",
        actor=actor,
        tenant=robot.tenant,
        target=robot,
        details={"store_id": store.pk},
    )
    return value
