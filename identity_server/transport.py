"""What the two guarded outbound transports share: federation.jwks (identity providers'
discovery and keys, back-channel logout) and machines.vaults.outbound (credential stores).
Their policies differ (public addresses only vs. a vault's private network); these pieces
do not.
"""

import http.client
import socket
from contextlib import suppress

import requests
import urllib3.exceptions

# What a request through either transport may raise besides its own refusals: a connection,
# TLS, protocol or decoding failure (each transport words it for its callers).
TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


def socket_cut(sock: socket.socket) -> None:
    """Shuts a socket down, so that whatever read or handshake is blocked on it returns: how
    a deadline is enforced on a connection."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def error_cause(error: BaseException | None, kinds) -> BaseException | None:
    """The first exception of `kinds` in the chain requests and urllib3 wrap around it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kinds):
            return error
        seen.add(id(error))
        wrapped = [getattr(error, "reason", None), *error.args[:1]]
        wrapped += [error.__cause__, error.__context__]
        error = next((e for e in wrapped if isinstance(e, BaseException)), None)
    return None


def body_capped(response, limit: int) -> bytes | None:
    """A streamed requests response's body, or None if it is (or says it is) larger than
    `limit` bytes: never more than `limit` + 1 bytes are read."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    while len(body) <= limit:
        chunk = response.raw.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return None if len(body) > limit else bytes(body)
