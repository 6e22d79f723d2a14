"""The bench's yardstick (`python_floor`): the least a Python WSGI worker can do for an
RS256 client-credentials token, served by the same server with the same settings as ours
(bench/run.py, server_command).

It reads the form, compares one client's secret (BENCH_FLOOR_CLIENT_ID,
BENCH_FLOOR_CLIENT_SECRET), builds claims like ours, signs them with `cryptography` (the
same OpenSSL call as ours) and answers JSON. No framework, no oauthlib, no key store, no
log line, no revocation, no rate limit: never a server to run, only the measure of what
Django, django-oauth-toolkit, oauthlib and our checks cost on top of the signature and the
server, for comparing with the peer.
"""

import base64
import hmac
import json
import os
import time
import uuid
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CLIENT_ID = os.environ["BENCH_FLOOR_CLIENT_ID"]
CLIENT_SECRET = os.environ["BENCH_FLOOR_CLIENT_SECRET"]
ISSUER = "https://127.0.0.1/identity_"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


HEADER = _b64(json.dumps({"alg": "RS256", "kid": "floor", "typ": "at+jwt"}).encode())
REFUSED = b'{"error":"invalid_client"}'


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
    if (
        form.get("grant_type") != "client_credentials"
        or form.get("client_id") != CLIENT_ID
        or not hmac.compare_digest(form.get("client_secret", ""), CLIENT_SECRET)
    ):
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [REFUSED]
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "nbf": now,
        "iat": now,
        "exp": now + 3600,
        "aud": "https://127.0.0.1/orchestrator_",
        "client_id": CLIENT_ID,
        "sub": CLIENT_ID,
        "sub_type": "service.external",
        "prt_id": "00000000-0000-0000-0000-000000000000",
        "scope": ["OR.Machines"],
        "jti": uuid.uuid4().hex,
    }
    signing_input = HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    token = (signing_input + b"." + _b64(signature)).decode()
    body = json.dumps(
        {"access_token": token, "expires_in": 3600, "token_type": "Bearer", "scope": "OR.Machines"}
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
