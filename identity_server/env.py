"""Typed reads of the process environment, used only by settings.py."""

import ipaddress
import os
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of `choices`, exactly as spelled there; anything else fails at start-up."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `::1`)."""
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks, and {item!r} is neither."
            ) from None
    return networks


# EMAIL_URL schemes: (STARTTLS, implicit TLS); Django's SMTP backend picks the port each
# implies when the URL names none (25, 587, 465).
_EMAIL_SCHEMES = {
    "smtp": (False, False),
    "smtp+tls": (True, False),  # STARTTLS (RFC 3207) after connecting
    "smtps": (False, True),  # TLS from the first byte (RFC 8314 §3.3)
}
EMAIL_CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Outside DEBUG without EMAIL_URL: mails are dropped and logged without their bodies, which
# hold one-time links (never a secret in a log).
EMAIL_UNDELIVERED_BACKEND = "tenants.mail.UndeliveredBackend"
EMAIL_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_TIMEOUT_SECONDS = 10


def email_settings(url: str, name: str = "EMAIL_URL", *, debug: bool = True) -> dict:
    """MAILERS (Django's mail settings) and EMAIL_CONFIGURED for an SMTP URL:
    `smtp://user:password@host:port`, `smtp+tls://…` (STARTTLS) or `smtps://…` (implicit
    TLS), the user name and password percent-encoded. An empty URL is EMAIL_CONFIGURED
    false, with the console backend under `debug` (`make run` prints mails) and otherwise
    the undelivered backend (nothing sent, a log line without the body). Anything else is
    refused with a message that never repeats the password."""
    if not url.strip():
        backend = EMAIL_CONSOLE_BACKEND if debug else EMAIL_UNDELIVERED_BACKEND
        return {"MAILERS": {"default": {"BACKEND": backend}}, "EMAIL_CONFIGURED": False}
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must start smtp://, smtp+tls:// (STARTTLS) or smtps:// (TLS), "
            f"not {scheme + '://' if scheme else 'without a scheme'}."
        )
    shown = f"{scheme}://{parts.hostname or ''}"  # what an error may repeat
    # First: a / ? or # in an unencoded password ends the host part early.
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} ({shown}) must be scheme://user:password@host:port, without a path or "
            "query; percent-encode a / ? # or @ in the user name or password."
        )
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} ({shown}) has a port that is not a number.") from None
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} ({shown}) names no host.")
    starttls, implicit_tls = _EMAIL_SCHEMES[scheme]
    options = {
        "host": parts.hostname,
        "port": port,
        "use_tls": starttls,
        "use_ssl": implicit_tls,
        "timeout": EMAIL_TIMEOUT_SECONDS,
    }
    if parts.username is not None:
        options |= {
            "username": unquote(parts.username),
            "password": unquote(parts.password or ""),
        }
    return {
        "MAILERS": {"default": {"BACKEND": EMAIL_SMTP_BACKEND, "OPTIONS": options}},
        "EMAIL_CONFIGURED": True,
    }
