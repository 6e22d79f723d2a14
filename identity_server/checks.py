"""System checks that refuse unsafe production settings.

They run with every management command and, through wsgi.py, before a server process
accepts its first request, so a misconfigured production deployment does not start.
"""

import ipaddress
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from identity_server.tokens import signing_key_file_load

DEPLOY_SAFETY = "identity_deploy_safety"


def _is_loopback(host: str) -> bool:
    host = host.strip().lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(entry: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` → (host, port); None when malformed."""
    host, sep, port = entry.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("["):
        if not host.endswith("]"):
            return None
        host = host[1:-1]
    elif ":" in host:
        return None
    return host.lower(), int(port)


# Session backends whose data the client holds (signed, not encrypted).
_CLIENT_SIDE_SESSIONS = ("signed_cookies",)
# Cache backends that no other process sees.
_LOCAL_CACHES = ("locmem.LocMemCache", "dummy.DummyCache")


@register(Tags.security, DEPLOY_SAFETY)
def check_production_safety(app_configs=None, **kwargs):
    problems = []
    if settings.DEBUG:
        public = [h for h in settings.ALLOWED_HOSTS if not _is_loopback(h)]
        if public:
            problems.append(
                Error(
                    "DEBUG is on while ALLOWED_HOSTS names non-loopback hosts "
                    f"({', '.join(public)}): debug pages would leak settings and source.",
                    hint="Unset DEBUG for any deployment reachable from the network.",
                    id="identity.E001",
                )
            )
    else:
        if settings.SECRET_KEY == settings.DEV_SECRET_KEY or len(settings.SECRET_KEY) < 50:
            problems.append(
                Error(
                    "SECRET_KEY is the development default or shorter than 50 characters.",
                    hint="Set SECRET_KEY to a long random value, e.g. the output of "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`.",
                    id="identity.E002",
                )
            )
        if urlsplit(settings.IDENTITY_ISSUER).scheme != "https":
            problems.append(
                Error(
                    f"IDENTITY_ISSUER is {settings.IDENTITY_ISSUER!r}; outside DEBUG it must "
                    "be the public https:// URL of /identity_.",
                    id="identity.E003",
                )
            )
        if settings.FEDERATION_OUTBOUND_ALLOWLIST:
            problems.append(
                Warning(
                    "FEDERATION_OUTBOUND_ALLOWLIST is set outside DEBUG: the server may fetch "
                    f"from {', '.join(settings.FEDERATION_OUTBOUND_ALLOWLIST)} although they "
                    "are not public addresses.",
                    hint="List only identity providers on your private network.",
                    id="identity.W001",
                )
            )
        backend = settings.CACHES["default"]["BACKEND"]
        if settings.FEDERATION_ASSERTION_REPLAY_PROTECTION and backend.endswith(_LOCAL_CACHES):
            problems.append(
                Warning(
                    "FEDERATION_ASSERTION_REPLAY_PROTECTION is on with a cache of this process "
                    "only: each process would accept a replayed token once.",
                    hint="Set REDIS_URL, so that every process records tokens in one place.",
                    id="identity.W002",
                )
            )
    if settings.SESSION_ENGINE.endswith(_CLIENT_SIDE_SESSIONS):
        problems.append(
            Error(
                f"SESSION_ENGINE is {settings.SESSION_ENGINE}: sessions kept in the browser's "
                "cookie would hand it the new secrets and passwords that the admin site "
                "passes from a form to the page that shows them once (tenants.site).",
                hint="Keep Django's default database sessions, or a cache or cached_db one.",
                id="identity.E007",
            )
        )
    malformed = [e for e in settings.FEDERATION_OUTBOUND_ALLOWLIST if parse_host_port(e) is None]
    if malformed:
        problems.append(
            Error(
                f"FEDERATION_OUTBOUND_ALLOWLIST has entries that are not host:port pairs: "
                f"{', '.join(malformed)}.",
                id="identity.E004",
            )
        )
    malformed = [
        e for e in settings.CREDENTIAL_STORE_OUTBOUND_ALLOWLIST if parse_host_port(e) is None
    ]
    if malformed:
        problems.append(
            Error(
                f"CREDENTIAL_STORE_OUTBOUND_ALLOWLIST has entries that are not host:port pairs: "
                f"{', '.join(malformed)}.",
                id="identity.E019",
            )
        )
    if settings.FEDERATION_CA_BUNDLE:
        try:
            # The same call federation/jwks.py makes before every fetch.
            ssl.create_default_context().load_verify_locations(cafile=settings.FEDERATION_CA_BUNDLE)
        except OSError as error:
            problems.append(
                Error(
                    f"FEDERATION_CA_BUNDLE {settings.FEDERATION_CA_BUNDLE} cannot be used: {error}",
                    hint="Mount a readable PEM file of one or more CA certificates.",
                    id="identity.E006",
                )
            )
    # The mounted key signs, so it must suit IDENTITY_SIGNING_ALGORITHM; previous keys only
    # verify the tokens they signed, whatever their algorithm.
    files = [(settings.IDENTITY_SIGNING_KEY_FILE, settings.IDENTITY_SIGNING_ALGORITHM)]
    files += [(path, None) for path in settings.IDENTITY_SIGNING_KEY_PREVIOUS_FILES]
    for path, algorithm in files:
        if not path:
            continue
        try:
            signing_key_file_load(path, algorithm)
        except (OSError, ValueError, TypeError) as error:
            problems.append(
                Error(
                    f"The signing key file {path} cannot be used: {error}",
                    hint="Mount an unencrypted PEM private key: RSA of at least 2048 bits for "
                    "RS256, EC P-256 for ES256.",
                    id="identity.E005",
                )
            )
    return problems


