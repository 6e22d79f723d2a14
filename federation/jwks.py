"""Guarded outbound fetches of identity providers' discovery documents and keys (SPEC §5).

OpenID Connect Discovery 1.0 §4: the configuration is at the issuer (any trailing slash
removed) + `/.well-known/openid-configuration`, and its `issuer` must equal the issuer
exactly (§4.3). RFC 7517 §5: the key set at its `jwks_uri`; RFC 7518 §6.3: RSA keys.

This is the only module that makes outbound HTTP requests, so every one of them passes
the same guards against server-side request forgery (an admin names the URL); besides the
GETs of identity providers, `post_form` POSTs back-channel logout tokens (SPEC §8) to the
URIs applications register, and `post_form_json` exchanges sign-in codes at the token
endpoints of organizations' identity providers (SPEC §9, federation.relying_party):
- HTTPS only; an issuer has a host and no user name, password, query or fragment.
- The host is resolved once, and every address it resolves to must be public: not
  loopback, private, shared, link-local, unique-local, site-local, multicast, reserved,
  unspecified or the cloud metadata address, nor such an IPv4 address inside IPv6
  (IPv4-mapped, 6to4, NAT64). FEDERATION_OUTBOUND_ALLOWLIST opens exactly the `host:port`
  pairs it lists (host by name or address), and nothing else.
- The connection goes to an address checked above (no second resolution, so no DNS
  rebinding), while TLS uses the real host name for SNI and certificate verification,
  against certifi's CAs plus FEDERATION_CA_BUNDLE.
- No redirects, no proxies from the environment, no compressed bodies.
- One deadline for the whole fetch (FEDERATION_FETCH_TIMEOUT_SECONDS for discovery and
  JWKS together), enforced by cutting the socket, so a server trickling bytes cannot hold
  a worker.
- At most MAX_BODY_BYTES of body, read as a stream; a JSON content type; a JSON object.

A refusal raises IssuerUnreachable, with three things: its str() tells the admin who typed
the issuer precisely and safely what went wrong (the API's 400, the site's field error);
`reason` (a stable code) and `detail` (the operator's sentence, with the addresses a host
resolved to and the libraries' errors) go to the audit log and the server log. The token
endpoint shows neither, only UNREACHABLE_MESSAGE. The reasons:
    invalid_url            not a URL with a host and a valid port
    url_too_long           longer than URL_MAX_LENGTH
    not_https              another scheme
    has_userinfo           a user name or password in the URL
    has_query_or_fragment  an issuer with `?` or `#` (OIDC Discovery §4: none)
    dns_failed             the host name does not resolve
    address_not_public     it resolves to a non-public address the allowlist does not open
    port_not_allowed       the allowlist opens that host or address, on another port
    connect_failed         no TCP connection to any checked address
    tls_failed             the handshake or the certificate failed
    deadline_exceeded      the fetch took longer than the deadline
    redirect_refused       a 3xx answer (redirects are not followed)
    http_status            an answer other than 200
    content_encoding       a compressed body, which could expand past the cap
    not_json               a content type other than JSON
    too_large              a body over MAX_BODY_BYTES
    invalid_json           not a JSON object
    issuer_mismatch        the discovery document names another issuer
    jwks_uri_missing       the discovery document has no `jwks_uri` string
    no_rsa_signing_key     the key set has no usable RSA signing key (see usable_rsa_keys)
    private_key_published  the key set holds a private key (a member d, p, q, dp, dq, qi
                           or k): whoever published it has leaked it, so none of its keys
                           is trusted
    no_signing_key         an application's own JWKS URL serves no usable signing key
                           (see usable_signing_keys)

The token path and evaluate read keys through `issuer_keys`, a cache per issuer (SPEC §5);
an application's own JWKS URL (SPEC §11) through `jwks_uri_keys`, the same cache under its
own entries, fetched directly (no discovery) and filtered by `usable_signing_keys`:
- The keys live in the shared cache (Redis in production) with the time they were
  fetched, and each process keeps a copy, which it compares with the shared one at most
  every LOCAL_SECONDS. A warm request makes no outbound call and no cache round trip.
- A cold cache, an unknown `kid`, or keys older than REFRESH_SECONDS lead to a fetch, but
  at most one per issuer every FETCH_INTERVAL_SECONDS across all processes: the fetching
  process takes a lock in the shared cache (`cache.add`, atomic), which is never released,
  only expires. After a failed fetch it is held for 1, 2, 4 minutes, then
  BACKOFF_MAX_SECONDS (5) while failures go on. On a cold cache, a request that finds
  another process fetching waits for its answer, within the fetch deadline.
- While fetches fail, keys are served stale for up to STALE_SECONDS (24 h) after the last
  successful fetch; after that the issuer is unreachable until it answers again.
- An empty key set is never cached: issuer_keys_fetch refuses it (`no_rsa_signing_key`).
- If the shared cache is down, each process uses its own copy and its own lock, so each
  fetches at most once a minute per issuer.
The cache adds two refusal reasons: `fetch_backoff` (a cold cache while fetches are held
back after a failure) and `fetch_in_progress` (another process's fetch did not answer
within the deadline).
"""

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool

from identity_server import metrics, shared_cache
from identity_server.checks import parse_host_port
from identity_server.transport import TRANSPORT_ERRORS, body_capped, error_cause, socket_cut

