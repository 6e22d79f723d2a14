import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings

from identity_server.checks import (
    check_mail_settings,
    check_metrics_settings,
    check_production_safety,
    parse_host_port,
)
from identity_server.env import email_settings
from tests.processes import run_python

PRODUCTION = {
    "DEBUG": False,
    "SECRET_KEY": "k" * 64,
    "IDENTITY_ISSUER": "https://id.example.com/identity_",
    "ALLOWED_HOSTS": ["id.example.com"],
    "FEDERATION_OUTBOUND_ALLOWLIST": [],
    "FEDERATION_CA_BUNDLE": None,
    "IDENTITY_SIGNING_KEY_FILE": None,
    "IDENTITY_SIGNING_KEY_PREVIOUS_FILES": [],
    "FEDERATION_ASSERTION_REPLAY_PROTECTION": False,
    "SESSION_ENGINE": "django.contrib.sessions.backends.db",
}


def _ids(settings, **overrides):
    for name, value in {**PRODUCTION, **overrides}.items():
        setattr(settings, name, value)
    return [m.id for m in check_production_safety()]


def test_a_sound_production_configuration_passes(settings):
    assert _ids(settings) == []


def test_debug_with_a_public_host_is_refused(settings):
    assert _ids(settings, DEBUG=True) == ["identity.E001"]


def test_debug_on_loopback_only_is_allowed(settings):
    hosts = ["localhost", "127.0.0.1", "[::1]", "app.localhost"]
    assert _ids(settings, DEBUG=True, ALLOWED_HOSTS=hosts) == []


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(django_settings.DEV_SECRET_KEY, id="development-default"),
        pytest.param("short", id="too-short"),
    ],
)
def test_a_weak_secret_key_is_refused_in_production(settings, secret_key):
    assert _ids(settings, SECRET_KEY=secret_key) == ["identity.E002"]


def test_a_plain_http_issuer_is_refused_in_production(settings):
    assert _ids(settings, IDENTITY_ISSUER="http://id.example.com/identity_") == ["identity.E003"]


def test_sessions_kept_in_the_browsers_cookie_are_refused(settings):
    engine = "django.contrib.sessions.backends.signed_cookies"
    assert _ids(settings, SESSION_ENGINE=engine) == ["identity.E007"]
    assert _ids(settings, SESSION_ENGINE=engine, DEBUG=True, ALLOWED_HOSTS=[]) == ["identity.E007"]


def test_an_outbound_allowlist_outside_debug_is_a_warning(settings):
    assert _ids(settings, FEDERATION_OUTBOUND_ALLOWLIST=["10.0.0.5:443"]) == ["identity.W001"]


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        pytest.param(
            "django.core.cache.backends.locmem.LocMemCache", ["identity.W002"], id="locmem"
        ),
        pytest.param("identity_server.cache.RedisCache", [], id="redis"),
    ],
)
def test_replay_protection_needs_a_shared_cache(settings, backend, expected):
    caches = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:6379/15"}}

    assert _ids(settings, FEDERATION_ASSERTION_REPLAY_PROTECTION=True, CACHES=caches) == expected


def test_a_malformed_outbound_allowlist_is_refused(settings):
    ids = _ids(settings, DEBUG=True, ALLOWED_HOSTS=[], FEDERATION_OUTBOUND_ALLOWLIST=["idp"])
    assert ids == ["identity.E004"]


def test_a_malformed_credential_store_allowlist_is_refused(settings):
    ids = _ids(
        settings, DEBUG=True, ALLOWED_HOSTS=[], CREDENTIAL_STORE_OUTBOUND_ALLOWLIST=["vault"]
    )
    assert ids == ["identity.E019"]


def test_a_ca_bundle_of_pem_certificates_passes(settings, tmp_path):
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))

    assert _ids(settings, FEDERATION_CA_BUNDLE=str(bundle)) == []


