import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from identity_server.env import env_bool, env_list, env_networks
from tests.processes import run_python


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("", False)]
)
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG", not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", False)


def test_env_list_drops_blank_items(monkeypatch):
    monkeypatch.setenv("SOME_LIST", " a.example , ,b.example:8443,")
    assert env_list("SOME_LIST", []) == ["a.example", "b.example:8443"]


def _settings_with(**env) -> dict:
    code = (
        "import json, django; from django.conf import settings as s; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
        "'db_name': str(s.DATABASES['default']['NAME']), "
        "'conn_max_age': s.DATABASES['default']['CONN_MAX_AGE'], "
        "'cache': s.CACHES['default']['BACKEND'], "
        "'cache_location': s.CACHES['default'].get('LOCATION', ''), "
        "'issuer': s.IDENTITY_ISSUER, 'hosts': s.ALLOWED_HOSTS, "
        "'allowlist': s.FEDERATION_OUTBOUND_ALLOWLIST, 'ca': s.FEDERATION_CA_BUNDLE, "
        "'secure_cookies': s.SESSION_COOKIE_SECURE}))"
    )
    result = run_python("-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_are_an_embedded_sqlite_database_and_a_local_memory_cache():
    values = _settings_with()

    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["db_name"].endswith("db.sqlite3")
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]
    assert values["allowlist"] == [] and values["ca"] is None
    assert values["secure_cookies"] is True


def test_the_environment_configures_postgresql_redis_and_the_issuer():
    values = _settings_with(
        DATABASE_URL="postgres://idsrv@db.internal:5432/identity",
        REDIS_URL="redis://cache.internal:6379/2",
        IDENTITY_ISSUER="https://id.example.com/identity_/",
        ALLOWED_HOSTS="id.example.com,id2.example.com",
        FEDERATION_OUTBOUND_ALLOWLIST="127.0.0.1:8443",
        FEDERATION_CA_BUNDLE="/etc/idsrv/ca.pem",
        DEBUG="true",
    )

    assert values["engine"] == "django.db.backends.postgresql"
    assert values["db_name"] == "identity"
    assert values["conn_max_age"] == 600
    assert values["cache"] == "identity_server.cache.RedisCache"
    assert values["cache_location"] == "redis://cache.internal:6379/2"
    assert values["issuer"] == "https://id.example.com/identity_"
    assert values["hosts"] == ["id.example.com", "id2.example.com"]
    assert values["allowlist"] == ["127.0.0.1:8443"]
    assert values["ca"] == "/etc/idsrv/ca.pem"
    assert values["secure_cookies"] is False


def test_env_networks_reads_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("SOME_NETWORKS", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    assert [str(n) for n in env_networks("SOME_NETWORKS")] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]


def test_env_networks_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("SOME_NETWORKS", "10.0.0.0/8,intranet")
    with pytest.raises(ImproperlyConfigured, match="'intranet'"):
        env_networks("SOME_NETWORKS")
