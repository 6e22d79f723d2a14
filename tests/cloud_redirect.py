"""Sends the `uipath` CLI's requests for UiPath's cloud to this server instead.

`uipath auth --client-id … --client-secret … --base-url {server}/{org}/{tenant}` asks for its
token at `https://cloud.uipath.com/identity_/connect/token` whatever `--base-url` says
(uipath.platform.external_applications hard-codes the host), and only then calls the base
URL. No setting of the CLI changes that host. It does honour, as its `--help` documents,
`HTTPS_PROXY` and a CA bundle: `SSL_CERT_FILE` (its `REQUESTS_CA_BUNDLE` is ignored while
truststore is installed, as it is beside the CLI). So this is an HTTPS
proxy that answers `CONNECT cloud.uipath.com:443` itself: it completes the TLS handshake with
a certificate for that name from its own throwaway CA, and relays the decrypted bytes to one
upstream server, this project. Every other CONNECT, and any plain proxy request, is a 403:
nothing goes anywhere but the upstream.

That is the least invasive redirect we found: the CLI's installed files stay as published
(a `.pth` hook or sitecustomize that rewrites its URLs would test a patched CLI), nothing
machine-wide changes (no hosts file, no port 443, no system CA store), and it lasts only as
long as the variables are set for the one command. The server needs no change
either: each relayed request is addressed to it by its own name (the Host header).

    python -m tests.cloud_redirect --upstream http://127.0.0.1:8000

prints the two variables to set, then serves until Ctrl+C. tests/test_uipath_cli.py runs
the real CLI through it.
"""

import argparse
import contextlib
import select
import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import trustme

CLOUD_HOST = "cloud.uipath.com"
_HEAD_LIMIT = 8192
_IDLE_SECONDS = 30


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self):
        head, _ = _read_head(self.request)
        method, target, *_ = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
        if method != "CONNECT" or target != f"{CLOUD_HOST}:443":
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            tls = self.server.tls.wrap_socket(self.request, server_side=True)
            head, rest = _read_head(tls)
            self.server.relayed.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
            with socket.create_connection(self.server.upstream, timeout=_IDLE_SECONDS) as up:
                up.sendall(_for_upstream(head, self.server.upstream) + rest)
                _relay(tls, up)
        except (OSError, ssl.SSLError):
            return  # the client or the upstream went away: nothing to tell anyone


def _read_head(sock) -> tuple[bytes, bytes]:
    """An HTTP message's head (through the blank line) and whatever came after it."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _HEAD_LIMIT:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, separator, rest = data.partition(b"\r\n\r\n")
    return head + separator, rest


def _for_upstream(head: bytes, upstream: tuple[str, int]) -> bytes:
    """The request's head addressed to the upstream by name, so the server needs no
    configuration for the cloud's name, and one request per connection, so no later
    request on it goes by unrewritten."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line.split(b":", 1)[0].strip().lower() not in (b"host", b"connection")
    ]
    host = f"Host: {upstream[0]}:{upstream[1]}".encode()
    return b"\r\n".join([lines[0], host, *kept, b"Connection: close"]) + b"\r\n\r\n"


def _relay(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Copies bytes both ways until one side closes or both are idle."""
    while True:
        if tls.pending():
            readable = [tls]
        else:
            readable, _, _ = select.select([tls, upstream], [], [], _IDLE_SECONDS)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (upstream if source is tls else tls).sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream: tuple[str, int], tls: ssl.SSLContext):
        self.upstream = upstream
        self.tls = tls
        self.relayed: list[str] = []  # the request line of each request relayed
        super().__init__(address, _Handler)


class CloudRedirect:
    """The proxy on a free loopback port, in a thread. `proxy_url` goes into HTTPS_PROXY,
    `ca_file` (its CA certificate) into SSL_CERT_FILE."""

    def __init__(self, upstream: str, *, port: int = 0, ca_file: Path | None = None):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the upstream is this server's http:// base URL")
        ca = trustme.CA()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(CLOUD_HOST).configure_cert(tls)
        # A folder of our own for the CA unless told where: removed when the proxy stops.
        self._own_folder = None if ca_file else Path(tempfile.mkdtemp(prefix="cloud-redirect-"))
        self.ca_file = ca_file or self._own_folder / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._server = _Server(("127.0.0.1", port), (parts.hostname, parts.port or 80), tls)
        self.proxy_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.relayed = self._server.relayed

    def __enter__(self) -> "CloudRedirect":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self.close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.server_close()
        if self._own_folder is not None:
            shutil.rmtree(self._own_folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", default="http://127.0.0.1:8000", help="this server")
    parser.add_argument("--port", type=int, default=9443, help="the proxy's loopback port")
    parser.add_argument("--ca-file", type=Path, help="where to write the CA certificate")
    options = parser.parse_args()
    redirect = CloudRedirect(options.upstream, port=options.port, ca_file=options.ca_file)
    print(f"export HTTPS_PROXY={redirect.proxy_url} SSL_CERT_FILE={redirect.ca_file}", flush=True)
    print(f"{CLOUD_HOST} now means {options.upstream} for whoever uses that proxy (Ctrl+C to stop)")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            redirect.serve_forever()
    finally:
        redirect.close()


if __name__ == "__main__":
    main()
