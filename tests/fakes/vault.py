"""A HashiCorp Vault that speaks the HTTP API of its KV secrets engines and logins.

Implemented, as documented at developer.hashicorp.com/vault/api-docs:
    POST   /v1/auth/approle/login           {"role_id", "secret_id"} → {"auth": {"client_token", …}}
    POST   /v1/auth/userpass/login/{user}   {"password"} → {"auth": {"client_token", …}}
    GET    /v1/auth/token/lookup-self       → {"data": {…}}
    KV v2 mount: GET/POST/PUT /v1/{mount}/data/{path}, DELETE /v1/{mount}/metadata/{path}
    KV v1 mount: GET/POST/PUT/DELETE /v1/{mount}/{path}
Every request but the logins needs `X-Vault-Token`; a token is valid in the namespace
(`X-Vault-Namespace`) it was issued in. Errors are Vault's: 400 for a refused login, 403
"permission denied" for a missing or unknown token or a path its policy denies, 404 with an
empty `errors` list for a missing secret, 405 for a method a path does not take. Anything
else is refused (404 "unsupported path").
"""

import secrets
import time
import uuid

from tests.fakes.base import FakeServer, Reply, Request

ROLE_ID = "7e4b0a1c-role"
SECRET_ID = "approle-secret-id-9f2d"
USERNAME = "orchestrator"
PASSWORD = "userpass-password-51c3"
ROOT_TOKEN = "hvs.fake-root-token"


def _denied() -> Reply:
    return Reply.json(403, {"errors": ["permission denied"]})


class FakeVault(FakeServer):
    def reset_state(self) -> None:
        with self.lock:
            # mount → KV version; namespace "" is the root namespace.
            self.mounts = {"secret": "2", "kv": "1"}
            self.namespace = ""  # the namespace the logins and the root token belong to
            self.tokens: dict[str, dict] = {ROOT_TOKEN: {"namespace": "", "read_only": False}}
            self.data: dict[tuple[str, str, str], dict] = {}
            self.read_only_paths: set[str] = set()  # paths where tokens may not write

    # --- set-up for tests ------------------------------------------------------------

    def put(self, mount: str, path: str, data: dict, namespace: str = "") -> None:
        with self.lock:
            self.data[(namespace, mount, path)] = {"data": dict(data), "version": 1}

    def get(self, mount: str, path: str, namespace: str = "") -> dict | None:
        with self.lock:
            entry = self.data.get((namespace, mount, path))
            return dict(entry["data"]) if entry else None

    def use_namespace(self, namespace: str) -> None:
        with self.lock:
            self.namespace = namespace
            self.tokens[ROOT_TOKEN]["namespace"] = namespace

    # --- the protocol ----------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = request.path
        if not path.startswith("/v1/"):
            return Reply.json(404, {"errors": ["unsupported path"]})
        rest = path[len("/v1/") :]
        namespace = request.headers.get("x-vault-namespace", "").strip("/")
        if rest == "auth/approle/login":
            return self._login(request, namespace, "approle")
        if rest.startswith("auth/userpass/login/"):
            return self._login(request, namespace, "userpass", rest.rsplit("/", 1)[1])
        token = self._token(request, namespace)
        if token is None:
            return _denied()
        if rest == "auth/token/lookup-self":
            if request.method != "GET":
                return Reply.json(405, {"errors": []})
            return Reply.json(200, {"data": {"id": "", "policies": ["default"], "ttl": 3600}})
        mount, _, inner = rest.partition("/")
        version = self.mounts.get(mount)
        if version is None or not inner:
            return Reply.json(404, {"errors": ["unsupported path"]})
        if version == "2":
            return self._kv2(request, namespace, token, mount, inner)
        return self._kv1(request, namespace, token, mount, inner)

    def _login(self, request: Request, namespace: str, method: str, user: str = "") -> Reply:
        if request.method not in ("POST", "PUT"):
            return Reply.json(405, {"errors": []})
        body = request.json()
        if not isinstance(body, dict):
            return Reply.json(400, {"errors": ["failed to parse JSON input"]})
        with self.lock:
            right_namespace = namespace == self.namespace
        if method == "approle":
            good = body.get("role_id") == ROLE_ID and body.get("secret_id") == SECRET_ID
            refusal = "invalid role or secret ID"
        else:
            good = user == USERNAME and body.get("password") == PASSWORD
            refusal = "invalid username or password"
        if not (good and right_namespace):
            return Reply.json(400, {"errors": [refusal]})
        token = "hvs." + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = {"namespace": namespace, "read_only": False}
        return Reply.json(
            200,
            {
                "request_id": str(uuid.uuid4()),
                "auth": {
                    "client_token": token,
                    "accessor": secrets.token_urlsafe(12),
                    "policies": ["default", "robots"],
                    "token_policies": ["default", "robots"],
                    "lease_duration": 3600,
                    "renewable": True,
                },
            },
        )

    def _token(self, request: Request, namespace: str) -> dict | None:
        with self.lock:
            token = self.tokens.get(request.headers.get("x-vault-token", ""))
        if token is None or token["namespace"] != namespace:
            return None
        return token

    def _kv2(self, request, namespace, token, mount, inner) -> Reply:
        kind, _, path = inner.partition("/")
        if not path:
            return Reply.json(404, {"errors": []})
        key = (namespace, mount, path)
        if kind == "data" and request.method == "GET":
            with self.lock:
                entry = self.data.get(key)
            if entry is None:
                return Reply.json(404, {"errors": []})
            metadata = {"version": entry["version"], "deletion_time": "", "destroyed": False}
            return Reply.json(200, {"data": {"data": entry["data"], "metadata": metadata}})
        if kind == "data" and request.method in ("POST", "PUT"):
            if token["read_only"] or path in self.read_only_paths:
                return _denied()
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
                return Reply.json(400, {"errors": ["no data provided"]})
            with self.lock:
                version = self.data.get(key, {}).get("version", 0) + 1
                self.data[key] = {"data": body["data"], "version": version}
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            return Reply.json(200, {"data": {"version": version, "created_time": now}})
        if kind == "metadata" and request.method == "DELETE":
            if token["read_only"] or path in self.read_only_paths:
                return _denied()
            with self.lock:
                self.data.pop(key, None)
            return Reply(204)
        if kind in ("data", "metadata"):
            return Reply.json(405, {"errors": []})
        return Reply.json(404, {"errors": ["unsupported path"]})

    def _kv1(self, request, namespace, token, mount, path) -> Reply:
        key = (namespace, mount, path)
        if request.method == "GET":
            with self.lock:
                entry = self.data.get(key)
            if entry is None:
                return Reply.json(404, {"errors": []})
            return Reply.json(200, {"data": entry["data"], "lease_duration": 2764800})
        if request.method in ("POST", "PUT"):
            if token["read_only"] or path in self.read_only_paths:
                return _denied()
            body = request.json()
            if not isinstance(body, dict):
                return Reply.json(400, {"errors": ["failed to parse JSON input"]})
            with self.lock:
                self.data[key] = {"data": body, "version": 1}
            return Reply(204)
        if request.method == "DELETE":
            if token["read_only"] or path in self.read_only_paths:
                return _denied()
            with self.lock:
                self.data.pop(key, None)
            return Reply(204)
        return Reply.json(405, {"errors": []})
