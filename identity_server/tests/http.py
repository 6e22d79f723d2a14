"""HTTP helpers for API tests."""

import json


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
        "/identity_/connect/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
