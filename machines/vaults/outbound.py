"""The one guarded HTTP transport every vault client sends through (SPEC §12).

`guarded_session(config, what)` is a requests Session for one vault operation (check, read,
write or delete); hvac and the CyberArk client use it directly, Azure's SDK through an
azure-core RequestsTransport over it, and boto3 through its `before-send` event. So the rules
below are enforced once, here, whatever client builds the request:

- Address: a `host:port` listed in CREDENTIAL_STORE_OUTBOUND_ALLOWLIST may be reached over
  HTTPS or plain HTTP; any other host only over HTTPS on port 443. Vaults usually live on
  private networks, so private addresses are allowed; the allowlist is what opens plain HTTP
  and other ports (a test's loopback server, a Vault on :8200). Checked for every request,
  redirects included, before any connection is made. No user name or password in a URL.
- Trust: the store's CA (`config.ca_pem`) replaces the system CAs when set; the store's
  client certificate is presented when set; certificates are always verified.
- No proxies, .netrc or CA bundles from the environment (`trust_env = False`, and the
  adapter ignores the `verify`, `cert` and `proxies` a library passes).
- No retries, and no redirect to another scheme, host or port (refused as an answer).
- One deadline for the whole operation (`config.timeout` seconds, every request of it
  together, a login and a read for instance): name resolution is waited for within it,
  each request gets the time left as its connect and read timeouts, and a timer shuts the
  socket down at the deadline, so a server trickling bytes cannot hold a worker.
- At most MAX_BODY_BYTES of body, read as a stream; no compressed bodies.

A refusal or a transport failure raises VaultError(VAULT_UNREACHABLE), or UNAUTHORIZED when
the server refuses the client certificate in the handshake, with a message that names the
store's kind and the host, never a secret, a header or anything the server sent.
"""

import socket
import ssl
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from identity_server.checks import parse_host_port
from identity_server.transport import TRANSPORT_ERRORS, body_capped, error_cause, socket_cut
from machines.vaults import UNAUTHORIZED, VAULT_UNREACHABLE, VaultConfig, VaultError

MAX_BODY_BYTES = 256 * 1024
# TLS alerts a server sends when it refuses the client certificate (or its absence).
CLIENT_CERTIFICATE_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
URL_MAX_LENGTH = 2048
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vault-dns")


def allowlist() -> set[tuple[str, int]]:
    """CREDENTIAL_STORE_OUTBOUND_ALLOWLIST as (host, port) pairs. A malformed entry opens
    nothing (system check identity.E019 stops the server before it serves with one)."""
    pairs = (parse_host_port(entry) for entry in settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST)
    return {pair for pair in pairs if pair is not None}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower().rstrip("."), port


def url_problem(url: str) -> str | None:
    """Why `url` may not be called (a sentence for the admin), or None. No network."""
    if not isinstance(url, str) or not url:
        return "the URL is empty."
    if len(url) > URL_MAX_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        return "the URL is not a valid URL."
    try:
        scheme, host, port = _origin(url)
    except ValueError:
        return "the URL is not a valid URL."
    if scheme not in ("https", "http") or not host:
        return "the URL must be an https:// URL with a host."
    if "@" in urlsplit(url).netloc:
        return "the URL must not contain a user name or password."
    if (host, port) in allowlist() or (scheme == "https" and port == 443):
        return None
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return (
        f"{scheme}://{shown} is not allowed: stores are reached over HTTPS on port 443 unless "
        "the operator lists the host:port in CREDENTIAL_STORE_OUTBOUND_ALLOWLIST."
    )


def where(url: str) -> str:
    """The host:port of `url`, for a message."""
    try:
        _, host, port = _origin(url)
    except ValueError:
        return "the store"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def unreachable(what: str, sentence: str) -> VaultError:
    return VaultError(VAULT_UNREACHABLE, f"{what}: {sentence}")


# --- trust ------------------------------------------------------------------------------


def tls_context(config: VaultConfig, what: str) -> ssl.SSLContext:
    """The store's CA (or the system CAs) and its client certificate, if any."""
    try:
        if config.ca_pem:
            context = ssl.create_default_context(cadata=config.ca_pem)
        else:
            context = ssl.create_default_context()
    except (ssl.SSLError, ValueError):
        raise unreachable(
            what, "the store's CA certificate is not a valid PEM certificate."
        ) from None
    if config.client_cert_pem:
        # ssl loads a certificate chain from files only: a private directory, gone at once.
        with tempfile.TemporaryDirectory(prefix="store-cert-") as directory:
            certificate = Path(directory, "certificate.pem")
            certificate.write_text(config.client_cert_pem)
            key = None
            if config.client_key_pem:
                key = Path(directory, "key.pem")
                key.touch(mode=0o600)
                key.write_text(config.client_key_pem)
            try:
                context.load_cert_chain(certificate, key)
            except (ssl.SSLError, ValueError, OSError):
                raise unreachable(
                    what,
                    "the client certificate or key is not valid PEM, or they do not match.",
                ) from None
    return context


# --- the connection, cut at the deadline --------------------------------------------------


