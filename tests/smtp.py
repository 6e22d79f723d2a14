"""A real SMTP server on loopback for the mail tests (SPEC §9): aiosmtpd's Controller, on a
free port, in its own thread, keeping every message it accepts.

The `smtp_server` fixture starts one for the test, requires SMTP AUTH with the user name and
password of its URL (so a test proves the URL's credentials are the ones sent), and sets
Django's mail settings from that URL exactly as identity_server/settings.py sets them from
EMAIL_URL (identity_server.env.email_settings). `smtp_server.wait_for(n)` waits for the
mails, which tenants.mail sends off the request, after the transaction has committed.

`SmtpServer(starttls=True)` also offers STARTTLS with a certificate from a throwaway CA
(trustme) and refuses AUTH and mail before it; `ca_file` is that CA, for the client.
"""

import email
import email.policy
import re
import ssl
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from identity_server.env import email_settings
from tenants import mail
from tests.processes import free_port

USER = "mailer"
PASSWORD = "p@ss:w/rd"  # characters a URL must percent-encode
LINK = re.compile(r"https?://\S+")


class _Collector:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, *, starttls: bool = False):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.starttls = starttls
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.logins: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.ca_file = ""
        tls_context = None
        if starttls:
            ca = trustme.CA()
            certificate = ca.issue_cert("localhost", self.host)
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(tls_context)
            self._folder = tempfile.TemporaryDirectory()
            self.ca_file = str(Path(self._folder.name) / "ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
        # AUTH without TLS on the plain server: loopback only, it checks the URL's credentials
        # (pyproject.toml silences aiosmtpd's warning about it).
        self.controller = Controller(
            _Collector(self),
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=self.starttls,
            tls_context=tls_context,
            require_starttls=self.starttls,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.lock:
            self.logins.append((login, password))
        return AuthResult(success=(login, password) == (USER, PASSWORD))

    @property
    def url(self) -> str:
        scheme = "smtp+tls" if self.starttls else "smtp"
        return f"{scheme}://{USER}:{quote(PASSWORD, safe='')}@{self.host}:{self.port}"

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """The first `count` messages received, once they are all in."""
        mail.mail_drain(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages[:count])
            time.sleep(0.02)
        raise AssertionError(f"{count} mails expected, {len(self.messages)} received")

    def received(self) -> list[EmailMessage]:
        """Every message received so far, once the queued ones have been sent."""
        mail.mail_drain()
        with self.lock:
            return list(self.messages)


def message_link(message: EmailMessage) -> str:
    """The one link in a mail's text."""
    links = LINK.findall(message.get_content())
    assert len(links) == 1, links
    return links[0]


def use_email_url(settings, url: str) -> None:
    """Django's mail settings from `url`, as settings.py derives them from EMAIL_URL."""
    for name, value in email_settings(url).items():
        setattr(settings, name, value)


@pytest.fixture
def smtp_server(settings):
    server = SmtpServer().start()
    use_email_url(settings, server.url)
    yield server
    mail.mail_drain()
    server.stop()
