"""AWS Secrets Manager, through boto3 (SPEC §12).

A robot's secret is the secret named `name`, its SecretString a JSON object whose key
`Value` holds the password (UiPath's layout). The client signs with the store's access key,
or with the host's credentials (boto3's default chain: environment, profile, container or
instance role) when the access key ID is blank; `endpoint_url` points it at a VPC endpoint
(or, in tests, at moto's server).

boto3 builds and signs each request; the `before-send` event hands it to us before botocore
would send it, and we send it through the guarded session (machines.vaults.outbound), so
botocore's own HTTP stack, its proxies from the environment and its retries are never used.
"""

import json
import re
import threading
from contextlib import contextmanager, suppress

import botocore.awsrequest
import botocore.config
import botocore.exceptions
import botocore.session
import requests

from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    UNAUTHORIZED,
    VAULT_UNREACHABLE,
    VaultConfig,
    VaultError,
)
from machines.vaults.outbound import guarded_session, unreachable, url_problem, vault_error_in

WHAT = "AWS Secrets Manager"
VALUE_KEY = "Value"
# AWS error codes of a request that was not authenticated, or not authorized.
UNAUTHORIZED_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredTokenException",
        "ExpiredToken",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})

# Loading botocore's service models takes a while; one session makes every client, and it
# keeps the host's credentials (its default chain) once found, refreshing them as they
# expire. Client creation is serialized: botocore sessions are not thread-safe, the clients
# they make are.
_botocore_session = botocore.session.get_session()
_session_lock = threading.Lock()


def forget_host_credentials() -> None:
    """The next client without an access key looks for the host's credentials again."""
    global _botocore_session
    with _session_lock:
        _botocore_session = botocore.session.get_session()


class _Body:
    """The already-read (and size-capped) body, as botocore reads a raw response."""

    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **kwargs):
        yield self._content


def _sender(session: requests.Session):
    def send(request: botocore.awsrequest.AWSPreparedRequest, **kwargs):
        prepared = requests.Request(
            request.method,
            request.url,
            headers={
                name: value.decode() if isinstance(value, bytes) else value
                for name, value in request.headers.items()
            },
            data=request.body if request.body is not None else b"",
        ).prepare()
        response = session.send(prepared, allow_redirects=False)
        return botocore.awsrequest.AWSResponse(
            response.url, response.status_code, dict(response.headers), _Body(response.content)
        )

    return send


class AWSConnection:
    def __init__(self, config: VaultConfig):
        self.config = config
        fields = config.fields
        self.region = (fields.get("region") or "").strip()
        self.access_key_id = (fields.get("access_key_id") or "").strip()
        self.endpoint_url = (fields.get("endpoint_url") or "").strip() or None

    def check(self) -> None:
        with self._client() as client:
            try:
                client.list_secrets(MaxResults=1)
            except botocore.exceptions.ClientError as error:
                # Signed and recognized, but not allowed to list: the credentials work.
                if _code(error) not in ("AccessDeniedException", "AccessDenied"):
                    raise

    def read(self, name: str) -> str:
        with self._client() as client:
            answer = client.get_secret_value(SecretId=name)
        text = answer.get("SecretString")
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        if not isinstance(value, dict) or not isinstance(value.get(VALUE_KEY), str):
            raise VaultError(
                BAD_FORMAT,
                f"{WHAT}: the secret is not a JSON object with a string under `{VALUE_KEY}`.",
            )
        return value[VALUE_KEY]

    def write(self, name: str, value: str) -> None:
        secret = json.dumps({VALUE_KEY: value})
        with self._client() as client:
            try:
                client.create_secret(Name=name, SecretString=secret)
            except client.exceptions.ResourceExistsException:
                client.put_secret_value(SecretId=name, SecretString=secret)

    def delete(self, name: str) -> None:
        # An absent secret is already gone: not an error.
        with self._client() as client, suppress(client.exceptions.ResourceNotFoundException):
            client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    @contextmanager
    def _client(self):
        """A Secrets Manager client sending through a guarded session, for one operation;
        its errors as VaultError."""
        if not self.region:
            raise VaultError(BAD_FORMAT, f"{WHAT}: no region is set.")
        if self.endpoint_url is not None:
            problem = url_problem(self.endpoint_url)
            if problem is not None:
                raise unreachable(WHAT, problem)
        keys = {}
        if self.access_key_id:
            keys = {
                "aws_access_key_id": self.access_key_id,
                "aws_secret_access_key": self.config.secrets.get("secret_access_key") or "",
            }
        # Made before the deadline starts: building a client is local work.
        try:
            with _session_lock:
                client = _botocore_session.create_client(
                    "secretsmanager",
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=botocore.config.Config(
                        retries={"total_max_attempts": 1},
                        proxies={},
                        connect_timeout=self.config.timeout,
                        read_timeout=self.config.timeout,
                    ),
                    **keys,
                )
        except (botocore.exceptions.BotoCoreError, ValueError):
            raise VaultError(
                BAD_FORMAT, f"{WHAT}: the region or endpoint URL is not valid."
            ) from None
        with guarded_session(self.config, WHAT) as session:
            client.meta.events.register("before-send.secrets-manager", _sender(session))
            try:
                yield client
            except botocore.exceptions.ClientError as error:
                raise _mapped(error) from None
            except botocore.exceptions.NoCredentialsError:
                raise VaultError(
                    UNAUTHORIZED,
                    f"{WHAT}: no access key is set and this host has no AWS credentials.",
                ) from None
            except botocore.exceptions.BotoCoreError as error:
                found = vault_error_in(error)
                if found is not None:
                    raise found from None
                raise unreachable(WHAT, "the request could not be made.") from None
            finally:
                client.close()


def _code(error: botocore.exceptions.ClientError) -> str:
    """The AWS error code, when it looks like one (it is quoted in messages)."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code if re.fullmatch(r"[A-Za-z][A-Za-z0-9.]{0,63}", code) else ""


def _mapped(error: botocore.exceptions.ClientError) -> VaultError:
    code = _code(error)
    if code in NOT_FOUND_CODES:
        return VaultError(SECRET_NOT_FOUND, f"{WHAT}: no secret of that name.")
    if code in ("AccessDeniedException", "AccessDenied"):
        return VaultError(UNAUTHORIZED, f"{WHAT}: the credentials are not allowed to do that.")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "an error")
    if code in UNAUTHORIZED_CODES or status in (401, 403):
        return VaultError(
            UNAUTHORIZED, f"{WHAT}: the credentials were refused ({code or f'HTTP {status}'})."
        )
    return VaultError(
        VAULT_UNREACHABLE, f"{WHAT}: the service answered HTTP {status} ({code or 'no code'})."
    )


def connect(config: VaultConfig) -> AWSConnection:
    return AWSConnection(config)
