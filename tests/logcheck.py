"""A pytest plugin: no test's logs hold a secret, token, assertion or password (SPEC §10).

Every test of the suite (the token, assertion and sign-in tests among them) runs with a
handler on the root logger and on the loggers that do not propagate (the request log),
at the levels the project configures. When the test ends, what was logged (messages and
formatted tracebacks) is searched for:

- every client secret the test's code generated, and every password set on a user;
- anything shaped like a JWT (our access tokens, client assertions, id_tokens: a JOSE
  header is base64url JSON, so it starts `eyJ`), or like one of our client secrets;

and the test fails at teardown, naming the logger, when one is found.
"""

import logging
import re

import pytest
from django.contrib.auth.base_user import AbstractBaseUser

from identity_server import clients, services

# Loggers with propagate=False in settings.LOGGING (the root's handler does not see them).
NON_PROPAGATING = ("identity_server.requests",)
_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."  # a JWS's header and payload
    + "|"
    + re.escape(clients.SECRET_PREFIX)
    + r"[A-Za-z0-9_-]{20,}"  # a whole client secret (a prefix and 4 characters is shown)
)


class _Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.NOTSET)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append((record.name, text))


@pytest.fixture(autouse=True)
def _no_credentials_in_logs(monkeypatch):
    used: set[str] = set()

    def generate():
        secret = generate_secret()
        used.add(secret)
        return secret

    def set_password(user, raw_password):
        if raw_password and len(raw_password) >= 8:  # shorter ones would match anything
            used.add(raw_password)
        return original_set_password(user, raw_password)

    generate_secret = services.secret_generate
    original_set_password = AbstractBaseUser.set_password
    monkeypatch.setattr(services, "secret_generate", generate)
    monkeypatch.setattr(AbstractBaseUser, "set_password", set_password)
    handler = _Captured()
    loggers = [logging.getLogger(), *map(logging.getLogger, NON_PROPAGATING)]
    for logger in loggers:
        logger.addHandler(handler)
    yield
    for logger in loggers:
        logger.removeHandler(handler)
    found = leaks(handler.lines, used)
    assert not found, f"credentials in the logs: {found}"


def leaks(lines: list[tuple[str, str]], used: set[str]) -> list[str]:
    """The loggers of `lines` ((logger, text) pairs) that hold a credential, each with the
    start of what was found (enough to find it, not enough to use it)."""
    found = []
    for name, text in lines:
        shaped = _SHAPES.search(text)
        if shaped:
            found.append(f"{name}: {shaped.group()[:10]}...")
        elif any(value in text for value in used):
            found.append(f"{name}: a secret or password the test used")
    return found
