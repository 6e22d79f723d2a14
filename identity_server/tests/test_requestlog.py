"""Request ids and the request log (SPEC §10): one JSON line per request, X-Request-Id taken
from a proxy or generated, returned, and recorded in the audit events of the request."""

import csv
import io
import json
import logging
import re
from urllib.parse import quote

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import TOKEN_URL
from machines.tests.factories import machine_with_secret
from tenants.models import AuditEvent


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def request_log():
    """The request log's lines as dicts (its logger does not propagate to pytest's)."""
    handler = _Lines()
    logger = logging.getLogger("identity_server.requests")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization)


def _token(client, oauth_client, secret, **headers):
    form = {
        "grant_type": "client_credentials",
        "client_id": oauth_client.client_id,
        "client_secret": secret,
    }
    return client.post(TOKEN_URL, form, headers=headers)


@pytest.mark.django_db
def test_a_token_request_gets_one_line_with_its_id_route_client_and_organization(
    client, app, request_log
):
    # given
    oauth_client, secret = app
    # when
    response = _token(client, oauth_client, secret)
    # then
    assert response.status_code == 200
    request_id = response["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [line] = request_log
    assert line["request_id"] == request_id
    assert line["method"] == "POST"
    assert line["route"] == "token"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["client_id"] == oauth_client.client_id
    assert line["organization"] == oauth_client.organization.slug
    assert secret not in json.dumps(line)
    assert response.json()["access_token"] not in json.dumps(line)


@pytest.mark.django_db
def test_a_refused_token_request_has_no_token_facts(client, app, request_log):
    oauth_client, _secret = app
    response = _token(client, oauth_client, "wrong")
    assert response.status_code == 401
    [line] = request_log
    assert "token" not in line


@pytest.mark.django_db
def test_a_line_stays_json_whatever_the_path_names(client, request_log):
    # given an organization name in the path that JSON must escape
    weird = 'a"b\\c\u00e9\u2028'
    # when
    client.post(f"/{quote(weird, safe='')}/identity_/connect/token", {"grant_type": "x"})
    # then the line parses, and says what was there
    [line] = request_log
    assert line["organization"] == weird
    assert line["route"] == "token-org"


@pytest.mark.django_db
def test_an_unknown_client_id_is_not_logged(client, request_log):
    # given: what was typed as the client ID may be a secret pasted in the wrong field
    typed = "idsrv_s_not-a-client-id-but-a-secret"
    # when
    response = client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "client_id": typed, "client_secret": "x"},
    )
    # then
    assert response.status_code == 401
    [line] = request_log
    assert line["status"] == 401
    assert "client_id" not in line
    assert typed not in json.dumps(line)


@pytest.mark.django_db
def test_a_refused_known_client_is_named(client, app, request_log):
    oauth_client, _secret = app
    response = _token(client, oauth_client, "wrong")
    assert response.status_code == 401
    assert request_log[0]["client_id"] == oauth_client.client_id


@pytest.mark.django_db
def test_the_query_string_and_path_are_never_logged(client, request_log):
    # when: a client puts a secret into the query string
    response = client.get("/identity_/connect/token?client_secret=s3cr3t-in-the-url")
    # then
    assert response.status_code == 405
    [line] = request_log
    assert "s3cr3t" not in json.dumps(line)
    assert line["route"] == "token"


@pytest.mark.django_db
def test_a_bearer_tokens_client_is_named_on_api_requests(
    client, admin_membership, issue_token, request_log
):
    # given
    oauth_client, secret = client_with_secret(
        organization=admin_membership.organization, scopes=["PM.OAuthApp.Read"]
    )
    token = issue_token(oauth_client, secret)
    request_log.clear()
    organization = oauth_client.organization
    # when
    response = client.get(
        f"/identity_/api/ExternalClient/{organization.global_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    # then
    assert response.status_code == 200
    [line] = request_log
    assert line["client_id"] == oauth_client.client_id
    assert line["organization"] == str(organization.global_id)
    assert token not in json.dumps(line)


@pytest.mark.django_db
def test_an_unmatched_route_is_logged_without_a_route_name(client, request_log):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert request_log[0]["route"] is None
    assert request_log[0]["status"] == 404


@pytest.mark.parametrize(
    ("num_proxies", "offered", "kept"),
    [
        pytest.param(1, "proxy-id-0123456789", True, id="behind-a-proxy"),
        pytest.param(1, "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7", True, id="trace-id"),
        pytest.param(0, "proxy-id-0123456789", False, id="no-proxy-client-chosen"),
        pytest.param(1, "short", False, id="too-short"),
        pytest.param(1, "x" * 65, False, id="too-long"),
        pytest.param(1, 'id with spaces and "quotes"', False, id="unsafe-characters"),
    ],
)
@pytest.mark.django_db
def test_the_proxys_request_id_is_kept_only_behind_a_proxy_and_when_safe(
    client, settings, num_proxies, offered, kept
):
    # given
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    # when
    response = client.get("/healthz", headers={"X-Request-Id": offered})
    # then
    returned = response["X-Request-Id"]
    if kept:
        assert returned == offered
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", returned)


@pytest.mark.django_db
def test_audit_events_record_the_request_id_shown_on_their_page(client, settings, admin_membership):
    # given: an admin behind a proxy that names its requests
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    organization = admin_membership.organization
    client.force_login(admin_membership.user)
    # when: a change the admin makes through the site is audited
    response = client.post(
        f"/{organization.slug}/portal_/tenants/",
        {"name": "Second"},
        headers={"X-Request-Id": "req-0123456789abcdef"},
    )
    # then
    assert response.status_code in (200, 302), response.content[:500]
    event = AuditEvent.objects.get(action="tenant.create")
    assert event.request_id == "req-0123456789abcdef"
    page = client.get(f"/{organization.slug}/portal_/audit/{event.pk}/")
    assert b"req-0123456789abcdef" in page.content
    export = client.get(f"/{organization.slug}/portal_/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert {r["Action"]: r["Request id"] for r in rows}["tenant.create"] == event.request_id


@pytest.mark.django_db
def test_the_audit_api_shows_the_request_id(client, admin_membership, issue_token):
    # given: a tenant's event caused by a request (a machine's refused token request), and
    # a client that may read the tenant's audit log
    tenant = admin_membership.organization.tenants.get()
    machine, _secret = machine_with_secret(tenant=tenant)
    refused = client.post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": machine.client.client_id,
            "client_secret": "x",
        },
    )
    reader, secret = client_with_secret(
        organization=admin_membership.organization, scopes=["OR.Audit.Read"]
    )
    token = issue_token(reader, secret)
    # when
    response = client.get(
        f"/{admin_membership.organization.slug}/{tenant.name}/orchestrator_/odata/AuditLogs",
        headers={"Authorization": f"Bearer {token}"},
    )
    # then
    assert response.status_code == 200, response.content
    ids = {e["Action"]: e["RequestId"] for e in response.json()["value"]}
    assert ids.get("token.request") == refused["X-Request-Id"], response.json()


@pytest.mark.django_db
def test_a_refused_token_requests_audit_event_has_its_request_id(client, app):
    oauth_client, _secret = app
    response = _token(client, oauth_client, "wrong")
    event = AuditEvent.objects.filter(action="token.request").latest("id")
    assert event.request_id == response["X-Request-Id"]


@pytest.mark.django_db
def test_events_outside_requests_have_no_request_id(app):
    # client_with_secret runs its services outside any request
    assert set(AuditEvent.objects.values_list("request_id", flat=True)) == {""}
