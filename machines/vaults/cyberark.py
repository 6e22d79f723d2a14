"""CyberArk's Central Credential Provider (CCP), a plain HTTPS GET (SPEC §12). Read-only.

    GET {ccp_url}/{web_service_name}/api/Accounts?AppID=…&Safe=…&Folder=…&Object=…
    200 {"Content": password, "UserName": …, "Address": …, …}
    or an error {"ErrorCode": …, "ErrorMsg": …}: 404 APPAP004E (no such object), 403
    APPAP306E / APPAP008E (the application failed authentication or is not allowed), 400
    AIMWS031E / CASVL010E / APPAP081E (the query), 500 APPAP282E and others.

The CCP authenticates the application by its AppID and by what its admins require of it:
the client certificate presented in the TLS handshake (the store's `client_cert_pem` and
`client_key_pem`, in the guarded session's SSL context, machines.vaults.outbound), or only
the caller's address, in which case the store has no certificate. A CCP that requires a
certificate and gets none or an unknown one refuses the handshake: unauthorized.
CCP refuses `+ & % ;` and spaces in query values; so do we, before any call.
"""

import json

from machines.vaults import (
    BAD_FORMAT,
    SECRET_NOT_FOUND,
    UNAUTHORIZED,
    VAULT_UNREACHABLE,
    VaultConfig,
    VaultError,
)
from machines.vaults.outbound import guarded_session, unreachable, url_problem, where

WHAT = "CyberArk CCP"
DEFAULT_WEB_SERVICE = "AIMWebService"
FORBIDDEN_CHARACTERS = frozenset("+&%; ")
NOT_FOUND_CODES = frozenset({"APPAP004E"})
UNAUTHORIZED_CODES = frozenset({"APPAP306E", "APPAP008E"})
QUERY_CODES = frozenset({"AIMWS031E", "CASVL010E", "APPAP081E"})


class CyberArkConnection:
    def __init__(self, config: VaultConfig):
        self.config = config
        fields = config.fields
        self.ccp_url = (fields.get("ccp_url") or "").strip().rstrip("/")
        self.web_service = (fields.get("web_service_name") or DEFAULT_WEB_SERVICE).strip("/")
        self.query = {
            "AppID": fields.get("app_id") or "",
            "Safe": fields.get("safe") or "",
            "Folder": fields.get("folder") or "",
        }

    def check(self) -> None:
        # CCP has no call that only authenticates: an object that cannot exist answers
        # APPAP004E to an application it accepts, APPAP306E to one it refuses.
        try:
            self.read("uipath-connection-check")
        except VaultError as error:
            if error.reason != SECRET_NOT_FOUND:
                raise

    def read(self, name: str) -> str:
        query = {**self.query, "Object": name}
        if not query["Folder"]:
            del query["Folder"]  # CCP's default folder, Root
        for field, value in query.items():
            if not value or FORBIDDEN_CHARACTERS & set(value) or not value.isprintable():
                raise VaultError(
                    BAD_FORMAT,
                    f"{WHAT}: {field} must be set, without spaces or any of + & % ;.",
                )
        problem = url_problem(self.ccp_url)
        if problem is not None:
            raise unreachable(WHAT, problem)
        url = f"{self.ccp_url}/{self.web_service}/api/Accounts"
        with guarded_session(self.config, WHAT) as session:
            response = session.get(
                url, params=query, headers={"Accept": "application/json"}, allow_redirects=False
            )
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise VaultError(
                VAULT_UNREACHABLE,
                f"{WHAT}: {where(url)} answered HTTP {response.status_code}, not JSON.",
            )
        if response.status_code == 200:
            content = answer.get("Content")
            if not isinstance(content, str):
                raise VaultError(BAD_FORMAT, f"{WHAT}: the account has no password (Content).")
            return content
        code = answer.get("ErrorCode")
        code = code if isinstance(code, str) and code.isalnum() and len(code) <= 16 else ""
        if code in NOT_FOUND_CODES or (response.status_code == 404 and not code):
            raise VaultError(
                SECRET_NOT_FOUND, f"{WHAT}: no account matches ({code or 'HTTP 404'})."
            )
        if code in UNAUTHORIZED_CODES or response.status_code in (401, 403):
            raise VaultError(
                UNAUTHORIZED,
                f"{WHAT}: the application (AppID and client certificate) was refused "
                f"({code or f'HTTP {response.status_code}'}).",
            )
        if code in QUERY_CODES:
            raise VaultError(BAD_FORMAT, f"{WHAT}: the query was refused ({code}).")
        raise VaultError(
            VAULT_UNREACHABLE,
            f"{WHAT}: the provider answered HTTP {response.status_code} ({code or 'no code'}).",
        )

    def write(self, name: str, value: str) -> None:
        raise VaultError(BAD_FORMAT, f"{WHAT} is read-only: passwords are not written to it.")

    def delete(self, name: str) -> None:
        """Nothing of ours lives in a read-only store."""


def connect(config: VaultConfig) -> CyberArkConnection:
    return CyberArkConnection(config)
