"""An HTTPS server on loopback that a fake vault answers through, with the misbehaviours the
vault clients must survive: going down (the port refuses connections), stalling before the
answer and trickling it a byte at a time.

A fake subclasses FakeServer and implements `handle(request) -> Reply`. Every request is
recorded (method, path, headers, body) so tests can check what the client sent.
"""

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import trustme

CERTIFICATE_NAMES = ("localhost", "127.0.0.1")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    client_certificate: dict | None = None

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value, headers: dict | None = None) -> "Reply":
        return cls(
            status,
            json.dumps(value).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )


class FakeServer:
    """The server and its state; safe to call from any thread."""

    certificate_names = CERTIFICATE_NAMES

    def __init__(self, *, client_ca: trustme.CA | None = None):
        self.ca = trustme.CA()
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.certificate_names).configure_cert(self.tls)
        if client_ca is not None:  # TLS client authentication, as CyberArk's CCP does
            self.tls.verify_mode = ssl.CERT_REQUIRED
            client_ca.configure_trust(self.tls)
        self.lock = threading.Lock()
        self.port = 0
        self._server = None
        self.requests: list[Request] = []
        self._wake = threading.Event()
        self.delay = 0.0
        self.trickle = False
        self.forced: Reply | None = None

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def allowlist(self) -> list[str]:
        return [f"127.0.0.1:{self.port}", f"localhost:{self.port}"]

    def up(self) -> "FakeServer":
        with self.lock:
            if self._server is None:
                server = _Server(("127.0.0.1", self.port), _Handler)
                server.fake = self
                self.port = server.server_address[1]
                self._server = server
                threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        """Closes the listening socket: connections are refused until `up()`."""
        with self.lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def stall(self, seconds: float, *, trickle: bool = False) -> None:
        """Waits `seconds` before answering (with `trickle`, before each byte)."""
        self.delay, self.trickle = seconds, trickle

    def force(self, reply: "Reply | None") -> None:
        """Answers every request with `reply` (None: back to the protocol)."""
        with self.lock:
            self.forced = reply

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.forced = None
            self.delay, self.trickle = 0.0, False
            self._wake.set()  # handlers still stalling for an earlier test finish now
            self._wake = threading.Event()
        self.reset_state()
        self.up()

    def reset_state(self) -> None:
        """The fake's data back to its initial state (subclasses)."""

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def _dispatch(self, request: Request) -> tuple[Reply, float, bool, threading.Event]:
        with self.lock:
            self.requests.append(request)
            delay, trickle, wake, forced = self.delay, self.trickle, self._wake, self.forced
        try:
            reply = forced or self.handle(request)
        except (ValueError, KeyError, TypeError):
            reply = Reply.json(400, {"errors": ["malformed request"]})
        return reply, delay, trickle, wake


def send_raw(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: dict,
    body: bytes,
    *,
    delay: float,
    trickle: bool,
    wake: threading.Event,
) -> None:
    """Writes a whole response by hand and closes the connection: after `delay` seconds, or,
    with `trickle`, a byte every `delay` seconds (a server that hangs or crawls). `wake`
    set ends the wait and sends nothing more (the fake is being stopped or reset)."""
    headers = {"Connection": "close", **headers}
    head = f"HTTP/1.1 {status} {handler.responses.get(status, ('',))[0]}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    data = head.encode("latin-1") + body
    handler.close_connection = True
    if not trickle:
        if delay and wake.wait(delay):
            return
        handler.wfile.write(data)
        return
    for index in range(len(data)):
        if wake.wait(delay):
            return
        handler.wfile.write(data[index : index + 1])
        handler.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer

    def handle_error(self, request, client_address):
        """Clients that give up (deadline, refused certificate) are part of the tests."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self):
        # The handshake in the connection's own thread: a stalled client holds up no one.
        self.request = self.server.fake.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def _serve(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_certificate=self.request.getpeercert() or None,
        )
        reply, delay, trickle, wake = self.server.fake._dispatch(request)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        send_raw(self, reply.status, headers, reply.body, delay=delay, trickle=trickle, wake=wake)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_LIST = do_HEAD = _serve

    def log_message(self, format, *args):
        """Quiet."""
