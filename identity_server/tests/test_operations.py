"""/healthz, /readyz and /metrics (SPEC §10): cheap, unauthenticated health answers that list
no internals, and metrics off unless configured, then only for the token or the allowed
addresses."""

import ipaddress
import time

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from identity_server import metrics
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import TOKEN_URL
from identity_server.tokens import current_signing_key
from machines.models import Session
from machines.tests.factories import machine_create
from tests.processes import free_port, run_python

METRICS_TOKEN = "m" * 40


def value(text: str, name: str, **labels) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_BEARER_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_ADDRESSES = []


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


# --- health ---------------------------------------------------------------------------


def test_healthz_answers_without_io_for_any_host(client, shared_cache_down):
    # when: a load balancer calls by address, a Host that ALLOWED_HOSTS does not name (no
    # database access is allowed in this test, and the shared cache is down)
    response = client.get("/healthz", headers={"Host": "10.1.2.3:8000"})
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert response["X-Request-Id"]


@pytest.mark.django_db
def test_readyz_answers_when_the_database_and_the_shared_cache_do(client):
    response = client.get("/readyz", headers={"Host": "10.1.2.3"})
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_is_unavailable_with_the_shared_cache_at_a_closed_port(
    client, shared_cache_down, caplog
):
    # when
    response = client.get("/readyz")
    # then: the body names nothing inside; the log says what failed
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert "shared cache did not answer" in caplog.text


def test_readyz_is_unavailable_with_the_database_at_a_closed_port():
    # given: a process whose database listens nowhere
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz'); print(r.status_code, r.content.decode())"
    )
    # when
    result = run_python(
        "-c",
        script,
        DEBUG="true",
        DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/none",
    )
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["503", '{"status":', '"unavailable"}']
    assert "database did not answer" in result.stderr


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operations_routes_take_get_and_head_only(client, path):
    response = client.post(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_head_gets_no_body(client):
    response = client.head("/readyz")
    assert response.status_code == 200
    assert response.content == b""


# --- metrics: access ------------------------------------------------------------------


def test_metrics_are_off_unless_configured(client, settings):
    settings.METRICS_BEARER_TOKEN = ""
    settings.METRICS_ALLOWED_ADDRESSES = []
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="none"),
        pytest.param("Bearer wrong", id="wrong-token"),
        pytest.param(f"Basic {METRICS_TOKEN}", id="other-scheme"),
        pytest.param(f"Bearer {METRICS_TOKEN[:-1]}", id="prefix"),
    ],
)
def test_metrics_without_the_token_are_refused(client, metrics_on, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"identity_token_requests_total" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("allowed", "remote", "forwarded", "num_proxies", "status"),
    [
        pytest.param("10.0.0.0/8", "10.2.3.4", None, 0, 200, id="in-network"),
        pytest.param("10.0.0.5", "10.0.0.5", None, 0, 200, id="single-address"),
        pytest.param("10.0.0.0/8", "192.0.2.1", None, 0, 403, id="elsewhere"),
        pytest.param("10.0.0.0/8", "10.0.0.9", "192.0.2.1", 1, 403, id="proxied-from-elsewhere"),
        pytest.param("192.0.2.0/24", "10.0.0.9", "192.0.2.1", 1, 200, id="proxied-allowed"),
        pytest.param("10.0.0.0/8", "192.0.2.1", "10.0.0.1", 0, 403, id="forged-forwarded-for"),
    ],
)
def test_metrics_from_allowed_addresses_only(
    client, settings, allowed, remote, forwarded, num_proxies, status
):
    # given
    settings.METRICS_BEARER_TOKEN = ""
    settings.METRICS_ALLOWED_ADDRESSES = [ipaddress.ip_network(allowed)]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    # when
    response = client.get("/metrics", REMOTE_ADDR=remote, headers=headers)
    # then
    assert response.status_code == status


@pytest.mark.django_db
def test_with_both_set_a_scrape_needs_the_token_and_an_allowed_address(client, settings):
    settings.METRICS_BEARER_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_ADDRESSES = [ipaddress.ip_network("10.0.0.0/8")]
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", headers=token).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.1", headers=token).status_code == 200


# --- metrics: what they count ---------------------------------------------------------


@pytest.mark.django_db
def test_token_requests_issued_refused_and_rate_limited_move_their_counters(
    client, admin_membership, metrics_on
):
    # given
    oauth_client, secret = client_with_secret(organization=admin_membership.organization)
    form = {"grant_type": "client_credentials", "client_id": oauth_client.client_id}
    issued = dict(
        grant="client_credentials", auth_method="client_secret_post", outcome="issued", reason="ok"
    )
    refused = {**issued, "outcome": "refused", "reason": "wrong_secret"}
    limited = {"endpoint": "token", "limit": "client_address"}
    before = scrape(client)
    # when
    assert client.post(TOKEN_URL, {**form, "client_secret": secret}).status_code == 200
    assert client.post(TOKEN_URL, {**form, "client_secret": "wrong"}).status_code == 401
    # The 429 path belongs to the rate limits (another branch); its call is this one.
    metrics.rate_limited(limit="client_address", endpoint="token")
    after = scrape(client)
    # then
    total = "identity_token_requests_total"
    assert value(after, total, **issued) == value(before, total, **issued) + 1
    assert value(after, total, **refused) == value(before, total, **refused) + 1
    limited_total = "identity_rate_limited_requests_total"
    assert value(after, limited_total, **limited) == value(before, limited_total, **limited) + 1
    count = "identity_token_request_duration_seconds_count"
    for outcome in ("issued", "refused"):
        assert value(after, count, outcome=outcome) == value(before, count, outcome=outcome) + 1
    # and no client ID or subject is a label
    assert oauth_client.client_id not in after
    assert str(admin_membership.organization.global_id) not in after


@pytest.mark.django_db
def test_the_grant_and_the_authentication_method_are_told_apart(client, metrics_on):
    before = scrape(client)
    client.post(TOKEN_URL, {"grant_type": "password", "client_id": "x", "client_secret": "y"})
    client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials"},
        headers={"Authorization": "Basic eDp5"},
    )
    after = scrape(client)
    total = "identity_token_requests_total"
    for labels in (
        dict(grant="other", auth_method="client_secret_post", outcome="refused"),
        dict(grant="client_credentials", auth_method="client_secret_basic", outcome="refused"),
    ):
        moved = [
            s
            for f in text_string_to_metric_families(after)
            for s in f.samples
            if s.name == total and labels.items() <= s.labels.items()
        ]
        assert sum(s.value for s in moved) > sum(
            s.value
            for f in text_string_to_metric_families(before)
            for s in f.samples
            if s.name == total and labels.items() <= s.labels.items()
        ), labels


@pytest.mark.django_db
def test_sessions_by_state_and_the_signing_key_age_are_read_when_scraped(
    client, metrics_on, admin_membership
):
    # given
    tenant = admin_membership.organization.tenants.get()
    machine = machine_create(tenant=tenant)
    for host, state in (("a", "Connected"), ("b", "Connected"), ("c", "Disconnected")):
        Session.objects.create(
            tenant=tenant,
            machine=machine,
            host_name=host,
            state=state,
            reporting_time=timezone.now(),
        )
    current_signing_key()  # the first key is made on first use
    time.sleep(0.01)
    # when
    text = scrape(client)
    # then
    assert value(text, "identity_sessions", state="Connected") == 2
    assert value(text, "identity_sessions", state="Disconnected") == 1
    assert 0 < value(text, "identity_signing_key_age_seconds") < 60