logger = logging.getLogger(__name__)

UNREACHABLE_MESSAGE = (
    "The issuer's OpenID configuration or JWKS endpoint is unreachable or invalid."
)
DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_BODY_BYTES = 64 * 1024
URL_MAX_LENGTH = 1024
MIN_RSA_BITS = 2048
JSON_TYPES = ("application/json",)
JWKS_TYPES = ("application/json", "application/jwk-set+json")
# Link-local already, but the target of most SSRF, so named: AWS, GCP, Azure (IPv4), AWS (v6).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_DETAIL_VALUE_LENGTH = 200
_MESSAGE_VALUE_LENGTH = 120

# getaddrinfo cannot be interrupted; waiting for it here keeps it inside the deadline.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="federation-dns")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class IssuerUnreachable(Exception):
    """The issuer's configuration or keys could not be fetched or were unusable.

    str() and `message`: the cause, for the admin who named the issuer. It names what was
    fetched, quotes what the network sent only escaped and cut short (`_quoted`), and never
    an address a host name resolved to: a caller of the API learns that a name is not
    public, not what is behind it. `reason` (a code from the module docstring) and `detail`
    (a sentence for the operator) are for the audit log and the server log.
    """

    def __init__(self, reason: str, detail: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.detail = detail
        self.message = message


def _shown(value) -> str:
    """A value from the network or the request, cut short for a detail sentence."""
    text = repr(value)
    return text if len(text) <= _DETAIL_VALUE_LENGTH else text[:_DETAIL_VALUE_LENGTH] + "…"


def _escaped(text: str) -> str:
    """Text from the network or the request, for a message: characters that are not
    printable (controls, bidirectional overrides, line separators) as \\u escapes, cut after
    _MESSAGE_VALUE_LENGTH characters, so a hostile server can neither forge lines nor fill
    the page."""
    shown = "".join(
        char if char.isprintable() else f"\\u{ord(char):04x}"
        for char in str(text)[: _MESSAGE_VALUE_LENGTH + 1]
    )
    return shown if len(shown) <= _MESSAGE_VALUE_LENGTH else shown[:_MESSAGE_VALUE_LENGTH] + "…"


def _quoted(text: str) -> str:
    """`_escaped(text)` in backquotes: a value, told apart from the sentence around it."""
    return f"`{_escaped(text)}`"


def _deadline_message(what: str) -> str:
    return (
        f"{what} within {settings.FEDERATION_FETCH_TIMEOUT_SECONDS} s, this server's deadline "
        "for the discovery document and the key set together."
    )


# --- the URL, without the network -------------------------------------------------------


def _url_problem(url: str, what: str = "The URL") -> tuple[str, str] | None:
    """(reason, message for the user) when `url` may not be fetched at all; `what` names
    it in the message ("The issuer")."""
    if not isinstance(url, str) or not url:
        return "invalid_url", f"{what} must be an HTTPS URI."
    if len(url) > URL_MAX_LENGTH:
        return "url_too_long", f"{what} must have at most {URL_MAX_LENGTH} characters."
    if any(char.isspace() or not char.isprintable() for char in url):
        return "invalid_url", f"{what} must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        return "invalid_url", f"{what} is not a valid HTTPS URI."
    if parts.scheme != "https":
        return "not_https", f"{what} must be an https:// URI."
    if "@" in parts.netloc:
        return "has_userinfo", f"{what} must not contain a user name or password."
    if not parts.hostname:
        return "invalid_url", f"{what} must name a host."
    return None


def _issuer_problem(issuer: str) -> tuple[str, str] | None:
    problem = _url_problem(issuer, "The issuer")
    if problem is None and ("?" in issuer or "#" in issuer):
        problem = "has_query_or_fragment", "The issuer must not have a query or a fragment."
    return problem


def issuer_uri_problem(issuer: str) -> str | None:
    """Why `issuer` cannot be a federated credential's issuer, for the field error; None
    when it may be fetched. No network: the fetch itself comes after."""
    problem = _issuer_problem(issuer)
    return problem[1] if problem else None


# --- addresses ------------------------------------------------------------------------


def address_is_public(address: Address) -> bool:
    """Whether `address` is a globally reachable unicast address.

    IPv4 inside IPv6 is judged as the IPv4 address the packets reach: IPv4-mapped (the OS
    connects over IPv4) and NAT64 (the gateway does); 6to4 and IPv4-compatible forms are
    refused as well by the IPv6 checks that follow.
    """
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address_is_public(address.ipv4_mapped)
        if address in NAT64_PREFIX:
            return address_is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not address_is_public(address.sixtofour):
            return False
    if address in METADATA_ADDRESSES:
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
    )


def outbound_allowlist() -> list[tuple[str, int]]:
    """FEDERATION_OUTBOUND_ALLOWLIST as (host, port) pairs. A malformed entry opens nothing
    (system check identity.E004 stops the server before it serves with one)."""
    pairs = (parse_host_port(entry) for entry in settings.FEDERATION_OUTBOUND_ALLOWLIST)
    return [pair for pair in pairs if pair is not None]


def _entry_matches(entry_host: str, host: str, address: Address) -> bool:
    if entry_host == host:
        return True
    try:
        return ipaddress.ip_address(entry_host) == address
    except ValueError:
        return False