class _Watched:
    """A connection made within the operation's deadline, name resolution included, whose
    socket is shut down at the deadline."""

    deadline: float

    def _new_conn(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise urllib3.exceptions.ConnectTimeoutError(self, "the deadline passed")
        # getaddrinfo cannot be interrupted; waiting for it in a thread bounds it.
        future = _resolver.submit(
            socket.getaddrinfo, self._dns_host, self.port, 0, socket.SOCK_STREAM
        )
        try:
            addresses = future.result(timeout=remaining)
        except ResolveTimeout:
            future.cancel()
            raise urllib3.exceptions.ConnectTimeoutError(self, "resolving timed out") from None
        except (OSError, UnicodeError) as error:
            raise urllib3.exceptions.NameResolutionError(self.host, self, error) from None
        failures = []
        for family, kind, protocol, _, address in addresses:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, kind, protocol)
            sock.settimeout(remaining)
            try:
                sock.connect(address)
            except TimeoutError as error:
                sock.close()
                raise urllib3.exceptions.ConnectTimeoutError(
                    self, "connecting timed out"
                ) from error
            except OSError as error:
                sock.close()
                failures.append(str(error))
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A duplicate descriptor survives the TLS wrapping, which detaches `sock`.
            self._twin = sock.dup()
            self._watchdog = threading.Timer(
                max(0.0, self.deadline - time.monotonic()), socket_cut, args=(self._twin,)
            )
            self._watchdog.daemon = True
            self._watchdog.start()
            return sock
        raise urllib3.exceptions.NewConnectionError(self, "; ".join(failures) or "no address")

    def close(self):
        try:
            super().close()
        finally:
            watchdog, twin = getattr(self, "_watchdog", None), getattr(self, "_twin", None)
            self._watchdog = self._twin = None
            if watchdog is not None:
                watchdog.cancel()
            if twin is not None:
                twin.close()


class _WatchedHTTP(_Watched, HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, HTTPSConnection):
    pass


_TIMEOUTS = (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)


class GuardedAdapter(HTTPAdapter):
    """Sends every request of one operation under the rules of the module docstring."""

    def __init__(self, *, config: VaultConfig, what: str, deadline: float):
        self.what = what
        self.timeout = config.timeout
        self.deadline = deadline
        self._context = tls_context(config, what)
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(
            connections, maxsize, block, ssl_context=self._context, cert_reqs="CERT_REQUIRED"
        )
        deadline = self.deadline
        http_cls = type("Connection", (_WatchedHTTP,), {"deadline": deadline})
        https_cls = type("Connection", (_WatchedHTTPS,), {"deadline": deadline})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": http_cls}),
            "https": type("Pool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls}),
        }

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        # Never a proxy, and the pool's SSL context (the store's CA) is the only trust.
        return self.poolmanager.connection_from_url(request.url)

    def cert_verify(self, conn, url, verify, cert):
        """Trust and the client certificate are the pool's SSL context alone."""

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        problem = url_problem(request.url)
        if problem is not None:
            raise unreachable(self.what, problem)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._too_slow()
        request.headers["Accept-Encoding"] = "identity"
        try:
            response = super().send(request, stream=True, timeout=(remaining, remaining))
            try:
                body = self._body(request, response)
            finally:
                response.close()
        except VaultError:
            raise
        except TRANSPORT_ERRORS as error:
            raise self._failure(request.url, error) from None
        if time.monotonic() >= self.deadline:
            raise self._too_slow()
        response._content = body
        response._content_consumed = True
        return response

    def _body(self, request, response) -> bytes:
        where_to = where(request.url)
        if response.is_redirect:
            location = requests.compat.urljoin(request.url, response.headers.get("Location", ""))
            if _origin(location) != _origin(request.url):
                raise unreachable(
                    self.what,
                    f"{where_to} redirected to another host or scheme, which is not followed.",
                )
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise unreachable(self.what, f"{where_to} sent a compressed answer, which is refused.")
        body = body_capped(response, MAX_BODY_BYTES)
        if body is None:
            raise unreachable(
                self.what,
                f"{where_to} sent more than {MAX_BODY_BYTES // 1024} KiB, this server's limit.",
            )
        return body

    def _too_slow(self) -> VaultError:
        return unreachable(
            self.what, f"no complete answer within {self.timeout:g} s, the store's deadline."
        )

    def _failure(self, url: str, error: Exception) -> VaultError:
        host = where(url)
        refused = error_cause(error, urllib3.exceptions.NewConnectionError)
        if time.monotonic() >= self.deadline or (refused is None and error_cause(error, _TIMEOUTS)):
            return self._too_slow()
        if refused is not None:
            return unreachable(
                self.what, f"no connection to {host}: it refused or could not be reached."
            )
        untrusted = error_cause(error, (ssl.SSLCertVerificationError,))
        if untrusted is not None:
            reason = untrusted.verify_message or "no reason given"
            return unreachable(
                self.what, f"the TLS certificate of {host} is not trusted ({reason})."
            )
        tls = error_cause(error, (ssl.SSLError, ssl.CertificateError))
        if tls is not None:
            reason = getattr(tls, "reason", None) or "no reason given"
            if reason in CLIENT_CERTIFICATE_ALERTS:
                return VaultError(
                    UNAUTHORIZED,
                    f"{self.what}: {host} refused the client certificate ({reason}).",
                )
            return unreachable(self.what, f"the TLS handshake with {host} failed ({reason}).")
        return unreachable(self.what, f"the connection to {host} failed before a complete answer.")


@contextmanager
def guarded_session(config: VaultConfig, what: str):
    """A requests Session for one operation, its deadline starting now."""
    session = requests.Session()
    session.trust_env = False  # no *_PROXY, no .netrc, no REQUESTS_CA_BUNDLE
    adapter = GuardedAdapter(config=config, what=what, deadline=time.monotonic() + config.timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    try:
        yield session
    finally:
        session.close()


def vault_error_in(error: BaseException) -> VaultError | None:
    """A VaultError the transport raised, when a library wrapped it in its own."""
    found = error_cause(error, VaultError)
    return found if isinstance(found, VaultError) else None
