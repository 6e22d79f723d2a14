"""HTTP helpers for API and token endpoint tests."""

import json

from tenants.models import AuditEvent

TOKEN_URL = "/identity_/connect/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Api:
    """The Django test client with a bearer token and JSON bodies."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path):
        return self.client.get(path, headers=self.headers)

    def delete(self, path):
        return self.client.delete(path, headers=self.headers)

    def send(self, method: str, path, body):
        data = body if isinstance(body, str) else json.dumps(body)
        return getattr(self.client, method)(
            path, data, content_type="application/json", headers=self.headers
        )

    def post(self, path, body):
        return self.send("post", path, body)

    def put(self, path, body):
        return self.send("put", path, body)

    def patch(self, path, body):
        return self.send("patch", path, body)


def token_request(client, client_id: str, secret: str):
    """A client credentials request to the token endpoint, answered as it comes."""
    return client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def assertion_form(client_id: str, assertion: str, **extra) -> dict:
    """The form of a token request authenticated by a JWT client assertion (RFC 7523 §2.2),
    as seed 001's curl sends it."""
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }


BASIC_CHALLENGE = 'Basic realm="identity", charset="UTF-8"'


def assert_refused(response, error: str, status: int = 400, description: str | None = None):
    """An RFC 6749 §5.2 error answer, without a token, never cached, with a description
    (exactly `description` when given), and on a 401 the Basic challenge."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error
    assert set(body) == {"error", "error_description"}
    assert body["error_description"]
    if description is not None:
        assert body["error_description"] == description
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers.get("WWW-Authenticate") == (BASIC_CHALLENGE if status == 401 else None)


def failure_reasons() -> list[str]:
    """The reason codes of the audited token request failures, newest first."""
    return list(
        AuditEvent.objects.filter(action="token.request", outcome="failure").values_list(
            "reason_code", flat=True
        )
    )