def _resolve(host: str, port: int, deadline: float) -> list[tuple]:
    """getaddrinfo's answers for a TCP connection, within the deadline."""
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except ResolveTimeout:
        future.cancel()
        raise IssuerUnreachable(
            "deadline_exceeded",
            f"resolving {host} did not finish before the deadline",
            _deadline_message(f"The host name {_quoted(host)} did not resolve"),
        ) from None
    except (OSError, UnicodeError) as error:
        raise IssuerUnreachable(
            "dns_failed",
            f"{host} does not resolve: {error}",
            _not_fetchable(host),
        ) from None


def checked_addresses(host: str, port: int, deadline: float) -> list[tuple]:
    """Resolves `host` once; (family, sockaddr) pairs to connect to, when every address
    is public or opened by the allowlist for this port. Raises IssuerUnreachable."""
    host = host.lower().rstrip(".")
    allowlist = outbound_allowlist()
    targets = []
    for family, _, _, _, sockaddr in _resolve(host, port, deadline):
        address = ipaddress.ip_address(sockaddr[0])
        if not address_is_public(address):
            named = host if host == str(address) else f"{host} resolves to {address}, which"
            matching_ports = {p for h, p in allowlist if _entry_matches(h, host, address)}
            if port not in matching_ports:
                if matching_ports:
                    raise IssuerUnreachable(
                        "port_not_allowed",
                        f"{named} is not public, and FEDERATION_OUTBOUND_ALLOWLIST opens it "
                        f"on port {', '.join(map(str, sorted(matching_ports)))}, not {port}",
                        _not_fetchable(host),
                    )
                raise IssuerUnreachable(
                    "address_not_public",
                    f"{named} is not a public address",
                    _not_fetchable(host),
                )
        if (family, sockaddr) not in targets:
            targets.append((family, sockaddr))
    if not targets:
        raise IssuerUnreachable(
            "dns_failed",
            f"{host} resolves to no address",
            _not_fetchable(host),
        )
    return targets


def _not_fetchable(host: str) -> str:
    """The admin's message for a host name that does not resolve, resolves to a non-public
    address, or is allowlisted on another port: one sentence for all three, so that the
    issuer field cannot be used to map which internal names exist and which this server
    may reach (the audit log and the server log keep the precise reason)."""
    return (
        f"Address not allowed: {_quoted(host)} does not resolve to a public address this "
        "server may fetch from (loopback, private, link-local and other non-public addresses "
        "are refused unless the operator allows them in FEDERATION_OUTBOUND_ALLOWLIST)."
    )


# --- the connection -------------------------------------------------------------------


class _NoConnection(urllib3.exceptions.NewConnectionError):
    def __init__(self, conn, failures: str):
        super().__init__(conn, failures)
        self.failures = failures


_TIMEOUTS = (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)


class _PinnedConnection(HTTPSConnection):
    """An HTTPS connection to the checked addresses only, cut at the deadline.

    The pool gives it the real host name, so SNI, certificate verification and the Host
    header use it; only the TCP connection is made differently.
    """

    def __init__(self, *args, targets: list[tuple], deadline: float, **kwargs):
        super().__init__(*args, **kwargs)
        self._targets = targets
        self._deadline = deadline
        self._watchdog: threading.Timer | None = None
        self._twin: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        # urllib3 would resolve the name again here, and a second answer may point anywhere.
        failures = []
        for family, sockaddr in self._targets:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(remaining)
            try:
                sock.connect(sockaddr)
            except TimeoutError as error:
                sock.close()
                raise urllib3.exceptions.ConnectTimeoutError(
                    self, f"connecting to {sockaddr[0]} timed out"
                ) from error
            except OSError as error:
                sock.close()
                failures.append(f"{sockaddr[0]}: {error}")
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._watch(sock)
            return sock
        raise _NoConnection(self, "; ".join(failures) or "the deadline passed before connecting")

    def _watch(self, sock: socket.socket) -> None:
        """Shuts the connection down at the deadline, whatever read or handshake is blocked
        on it. A duplicate descriptor survives the TLS wrapping, which detaches `sock`."""
        self._twin = sock.dup()
        self._watchdog = threading.Timer(
            max(0.0, self._deadline - time.monotonic()), socket_cut, args=(self._twin,)
        )
        self._watchdog.daemon = True
        self._watchdog.start()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if self._twin is not None:
                self._twin.close()
                self._twin = None


class _PinnedPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedConnection


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=requests.certs.where())
    if settings.FEDERATION_CA_BUNDLE:
        try:
            context.load_verify_locations(cafile=settings.FEDERATION_CA_BUNDLE)
        except OSError as error:  # system check identity.E006 reports it at start too
            raise IssuerUnreachable(
                "tls_failed",
                f"FEDERATION_CA_BUNDLE cannot be loaded: {error}",
                "This server's own list of trusted certificate authorities "
                "(FEDERATION_CA_BUNDLE) cannot be loaded; ask its operator.",
            ) from None
    return context


class _PinnedAdapter(HTTPAdapter):
    """Sends the one request of a fetch through a pool bound to the checked addresses."""

    def __init__(self, *, host: str, port: int, targets: list[tuple], deadline: float):
        super().__init__(max_retries=0)
        self._pool = _PinnedPool(
            host,
            port,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ssl_context=_tls_context(),
            targets=targets,
            deadline=deadline,
        )

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self._pool

    def cert_verify(self, conn, url, verify, cert):
        """Trust is the pool's SSL context (certifi plus FEDERATION_CA_BUNDLE) alone."""

    def close(self):
        self._pool.close()
        super().close()


