"""Fixtures shared by every app's tests."""

import pytest

from tenants.models import Membership
from tenants.tests.factories import MembershipFactory, TenantFactory

# `identity_provider`: a real HTTPS identity provider on loopback; `oidc_provider`: a real
# OpenID Connect provider (oidc-provider on Node) for sign-in; `logout_receiver`: a
# relying party's back-channel logout endpoint; tests.logcheck: no credentials in any
# test's logs; the vault fakes (`fake_vault`, `fake_key_vault`, `fake_ccp`,
# `moto_server`): tests/fakes; `smtp_server`: a real SMTP server on loopback (tests/smtp.py).
pytest_plugins = [
    "tests.idp",
    "tests.openid_provider",
    "tests.logout_receiver",
    "tests.logcheck",
    "tests.fakes.fixtures",
    "tests.smtp",
]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, the test database is a file, as under `make run`, rather than Django's
    in-memory default: there the live server's request threads share the test's one
    connection (two concurrent requests interleave inside each other's transactions) and
    other threads' connections get "table is locked" at once instead of waiting their turn
    to write."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness protects stored passwords, not tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shared_cache_down(settings):
    """The shared cache is Redis on a loopback port nobody listens on: every call fails."""
    from tests.processes import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "identity_server.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


@pytest.fixture
def admin_membership(db):
    """An admin of an organization that has one tenant."""
    membership = MembershipFactory(role=Membership.Role.ADMIN)
    TenantFactory(organization=membership.organization, name="DefaultTenant")
    return membership


@pytest.fixture
def organization(admin_membership):
    """The organization `admin_membership` administers."""
    return admin_membership.organization


@pytest.fixture
def admin(client, admin_membership):
    """The test client, signed in to the site as `admin_membership`'s administrator."""
    client.force_login(admin_membership.user)
    return client


@pytest.fixture
def other_admin_membership(db):
    """An admin of a second, unrelated organization with its own tenant."""
    membership = MembershipFactory(role=Membership.Role.ADMIN)
    TenantFactory(organization=membership.organization, name="OtherTenant")
    return membership


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Tests roll the database back; the shared cache and this process's copies of clients,
    signing keys and identity providers' keys must not outlive what they were read from."""
    from django.core.cache import cache

    from federation.assertions import forget_accepted_assertions
    from federation.jwks import forget_cached_keys
    from identity_server.clients import forget_snapshots
    from identity_server.ratelimit import forget_limits
    from identity_server.shared_cache import forget_outage
    from identity_server.tokens import forget_loaded_keys

    forgets = (
        forget_snapshots,
        forget_loaded_keys,
        forget_cached_keys,
        forget_accepted_assertions,
        forget_outage,
        forget_limits,
    )
    cache.clear()
    for forget in forgets:
        forget()
    yield
    for forget in forgets:
        forget()


@pytest.fixture
def issue_token(client):
    """Gets an access token the way a client does: a form POST to the token endpoint."""

    def issue(oauth_client, secret: str, scope: str | None = None, **extra) -> str:
        form = {"grant_type": "client_credentials", "client_id": oauth_client.client_id}
        form["client_secret"] = secret
        if scope is not None:
            form["scope"] = scope
        response = client.post("/identity_/connect/token", {**form, **extra})
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    return issue


class Clock:
    """The time our code reads (django.utils.timezone.now), frozen and moved by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """Freezes `django.utils.timezone.now` at the real time; `clock.advance(seconds=...)`
    moves it, so thresholds pass without sleeping. Access tokens are still checked against
    the real clock, so keep advances well under their hour."""
    from django.utils import timezone

    frozen = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen
