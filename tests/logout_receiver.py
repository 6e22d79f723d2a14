"""A relying party's back-channel logout endpoint for tests: HTTPS on loopback with a
throwaway CA, as OpenID Connect Back-Channel Logout 1.0 §2.5 describes it. It records each
POST (path, headers, form) and answers 200, another status, or nothing at all (`hang`), so
that sign-out can be shown not to wait for it.

Tests get it through the `logout_receiver` fixture, which allowlists it for the guarded
fetcher (FEDERATION_OUTBOUND_ALLOWLIST, FEDERATION_CA_BUNDLE), and `received(n)` waits for
the n-th notification: they are sent after the response, from another thread.
"""

import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import trustme


@dataclass(frozen=True)
class Notification:
    path: str
    content_type: str
    form: dict[str, str]


class LogoutReceiver:
    def __init__(self):
        ca = trustme.CA()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(self._tls)
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
            f.write(ca.cert_pem.bytes())
        self.ca_bundle = f.name
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._changed = threading.Condition()
        self.reset()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self._changed:
            self.notifications: list[Notification] = []
            self.status = 200
            self._release = getattr(self, "_release", threading.Event())
            self._release.set()  # a handler still hanging from an earlier test lets go
            self._release = threading.Event()
            self._hanging = False

    def hang(self) -> None:
        """From now on, take each request and never answer it (until reset)."""
        self._hanging = True

    def url(self, path: str = "/backchannel-logout") -> str:
        return f"https://localhost:{self.port}{path}"

    @property
    def allowlist(self) -> list[str]:
        return [f"localhost:{self.port}", f"127.0.0.1:{self.port}"]

    def received(self, count: int = 1, timeout: float = 15) -> list[Notification]:
        """The first `count` notifications, waiting for them up to `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.notifications) >= count, timeout)
            assert len(self.notifications) >= count, self.notifications
            return list(self.notifications[:count])

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        Path(self.ca_bundle).unlink(missing_ok=True)

    def _record(self, notification: Notification) -> None:
        with self._changed:
            self.notifications.append(notification)
            self._changed.notify_all()


class _Handler(BaseHTTPRequestHandler):
    def setup(self):
        self.request = self.server.receiver._tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {name: values[0] for name, values in parse_qs(body).items()}
        receiver._record(Notification(self.path, self.headers.get("Content-Type", ""), form))
        if receiver._hanging:
            receiver._release.wait(60)
            return
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def log_message(self, format, *args):
        """Quiet."""


@pytest.fixture(scope="session")
def logout_receiver_server():
    server = LogoutReceiver()
    yield server
    server.stop()


@pytest.fixture
def logout_receiver(logout_receiver_server, settings):
    """The receiver, reset and allowlisted; every notification queued by the test has been
    sent (or given up) before the next test starts."""
    from identity_server import signout

    logout_receiver_server.reset()
    settings.FEDERATION_OUTBOUND_ALLOWLIST = logout_receiver_server.allowlist
    settings.FEDERATION_CA_BUNDLE = logout_receiver_server.ca_bundle
    yield logout_receiver_server
    logout_receiver_server.reset()
    assert signout.backchannel_drain(timeout=60)