# --- fetching -------------------------------------------------------------------------


def _transport_failure(url: str, error: Exception, deadline: float) -> IssuerUnreachable:
    # urllib3 files a refused connection under its timeouts; it is not one.
    refused = error_cause(error, _NoConnection)
    if time.monotonic() >= deadline or (refused is None and error_cause(error, _TIMEOUTS)):
        return IssuerUnreachable(
            "deadline_exceeded",
            f"{url} did not answer completely within the "
            f"{settings.FEDERATION_FETCH_TIMEOUT_SECONDS} s deadline",
            _deadline_message(f"No complete answer from {_quoted(url)}"),
        )
    host = _quoted(urlsplit(url).netloc)
    if refused is not None:
        return IssuerUnreachable(
            "connect_failed",
            f"{url} is unreachable: {refused.failures}",
            f"No connection to {host}: it refused or could not be reached.",
        )
    untrusted = error_cause(error, (ssl.SSLCertVerificationError,))
    if untrusted is not None:
        return IssuerUnreachable(
            "tls_failed",
            f"TLS with {url} failed: {_shown(str(untrusted))}",
            f"TLS certificate not trusted: the certificate of {host} failed verification "
            f"({_escaped(untrusted.verify_message or 'no reason given')}).",
        )
    tls = error_cause(error, (ssl.SSLError, ssl.CertificateError))
    if tls is not None:
        return IssuerUnreachable(
            "tls_failed",
            f"TLS with {url} failed: {_shown(str(tls))}",
            f"The TLS handshake with {host} failed "
            f"({_escaped(getattr(tls, 'reason', None) or 'no reason given')}).",
        )
    return IssuerUnreachable(
        "connect_failed",
        f"{url} failed: {_shown(str(error))}",
        f"The connection to {host} failed before a complete answer.",
    )