@pytest.mark.parametrize("problem", ["missing", "a directory", "not PEM", "empty"])
def test_an_unusable_ca_bundle_is_refused(settings, tmp_path, problem):
    path = tmp_path / "ca.pem"
    if problem == "a directory":
        path.mkdir()
    elif problem == "not PEM":
        path.write_text("hello")
    elif problem == "empty":
        path.write_bytes(b"")

    assert _ids(settings, FEDERATION_CA_BUNDLE=str(path)) == ["identity.E006"]


def _pem(path, key_size: int):
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def test_a_usable_mounted_signing_key_passes(settings, tmp_path):
    assert _ids(settings, IDENTITY_SIGNING_KEY_FILE=_pem(tmp_path / "k.pem", 2048)) == []


@pytest.mark.parametrize("problem", ["missing", "not a key", "weak"])
def test_an_unusable_signing_key_file_is_refused(settings, tmp_path, problem):
    path = tmp_path / "k.pem"
    if problem == "not a key":
        path.write_text("hello")
    elif problem == "weak":
        _pem(path, 1024)

    ids = _ids(settings, IDENTITY_SIGNING_KEY_PREVIOUS_FILES=[str(path)])

    assert ids == ["identity.E005"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("IdP.internal:443", ("idp.internal", 443)),
        ("[::1]:8443", ("::1", 8443)),
        ("idp.internal", None),
        ("idp.internal:0", None),
        ("idp.internal:70000", None),
        ("::1:8443", None),
        (":443", None),
    ],
)
def test_parse_host_port(entry, expected):
    assert parse_host_port(entry) == expected


def test_manage_check_fails_on_a_production_host_with_debug_on():
    result = run_python("manage.py", "check", DEBUG="true", ALLOWED_HOSTS="id.example.com")

    assert result.returncode != 0
    assert "identity.E001" in result.stderr


def test_the_wsgi_application_refuses_to_start_with_development_defaults():
    result = run_python("-c", "import identity_server.wsgi", ALLOWED_HOSTS="id.example.com")

    assert result.returncode != 0
    assert "identity.E002" in result.stderr and "identity.E003" in result.stderr


def test_the_wsgi_application_starts_with_a_production_configuration():
    result = run_python(
        "-c",
        "import identity_server.wsgi",
        SECRET_KEY="k" * 64,
        IDENTITY_ISSUER="https://id.example.com/identity_",
        ALLOWED_HOSTS="id.example.com",
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param("", [], id="metrics-off"),
        pytest.param("t" * 32, [], id="long-enough"),
        pytest.param("t" * 31, ["identity.E160"], id="short"),
    ],
)
def test_a_short_metrics_token_is_refused(settings, token, expected):
    settings.METRICS_BEARER_TOKEN = token
    assert [m.id for m in check_metrics_settings()] == expected


def _mail_ids(settings, url: str, sender: str, *, debug: bool = False) -> list[str]:
    for name, value in email_settings(url, debug=debug).items():
        setattr(settings, name, value)
    settings.DEFAULT_FROM_EMAIL = sender
    settings.DEBUG = debug
    return [m.id for m in check_mail_settings()]


@pytest.mark.parametrize(
    ("url", "sender", "debug", "expected"),
    [
        pytest.param("", "Identity <identity@localhost>", False, ["identity.W172"], id="no mail"),
        pytest.param("", "Identity <identity@localhost>", True, [], id="no mail under debug"),
        pytest.param(
            "smtp+tls://u:p@smtp.example.com", "Acme <id@acme.example>", False, [], id="sound"
        ),
        pytest.param(
            "smtps://u:p@smtp.example.com",
            "Identity Server <identity@localhost>",
            False,
            ["identity.W170"],
            id="sender at localhost",
        ),
        pytest.param(
            "smtp://u:p@smtp.example.com", "id@acme.example", False, ["identity.W171"], id="clear"
        ),
        pytest.param("smtp://u:p@127.0.0.1:25", "id@acme.example", False, [], id="local relay"),
        pytest.param("smtp://smtp.example.com", "id@acme.example", False, [], id="no password"),
        pytest.param("smtp://u:p@smtp.example.com", "x@localhost", True, [], id="debug"),
    ],
)
def test_mail_settings_outside_debug(settings, url, sender, debug, expected):
    assert _mail_ids(settings, url, sender, debug=debug) == expected