METRICS_TOKEN_MIN_LENGTH = 32


@register(Tags.security, DEPLOY_SAFETY)
def check_metrics_settings(app_configs=None, **kwargs):
    token = settings.METRICS_BEARER_TOKEN
    if token and len(token) < METRICS_TOKEN_MIN_LENGTH:
        return [
            Error(
                f"METRICS_BEARER_TOKEN is shorter than {METRICS_TOKEN_MIN_LENGTH} characters.",
                hint="Set it to a long random value, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
                id="identity.E160",
            )
        ]
    return []


@register(Tags.security, DEPLOY_SAFETY)
def check_mail_settings(app_configs=None, **kwargs):
    """Outside DEBUG: no EMAIL_URL (password recovery and invitation mails are not sent);
    with one, a sender at `localhost` (most SMTP services refuse it, and recipients'
    filters drop it), and an SMTP password sent without TLS to a host that is not this
    one."""
    if settings.DEBUG:
        return []
    if not settings.EMAIL_CONFIGURED:
        return [
            Warning(
                "EMAIL_URL is not set: password recovery mails are not sent (each is logged "
                "without its link), and new members get a password shown once to the admin.",
                hint="Set EMAIL_URL to your SMTP service (smtp+tls://user:password@host:587).",
                id="identity.W172",
            )
        ]
    problems = []
    if settings.DEFAULT_FROM_EMAIL.rstrip(">").lower().endswith("@localhost"):
        problems.append(
            Warning(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL}: invitations and "
                "password reset mails would come from an address at localhost.",
                hint="Set DEFAULT_FROM_EMAIL to an address your SMTP service sends for.",
                id="identity.W170",
            )
        )
    options = settings.MAILERS["default"].get("OPTIONS", {})
    plain = not (options.get("use_tls") or options.get("use_ssl"))
    if plain and options.get("password") and not _is_loopback(options.get("host", "")):
        problems.append(
            Warning(
                "EMAIL_URL is smtp:// with a password: it would cross the network unencrypted.",
                hint="Use smtp+tls:// (STARTTLS) or smtps:// (TLS).",
                id="identity.W171",
            )
        )
    return problems