def _body(
    response: requests.Response, url: str, media_types: tuple[str, ...], statuses=(200,)
) -> bytes:
    """The body of a JSON answer with one of `statuses`, refused past MAX_BODY_BYTES
    without reading on."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        raise IssuerUnreachable(
            "redirect_refused",
            f"{url} redirects ({status}) to {_shown(location)}; not followed",
            f"HTTP {status} at {_quoted(url)}: a redirect to {_quoted(location)}, which this "
            "server does not follow; enter the address that answers itself.",
        )
    if status not in statuses:
        raise IssuerUnreachable(
            "http_status", f"{url} answered HTTP {status}", f"HTTP {status} at {_quoted(url)}."
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise IssuerUnreachable(
            "content_encoding",
            f"{url} sent a {_shown(encoding)} body",
            f"{_quoted(url)} sent a compressed body ({_quoted(encoding)}); this server "
            "accepts only uncompressed ones.",
        )
    content_type = response.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() not in media_types:
        raise IssuerUnreachable(
            "not_json",
            f"{url} answered Content-Type {_shown(content_type)}, not JSON",
            f"Not JSON: {_quoted(url)} answered with Content-Type "
            f"{_quoted(content_type) if content_type else 'none'}, not {' or '.join(media_types)}.",
        )
    too_large = IssuerUnreachable(
        "too_large",
        f"{url} sent more than {MAX_BODY_BYTES} bytes",
        f"{_quoted(url)} sent more than {MAX_BODY_BYTES // 1024} KiB, this server's limit.",
    )
    body = body_capped(response, MAX_BODY_BYTES)
    if body is None:
        raise too_large
    return body


@contextmanager
def _guarded_session(url: str, deadline: float, what: str = "The URL"):
    """A requests session for one call to `url` through every guard of the module
    docstring, with the seconds left before `deadline`: the URL checked, its addresses
    checked and pinned, no proxy or environment settings; any transport failure becomes
    IssuerUnreachable."""
    problem = _url_problem(url, what)
    if problem is not None:
        raise IssuerUnreachable(problem[0], f"{_shown(url)}: {problem[1]}", problem[1])
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    targets = checked_addresses(host, port, deadline)
    session = requests.Session()
    session.trust_env = False  # no HTTPS_PROXY, no .netrc credentials, no REQUESTS_CA_BUNDLE
    try:
        session.mount(
            "https://", _PinnedAdapter(host=host, port=port, targets=targets, deadline=deadline)
        )
        yield session, deadline - time.monotonic()
    except IssuerUnreachable:
        raise
    except TRANSPORT_ERRORS as error:
        raise _transport_failure(url, error, deadline) from error
    finally:
        session.close()


def fetch_json(
    url: str, *, deadline: float | None = None, media_types=JSON_TYPES, what: str = "The URL"
) -> dict:
    """GET `url` through every guard of the module docstring; the JSON object it serves.

    `deadline` is a time.monotonic() value (default: FEDERATION_FETCH_TIMEOUT_SECONDS from
    now); `what` names the URL in a refusal's message. Raises IssuerUnreachable.
    """
    if deadline is None:
        deadline = time.monotonic() + settings.FEDERATION_FETCH_TIMEOUT_SECONDS
    with (
        _guarded_session(url, deadline, what) as (session, remaining),
        session.get(
            url,
            headers={"Accept": ", ".join(media_types), "Accept-Encoding": "identity"},
            allow_redirects=False,
            stream=True,
            timeout=(remaining, remaining),
        ) as response,
    ):
        if time.monotonic() >= deadline:
            # The watchdog cut the headers short; urllib3 keeps what it had read.
            raise _transport_failure(url, TimeoutError(), deadline)
        body = _body(response, url, media_types)
    if time.monotonic() >= deadline:
        # The watchdog may have cut a body short, and what was read may still parse.
        raise _transport_failure(url, TimeoutError(), deadline)
    return _json_object(body, url)


def _json_object(body: bytes, url: str) -> dict:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise IssuerUnreachable(
            "invalid_json",
            f"{url} sent invalid JSON: {error}",
            f"{_quoted(url)} sent a body that is not valid JSON.",
        ) from None
    if not isinstance(document, dict):
        raise IssuerUnreachable(
            "invalid_json",
            f"{url} sent JSON that is not an object",
            f"{_quoted(url)} sent JSON that is not an object.",
        )
    return document


def post_form(url: str, form: dict[str, str], *, deadline: float | None = None) -> int:
    """POST `form` (application/x-www-form-urlencoded) to `url` through the same guards as
    fetch_json: HTTPS only, checked and pinned addresses (FEDERATION_OUTBOUND_ALLOWLIST),
    no redirects, no proxies, one deadline, at most MAX_BODY_BYTES of answer read (and
    then dropped). Returns the 2xx status; anything else raises IssuerUnreachable (reason
    `http_status` for another status, `redirect_refused` for a 3xx). For OpenID Connect
    Back-Channel Logout 1.0 §2.5, whose receivers answer 200 or 204."""
    if deadline is None:
        deadline = time.monotonic() + settings.FEDERATION_FETCH_TIMEOUT_SECONDS
    with (
        _guarded_session(url, deadline) as (session, remaining),
        session.post(
            url,
            data=form,
            headers={"Accept-Encoding": "identity"},
            allow_redirects=False,
            stream=True,
            timeout=(remaining, remaining),
        ) as response,
    ):
        status = response.status_code
        if 300 <= status < 400:
            raise IssuerUnreachable(
                "redirect_refused",
                f"{url} redirects ({status}); not followed",
                f"HTTP {status} at {_quoted(url)}: a redirect, which is not followed.",
            )
        if not 200 <= status < 300:
            raise IssuerUnreachable(
                "http_status",
                f"{url} answered HTTP {status}",
                f"HTTP {status} at {_quoted(url)}.",
            )
        response.raw.read(MAX_BODY_BYTES)
    return status


# RFC 6749 §5.1 / §5.2: a token endpoint answers 200 with the tokens, or 400 (401 for a
# failed client authentication) with a JSON error object.
TOKEN_ENDPOINT_STATUSES = (200, 400, 401)


def post_form_json(
    url: str,
    form: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    deadline: float | None = None,
    what: str = "The token endpoint",
) -> tuple[int, dict]:
    """POST `form` to an OAuth token endpoint (the sign-in identity providers' code
    exchange, SPEC §9) through every guard of fetch_json; the status and the JSON object
    answered, for a status of TOKEN_ENDPOINT_STATUSES. `headers` may add the client's
    Authorization. Raises IssuerUnreachable for anything else."""
    if deadline is None:
        deadline = time.monotonic() + settings.FEDERATION_FETCH_TIMEOUT_SECONDS
    with (
        _guarded_session(url, deadline, what) as (session, remaining),
        session.post(
            url,
            data=form,
            headers={
                **(headers or {}),
                "Accept": "application/json",
                "Accept-Encoding": "identity",
            },
            allow_redirects=False,
            stream=True,
            timeout=(remaining, remaining),
        ) as response,
    ):
        if time.monotonic() >= deadline:
            raise _transport_failure(url, TimeoutError(), deadline)
        status = response.status_code
        body = _body(response, url, JSON_TYPES, statuses=TOKEN_ENDPOINT_STATUSES)
    if time.monotonic() >= deadline:
        raise _transport_failure(url, TimeoutError(), deadline)
    return status, _json_object(body, url)


# --- discovery and keys ---------------------------------------------------------------


def _rsa_modulus_bits(n) -> int:
    if not isinstance(n, str) or not _BASE64URL.fullmatch(n):
        return 0
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(modulus, "big").bit_length()


# RFC 7518 §6.2.2, §6.3.2, §6.4.1: the members only a private or symmetric key has.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def key_verifies(key: dict, algorithm: str | None = None) -> bool:
    """What a JWK's own metadata allows (RFC 7517 §4.2-4.4): `use` absent or `sig`,
    `key_ops` absent or including `verify`, and `alg` absent or `algorithm` (any
    algorithm when None is asked for)."""
    key_ops = key.get("key_ops")
    return (
        key.get("use", "sig") == "sig"
        and (key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops))
        and (algorithm is None or key.get("alg", algorithm) == algorithm)
    )


def _private_key_refusal(jwks: dict, url: str) -> IssuerUnreachable | None:
    keys = jwks.get("keys")
    leaked = [
        key
        for key in (keys if isinstance(keys, list) else [])
        if isinstance(key, dict) and any(member in key for member in PRIVATE_MEMBERS)
    ]
    if not leaked:
        return None
    return IssuerUnreachable(
        "private_key_published",
        f"{url} publishes {len(leaked)} private or symmetric key(s)",
        f"The key set at {_quoted(url)} contains a private or symmetric key (a `d`, `p`, "
        "`q`, `dp`, `dq`, `qi` or `k` member): it must publish public keys only, and whoever "
        "holds that key set has leaked its key. None of its keys is trusted.",
    )


def usable_rsa_keys(jwks: dict) -> list[dict]:
    """The keys of a JWK set that may verify an RS256 assertion (SPEC §5, §11): RSA, their
    metadata allowing it (`key_verifies`), a `kid`, an exponent, a modulus of at least
    MIN_RSA_BITS."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return []
    return [
        key
        for key in keys
        if isinstance(key, dict)
        and key.get("kty") == "RSA"
        and key_verifies(key, "RS256")
        and isinstance(key.get("kid"), str)
        and key["kid"]
        and isinstance(key.get("e"), str)
        and _BASE64URL.fullmatch(key["e"])
        and _rsa_modulus_bits(key.get("n")) >= MIN_RSA_BITS
    ]


def _issuer_mismatch_message(named, issuer: str, discovery_url: str) -> str:
    """OIDC Discovery §4.3: the document's `issuer` must equal the issuer exactly. The
    common near misses are named, as they are in the evaluate report."""
    if not isinstance(named, str):
        return f"The discovery document at {_quoted(discovery_url)} names no `issuer` string."
    says = f"The discovery document says {_quoted(named)}"
    if issuer.endswith("/") and named == issuer.rstrip("/"):
        return f"{says} without the trailing slash; enter the issuer exactly as that."
    if named.endswith("/") and named.rstrip("/") == issuer:
        return f"{says}, with a trailing slash; enter the issuer exactly as that."
    if named.lower() == issuer.lower():
        return f"{says}, which differs only in letter case; enter the issuer exactly as that."
    return f"The discovery document's issuer is {_quoted(named)}, not {_quoted(issuer)}."


def _keys_summary(jwks: dict) -> str:
    """What a key set without a usable key holds instead, for the message."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        return "it has no keys"
    described = []
    for key in keys[:5]:
        if not isinstance(key, dict):
            described.append("an entry that is not a key")
        elif key.get("kty") != "RSA":
            described.append(f"a {_quoted(str(key.get('kty'))[:16])} key")
        elif not key_verifies(key, "RS256"):
            described.append("an RSA key whose `use`, `key_ops` or `alg` forbids RS256")
        elif not isinstance(key.get("kid"), str) or not key["kid"]:
            described.append("an RSA key without a kid")
        else:
            described.append(f"an RSA key of {_rsa_modulus_bits(key.get('n'))} bits")
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f"it has {', '.join(described)}{more}"


def issuer_keys_fetch(issuer: str) -> list[dict]:
    """The issuer's usable RSA signing keys as JWK dicts: its discovery document, then its
    JWKS, under one deadline. Raises IssuerUnreachable (module docstring for reasons)."""
    deadline = time.monotonic() + settings.FEDERATION_FETCH_TIMEOUT_SECONDS
    try:
        problem = _issuer_problem(issuer)
        if problem is not None:
            raise IssuerUnreachable(problem[0], f"{_shown(issuer)}: {problem[1]}", problem[1])
        discovery_url = issuer.rstrip("/") + DISCOVERY_PATH
        configuration = fetch_json(discovery_url, deadline=deadline)
        named = configuration.get("issuer")
        if named != issuer:
            raise IssuerUnreachable(
                "issuer_mismatch",
                f"{discovery_url} names the issuer {_shown(named)}, not {_shown(issuer)}",
                _issuer_mismatch_message(named, issuer, discovery_url),
            )
        jwks_uri = configuration.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IssuerUnreachable(
                "jwks_uri_missing",
                f"{discovery_url} has no jwks_uri",
                f"The discovery document at {_quoted(discovery_url)} names no `jwks_uri`.",
            )
        jwks = fetch_json(
            jwks_uri,
            deadline=deadline,
            media_types=JWKS_TYPES,
            what=f"The discovery document's jwks_uri {_quoted(jwks_uri)}",
        )
        leaked = _private_key_refusal(jwks, jwks_uri)
        if leaked is not None:
            raise leaked
        keys = usable_rsa_keys(jwks)
        if not keys:
            raise IssuerUnreachable(
                "no_rsa_signing_key",
                f"{jwks_uri} has no RSA signing key with a kid and {MIN_RSA_BITS}+ bits",
                f"The jwks_uri {_quoted(jwks_uri)} serves no RSA signing key (`kty` RSA, "
                f"`use` sig or absent, `key_ops` absent or with verify, `alg` absent or "
                f"RS256, a `kid`, {MIN_RSA_BITS} bits or more); "
                f"{_keys_summary(jwks)}.",
            )
    except IssuerUnreachable as refusal:
        logger.warning("Issuer %s refused: %s (%s)", _shown(issuer), refusal.reason, refusal.detail)
        metrics.jwks_fetched(issuer=issuer, outcome=refusal.reason)
        raise
    metrics.jwks_fetched(issuer=issuer, outcome="ok")
    return keys


# RFC 7518 §3.1: what an application's own keys may sign with (SPEC §11), by key type.
OWN_KEY_ALGORITHMS = {"RSA": ("RS256", "PS256"), "EC": ("ES256",)}
_EC_P256_COORDINATE_BYTES = 32


def _b64url_length(value) -> int:
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        return -1
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return -1


def usable_signing_keys(jwks: dict) -> list[dict]:
    """The keys of an application's own JWK set that may verify its assertions (SPEC §11):
    RSA of at least MIN_RSA_BITS (RS256, PS256) or EC on P-256 (ES256), for verifying
    (`key_verifies`), `alg` absent or one of those. A `kid` is optional: common client
    libraries sign without one, and an application has few keys."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return []
    usable = []
    for key in keys:
        if not isinstance(key, dict) or not key_verifies(key):
            continue
        algorithms = OWN_KEY_ALGORITHMS.get(key.get("kty"), ())
        if "alg" in key and key["alg"] not in algorithms:
            continue
        if "kid" in key and not isinstance(key["kid"], str):
            continue
        if key.get("kty") == "RSA":
            ok = _rsa_modulus_bits(key.get("n")) >= MIN_RSA_BITS
            ok = ok and _b64url_length(key.get("e")) > 0
        elif key.get("kty") == "EC":
            ok = key.get("crv") == "P-256" and all(
                _b64url_length(key.get(c)) == _EC_P256_COORDINATE_BYTES for c in ("x", "y")
            )
        else:
            ok = False
        if ok:
            usable.append(key)
    return usable


def jwks_uri_keys_fetch(jwks_uri: str) -> list[dict]:
    """An application's own usable signing keys, from its JWKS URL through every guard of
    the module docstring. Raises IssuerUnreachable."""
    what = "The JWKS URL"
    try:
        problem = _url_problem(jwks_uri, what)
        if problem is not None:
            raise IssuerUnreachable(problem[0], f"{_shown(jwks_uri)}: {problem[1]}", problem[1])
        jwks = fetch_json(jwks_uri, media_types=JWKS_TYPES, what=what)
        leaked = _private_key_refusal(jwks, jwks_uri)
        if leaked is not None:
            raise leaked
        keys = usable_signing_keys(jwks)
        if not keys:
            raise IssuerUnreachable(
                "no_signing_key",
                f"{jwks_uri} has no usable signing key",
                f"The JWKS URL {_quoted(jwks_uri)} serves no usable signing key: RSA of "
                f"{MIN_RSA_BITS} bits or more, or EC on P-256, with `use` sig or absent, "
                "`key_ops` absent or with verify, `alg` absent or RS256, PS256 or ES256; "
                f"{_keys_summary(jwks)}.",
            )
    except IssuerUnreachable as refusal:
        logger.warning(
            "JWKS URL %s refused: %s (%s)", _shown(jwks_uri), refusal.reason, refusal.detail
        )
        raise
    return keys


# --- the key cache --------------------------------------------------------------------

REFRESH_SECONDS = 3600
STALE_SECONDS = 24 * 3600
FETCH_INTERVAL_SECONDS = 60
BACKOFF_MAX_SECONDS = 5 * 60
LOCAL_SECONDS = 60
_WAIT_STEP_SECONDS = 0.05
# The lock's value says what its holder did: waiting is worth it only while one fetches.
_FETCHING, _FETCHED, _FAILED = "fetching", "fetched", "failed"
_UNAVAILABLE = object()


@dataclass(frozen=True)
class CachedKeys:
    keys: tuple[dict, ...]
    fetched_at: float  # a timezone.now() timestamp: shared by processes, moved by tests

    @property
    def age(self) -> float:
        return timezone.now().timestamp() - self.fetched_at

    def serves(self, kid: str | None) -> bool:
        """Fresh, and holding `kid` when one is asked for."""
        return self.age < REFRESH_SECONDS and (
            kid is None or any(key.get("kid") == kid for key in self.keys)
        )


# issuer -> (keys, when read from the shared cache, in time.monotonic())
_local: dict[str, tuple[CachedKeys, float]] = {}
# issuer -> when this process last fetched it: the lock while the shared cache is down.
_local_fetches: dict[str, float] = {}


def cache_key(kind: str, issuer: str) -> str:
    """The shared cache's key of an issuer's `keys`, fetch `lock` or `failures` count."""
    return f"federation:jwks-{kind}:{hashlib.sha256(issuer.encode()).hexdigest()}"


def forget_cached_keys() -> None:
    """Between tests: this process's copies and fetch times (the shared cache is cleared
    by the test run itself)."""
    _local.clear()
    _local_fetches.clear()


def _shared_get(issuer: str) -> CachedKeys | None:
    stored = shared_cache.cache_get(cache_key("keys", issuer))  # None when it is down
    return CachedKeys(tuple(stored["keys"]), stored["fetched_at"]) if stored else None


def _remember(issuer: str, keys: CachedKeys, *, share: bool) -> None:
    _local[issuer] = (keys, time.monotonic())
    metrics.jwks_keys_cached(issuer=issuer, fetched_at=keys.fetched_at)
    if share:  # if the shared cache is down, the copy here still serves this process
        shared_cache.cache_set(
            cache_key("keys", issuer),
            {"keys": list(keys.keys), "fetched_at": keys.fetched_at},
            STALE_SECONDS,
        )


def _lock_take(issuer: str) -> str | None:
    """None when this process may fetch now; else what the lock's holder did."""
    key = cache_key("lock", issuer)
    taken = shared_cache.cache_add(key, _FETCHING, FETCH_INTERVAL_SECONDS)
    if taken is None:  # the shared cache is down: this process's own lock
        now = time.monotonic()
        if now - _local_fetches.get(issuer, -FETCH_INTERVAL_SECONDS) < FETCH_INTERVAL_SECONDS:
            return _FETCHED
        _local_fetches[issuer] = now
        return None
    return None if taken else shared_cache.cache_get(key) or _FETCHED


def backoff_seconds(failures: int) -> int:
    """How long fetches wait after `failures` failed fetches in a row."""
    return min(FETCH_INTERVAL_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)


def _lock_settle(issuer: str, *, failed: bool) -> None:
    """Keeps the lock as long as the next fetch must wait: the rest of the interval after
    a success, a doubling back-off after each failure in a row."""
    lock, failures = cache_key("lock", issuer), cache_key("failures", issuer)
    if not failed:
        shared_cache.cache_delete(failures)
        shared_cache.cache_set(lock, _FETCHED, FETCH_INTERVAL_SECONDS)
        return
    # Only the lock's holder writes here, so reading and writing need not be atomic.
    count = (shared_cache.cache_get(failures) or 0) + 1
    shared_cache.cache_set(failures, count, 2 * BACKOFF_MAX_SECONDS)
    shared_cache.cache_set(lock, _FAILED, backoff_seconds(count))


def _wait_for_other_fetch(issuer: str) -> CachedKeys | None:
    """On a cold cache: the keys another process is fetching, once it has them. Its keys
    are stored before its lock says it is done, so the lock is read first."""
    deadline = time.monotonic() + settings.FEDERATION_FETCH_TIMEOUT_SECONDS + 1
    while time.monotonic() < deadline:
        time.sleep(_WAIT_STEP_SECONDS)
        lock = shared_cache.cache_get(cache_key("lock", issuer), unavailable=_UNAVAILABLE)
        if lock is _UNAVAILABLE:
            return None
        fetching = lock == _FETCHING
        keys = _shared_get(issuer)
        if keys is not None or not fetching:
            return keys
    return None


def _fetch(issuer: str, cached: CachedKeys | None, fetch=None) -> CachedKeys | None:
    """Fetches the issuer's keys if the lock allows: the new keys, None when nothing was
    fetched and `cached` must do, IssuerUnreachable when nothing can be served. `fetch`
    (default issuer_keys_fetch) gets the keys of what `issuer` names."""
    holder = _lock_take(issuer)
    if holder is not None:
        if cached is not None:
            return None
        # The lock's holder may have stored its keys since this process looked.
        keys = _shared_get(issuer)
        if keys is None and holder == _FETCHING:
            keys = _wait_for_other_fetch(issuer)
        if keys is not None:
            _remember(issuer, keys, share=False)
            return keys
        reason = "fetch_in_progress" if holder == _FETCHING else "fetch_backoff"
        raise IssuerUnreachable(
            reason,
            f"no cached keys of {_shown(issuer)}, and fetching them is held back",
            "This server has no keys of the issuer yet, and fetching them is held back for "
            "a minute after the last attempt; try again shortly.",
        )
    try:
        keys = CachedKeys(tuple((fetch or issuer_keys_fetch)(issuer)), timezone.now().timestamp())
    except IssuerUnreachable as error:
        _lock_settle(issuer, failed=True)
        if cached is None:
            raise
        logger.warning(
            "Serving keys of %s fetched %d s ago: %s", _shown(issuer), cached.age, error.detail
        )
        return None
    _remember(issuer, keys, share=True)  # before the lock says done: see the waiters
    _lock_settle(issuer, failed=False)
    return keys


def issuer_keys(issuer: str, *, kid: str | None = None, fetch=None) -> list[dict]:
    """The issuer's usable signing keys from the cache (module docstring), refreshed when
    they are cold, old, or lack `kid`, as far as the per-issuer fetch limit allows: the
    caller still checks that `kid` is among them. Raises IssuerUnreachable when there are
    no keys to serve, or only keys older than STALE_SECONDS."""
    local = _local.get(issuer)
    if local is not None and time.monotonic() - local[1] < LOCAL_SECONDS and local[0].serves(kid):
        return list(local[0].keys)
    candidates = [c for c in (_shared_get(issuer), local and local[0]) if c is not None]
    cached = max(candidates, key=lambda c: c.fetched_at, default=None)
    if cached is not None and cached.age >= STALE_SECONDS:
        cached = None
    if cached is not None:
        _remember(issuer, cached, share=False)
        if cached.serves(kid):
            return list(cached.keys)
    fetched = _fetch(issuer, cached, fetch)
    return list((fetched or cached).keys)


def jwks_uri_keys(jwks_uri: str, *, kid: str | None = None) -> list[dict]:
    """An application's own keys at its JWKS URL (SPEC §11), through the same cache and
    fetch limits as an issuer's, under their own cache entries."""
    return issuer_keys(JWKS_URI_PREFIX + jwks_uri, kid=kid, fetch=_jwks_uri_keys_fetch)


# Cache entries of JWKS URLs are named apart from issuers' (an issuer is an https URL).
JWKS_URI_PREFIX = "jwks_uri "


def _jwks_uri_keys_fetch(name: str) -> list[dict]:
    return jwks_uri_keys_fetch(name.removeprefix(JWKS_URI_PREFIX))
