"""Rate limits at the token, introspection and revocation endpoints (SPEC §10,
identity_server.ratelimit), against the configured shared cache: Redis when REDIS_URL is set
(as CI runs it), this process's memory otherwise."""

import logging
import time

import pytest

from identity_server import metrics, services, shared_cache
from identity_server.models import OAuthClient
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import TOKEN_URL, Api
from identity_server.tests.test_introspection import INTROSPECT_URL, REVOKE_URL
from identity_server.tests.test_metrics import sample
from machines.tests.factories import machine_create
from tenants.models import AuditEvent

APPS = "/identity_/api/ExternalClient"
ATTACKER, ROBOT_HOST = "203.0.113.7", "198.51.100.20"


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization)


def token(client, oauth_client, secret, address, **extra):
    form = {"grant_type": "client_credentials", "client_id": oauth_client.client_id}
    form["client_secret"] = secret
    return client.post(TOKEN_URL, {**form, **extra}, REMOTE_ADDR=address)


def assert_rate_limited(response, window_seconds=60):
    assert response.status_code == 429, response.content
    assert 1 <= int(response.headers["Retry-After"]) <= window_seconds
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == "rate_limited"
    assert "Retry-After" in body["error_description"]


def rate_limited_events():
    return AuditEvent.objects.filter(reason_code="rate_limited").order_by("id")


def wait_for_a_fresh_window(seconds: int) -> None:
    """Sleeps to the start of the next fixed window, so that a test's burst fits in one."""
    time.sleep(seconds - time.time() % seconds + 0.01)


# --- failure buckets ------------------------------------------------------------------------


def test_wrong_secrets_from_one_address_reach_429_while_the_client_works_elsewhere(client, app):
    oauth_client, secret = app

    # when
    responses = [token(client, oauth_client, "idsec_wrong", ATTACKER) for _ in range(100)]

    # then the first ten are refused as wrong, the rest limited
    assert [r.status_code for r in responses] == [401] * 10 + [429] * 90
    assert_rate_limited(responses[-1])
    assert token(client, oauth_client, secret, ROBOT_HOST).status_code == 200
    # from the attacker's address even the right secret waits: nothing is checked
    assert_rate_limited(token(client, oauth_client, secret, ATTACKER))


def test_limited_requests_are_counted_in_the_metrics(client, app):
    oauth_client, _ = app
    name, labels = "identity_rate_limited_requests_total", {"endpoint": "token"}
    before = sample(metrics.scrape(), name, limit="client_address", **labels)

    for _ in range(13):
        token(client, oauth_client, "idsec_wrong", ATTACKER)

    after = metrics.scrape()
    assert sample(after, name, limit="client_address", **labels) == before + 3
    refused = {"outcome": "refused", "reason": "rate_limited"}
    assert sample(after, "identity_token_requests_total", **refused, grant="client_credentials",
                  auth_method="client_secret_post") >= 3  # fmt: skip


def test_a_limited_request_is_answered_before_anything_is_read(
    client, app, django_assert_num_queries
):
    # given
    oauth_client, secret = app
    for _ in range(10):
        token(client, oauth_client, "idsec_wrong", ATTACKER)
    token(client, oauth_client, "idsec_wrong", ATTACKER)  # the first 429 is audited

    # when, then: no query, so no client read and no secret hashed
    with django_assert_num_queries(0):
        assert_rate_limited(token(client, oauth_client, secret, ATTACKER))


def test_reaching_a_limit_is_audited_once_per_key_and_window(client, app):
    oauth_client, _ = app

    for _ in range(30):
        token(client, oauth_client, "idsec_wrong", ATTACKER)

    [event] = rate_limited_events()
    assert (event.action, event.outcome) == ("token.request", "failure")
    assert (event.target_kind, event.target_id) == ("oauth_client", oauth_client.client_id)
    assert event.organization == oauth_client.organization
    assert event.client_address == ATTACKER
    assert event.details["limit"] == "client_address"
    assert (event.details["maximum"], event.details["window_seconds"]) == (10, 60)


def test_an_address_is_limited_across_client_ids(client, app, settings):
    # given failures for many client IDs, none of them ten
    settings.TOKEN_FAILURES_PER_ADDRESS = 20
    oauth_client, secret = app
    for number in range(20):
        client.post(
            TOKEN_URL,
            {"grant_type": "client_credentials", "client_id": f"c{number}", "client_secret": "x"},
            REMOTE_ADDR=ATTACKER,
        )

    # then every client from that address waits, and nobody elsewhere
    assert_rate_limited(token(client, oauth_client, secret, ATTACKER))
    assert token(client, oauth_client, secret, ROBOT_HOST).status_code == 200
    [event] = rate_limited_events()
    assert (event.target_kind, event.details["limit"]) == ("client_address", "address")


def test_the_limits_cover_introspection_and_revocation(client, app):
    oauth_client, secret = app
    access_token = token(client, oauth_client, secret, ROBOT_HOST).json()["access_token"]
    for _ in range(10):
        token(client, oauth_client, "idsec_wrong", ATTACKER)

    for url in (INTROSPECT_URL, REVOKE_URL):
        form = {"client_id": oauth_client.client_id, "client_secret": secret}
        response = client.post(url, {**form, "token": access_token}, REMOTE_ADDR=ATTACKER)

        assert_rate_limited(response)


def test_refusals_at_introspection_count_too(client, app):
    oauth_client, _ = app
    form = {"client_id": oauth_client.client_id, "client_secret": "idsec_wrong", "token": "x"}

    statuses = [
        client.post(INTROSPECT_URL, form, REMOTE_ADDR=ATTACKER).status_code for _ in range(11)
    ]

    assert statuses == [401] * 10 + [429]


def test_the_address_comes_from_the_configured_proxy_depth(client, app, settings):
    # given one proxy in front, which appends the address it saw
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    oauth_client, secret = app

    def through_proxy(secret, address):
        form = {"grant_type": "client_credentials", "client_id": oauth_client.client_id}
        form["client_secret"] = secret
        return client.post(TOKEN_URL, form, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=address)

    # when
    for _ in range(10):
        through_proxy("idsec_wrong", ATTACKER)

    # then
    assert_rate_limited(through_proxy(secret, ATTACKER))
    robot = through_proxy(secret, ROBOT_HOST)
    assert robot.status_code == 200, robot.content


def test_the_failure_windows_end(client, app, settings):
    # given windows of two seconds
    settings.TOKEN_FAILURE_WINDOW_SECONDS = 2
    oauth_client, secret = app
    wait_for_a_fresh_window(2)
    for _ in range(10):
        token(client, oauth_client, "idsec_wrong", ATTACKER)
    limited = token(client, oauth_client, secret, ATTACKER)
    assert_rate_limited(limited, window_seconds=2)

    # when the window ends
    time.sleep(int(limited.headers["Retry-After"]))

    # then
    assert token(client, oauth_client, secret, ATTACKER).status_code == 200


def test_the_shared_counters_expire(db):
    assert [shared_cache.count("test:expiring", 1) for _ in range(2)] == [1, 2]

    time.sleep(1.1)

    assert shared_cache.count("test:expiring", 1) == 1


def test_with_the_shared_cache_down_limits_fail_open_with_a_warning(
    client, app, shared_cache_down, caplog
):
    oauth_client, secret = app
    caplog.set_level(logging.WARNING, logger="identity_server.shared_cache")

    statuses = {token(client, oauth_client, "idsec_wrong", ATTACKER).status_code for _ in range(15)}

    assert statuses == {401}
    assert token(client, oauth_client, secret, ATTACKER).status_code == 200
    assert any("rate limits are not enforced" in r.getMessage() for r in caplog.records)
    assert sample(metrics.scrape(), "identity_shared_cache_errors_total", operation="rate_limit")


# --- quotas ------------------------------------------------------------------------------


def with_quota(oauth_client, **quota):
    return services.client_update(client=oauth_client, actor=TEST_ACTOR, **quota)


def test_an_enforced_quota_gives_its_tokens_then_429(client, app):
    # given
    oauth_client, secret = app
    with_quota(oauth_client, quota_per_hour=3)

    # when
    responses = [token(client, oauth_client, secret, ROBOT_HOST) for _ in range(5)]

    # then
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert_rate_limited(responses[3], window_seconds=3600)
    assert "quota of 3 tokens per hour" in responses[3].json()["error_description"]
    [event] = rate_limited_events()
    assert (event.outcome, event.target_id) == ("failure", oauth_client.client_id)
    assert event.details["limit"] == "quota_hour"
    assert event.details["refused"] is True


def test_an_audit_only_quota_keeps_issuing_and_audits_once(client, app):
    oauth_client, secret = app
    with_quota(oauth_client, quota_per_day=2, quota_enforced=False)

    responses = [token(client, oauth_client, secret, ROBOT_HOST) for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 5
    [event] = rate_limited_events()
    assert (event.outcome, event.details["limit"]) == ("success", "quota_day")
    assert (event.details["maximum"], event.details["refused"]) == (2, False)


def test_refused_requests_do_not_use_up_a_quota(client, app):
    oauth_client, secret = app
    with_quota(oauth_client, quota_per_hour=2)

    for _ in range(5):
        token(client, oauth_client, "idsec_wrong", ATTACKER)
        token(client, oauth_client, secret, ROBOT_HOST, scope="OR.Robots")  # not granted

    assert [token(client, oauth_client, secret, ROBOT_HOST).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]


def test_a_quota_window_ends(client, app, settings):
    # given hours of two seconds
    settings.TOKEN_QUOTA_HOUR_SECONDS = 2
    oauth_client, secret = app
    with_quota(oauth_client, quota_per_hour=1)
    wait_for_a_fresh_window(2)
    assert token(client, oauth_client, secret, ROBOT_HOST).status_code == 200
    limited = token(client, oauth_client, secret, ROBOT_HOST)
    assert_rate_limited(limited, window_seconds=2)

    # when
    time.sleep(int(limited.headers["Retry-After"]))

    # then
    assert token(client, oauth_client, secret, ROBOT_HOST).status_code == 200


def test_raising_a_quota_lifts_its_limit_at_once(client, app):
    oauth_client, secret = app
    with_quota(oauth_client, quota_per_hour=1)
    assert [token(client, oauth_client, secret, ROBOT_HOST).status_code for _ in range(2)] == [
        200,
        429,
    ]

    with_quota(oauth_client, quota_per_hour=5)

    assert token(client, oauth_client, secret, ROBOT_HOST).status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"quota_per_hour": 0}, "quota_per_hour", id="zero"),
        pytest.param({"quota_per_day": -5}, "quota_per_day", id="negative"),
        pytest.param({"quota_per_day": "10"}, "quota_per_day", id="text"),
        pytest.param({"quota_per_hour": True}, "quota_per_hour", id="boolean"),
        pytest.param({"quota_enforced": "yes"}, "quota_enforced", id="enforced"),
    ],
)
def test_quotas_are_checked(app, changes, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        with_quota(app[0], **changes)

    assert field in refused.value.message_dict


def test_setting_a_quota_is_audited(app):
    oauth_client, _ = app

    with_quota(oauth_client, quota_per_hour=100, quota_enforced=False)

    event = AuditEvent.objects.filter(action="client.update").latest("id")
    assert event.details["quota_per_hour"] == {"before": None, "after": 100}
    assert event.details["quota_enforced"] == {"before": True, "after": False}


# --- quotas in the APIs ------------------------------------------------------------------


@pytest.fixture
def script(admin_membership):
    return client_with_secret(
        organization=admin_membership.organization,
        scopes=("OR.Machines", "PM.OAuthApp"),
        name="Script",
    )


@pytest.fixture
def api(client, script):
    response = token(client, script[0], script[1], ROBOT_HOST)
    return Api(client, response.json()["access_token"])


def test_a_machine_gets_a_quota_through_the_odata_api(api, client, admin_membership):
    # given
    tenant = admin_membership.organization.tenants.get()
    url = f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/Machines"
    created = api.post(url, {"Name": "Agents", "TokenQuotaPerHour": 2})
    assert created.status_code == 201, created.content
    machine = created.json()
    assert (machine["TokenQuotaPerHour"], machine["TokenQuotaEnforced"]) == (2, True)

    # when
    changed = api.patch(f"{url}({machine['Id']})", {"TokenQuotaPerDay": 50})

    # then
    assert changed.status_code == 200, changed.content
    assert (changed.json()["TokenQuotaPerHour"], changed.json()["TokenQuotaPerDay"]) == (2, 50)
    client_row = OAuthClient.objects.get(client_id=machine["ClientId"])
    secret = services.client_secret_create(client=client_row, actor=TEST_ACTOR)[1]
    statuses = [token(client, client_row, secret, ROBOT_HOST).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_refused_machine_quota_is_keyed_by_its_odata_name(api, admin_membership):
    tenant = admin_membership.organization.tenants.get()
    url = f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/Machines"

    response = api.post(url, {"Name": "Agents", "TokenQuotaPerHour": 0})

    assert response.status_code == 400
    assert "TokenQuotaPerHour" in response.content.decode()
    assert not OAuthClient.objects.filter(name="Agents").exists()


def test_an_external_application_gets_a_quota_through_its_api(api, admin_membership):
    # given
    organization = admin_membership.organization
    url = f"/identity_/api/ExternalClient/{organization.global_id}"
    body = {"partitionGlobalId": str(organization.global_id), "name": "CI"}
    created = api.post(APPS, {**body, "scopes": ["OR.Machines"], "tokenQuotaPerDay": 9})
    assert created.status_code in (200, 201), created.content
    app = created.json()
    assert (app["tokenQuotaPerDay"], app["tokenQuotaPerHour"]) == (9, None)

    # when
    body = {"name": "CI", "tokenQuotaPerDay": None, "tokenQuotaPerHour": 100}
    changed = api.put(f"{url}/{app['id']}", {**body, "tokenQuotaEnforced": False})

    # then
    assert changed.status_code == 200, changed.content
    assert (changed.json()["tokenQuotaPerDay"], changed.json()["tokenQuotaPerHour"]) == (None, 100)
    assert changed.json()["tokenQuotaEnforced"] is False
    event = AuditEvent.objects.filter(action="client.update").latest("id")
    assert event.details["quota_per_hour"] == {"before": None, "after": 100}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"tokenQuotaPerHour": -1}, "tokenQuotaPerHour", id="negative"),
        pytest.param({"tokenQuotaPerDay": 1.5}, "tokenQuotaPerDay", id="fraction"),
        pytest.param({"tokenQuotaEnforced": "maybe"}, "tokenQuotaEnforced", id="enforced"),
    ],
)
def test_a_refused_application_quota_is_keyed_by_its_name(api, admin_membership, body, field):
    organization = admin_membership.organization
    body = {"partitionGlobalId": str(organization.global_id), "name": "CI", **body}

    response = api.post(APPS, body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


# --- quotas in the admin site ------------------------------------------------------------


def test_an_admin_sets_a_machines_quota_on_its_edit_page(client, admin_membership):
    # given
    tenant = admin_membership.organization.tenants.get()
    machine = machine_create(tenant=tenant, name="Agents")
    client.force_login(admin_membership.user)
    url = f"/{tenant.organization.slug}/{tenant.name}/portal_/machines/{machine.pk}/edit/"
    assert 'name="tokenQuotaPerHour"' in client.get(url).content.decode()
    form = {"name": "Agents", "type": "Standard", "description": ""}

    # when
    saved = client.post(url, {**form, "tokenQuotaPerHour": "30", "tokenQuotaPerDay": ""})
    refused = client.post(url, {**form, "tokenQuotaPerHour": "0", "tokenQuotaEnforced": "on"})

    # then
    assert saved.status_code == 302
    machine.client.refresh_from_db()
    assert (machine.client.quota_per_hour, machine.client.quota_per_day) == (30, None)
    assert machine.client.quota_enforced is False  # the box was not ticked
    page = refused.content.decode()
    assert refused.status_code == 200
    assert "from 1 to" in page.split('id="id_tokenQuotaPerHour_error"')[1]
    assert 'value="30"' in client.get(url).content.decode()


def test_an_admin_sets_an_applications_quota_on_its_pages(client, admin_membership):
    organization = admin_membership.organization
    client.force_login(admin_membership.user)
    base = f"/{organization.slug}/portal_/apps/"

    created = client.post(
        f"{base}new/",
        {"name": "CI", "isConfidential": "on", "tokenQuotaPerDay": "500", "tokenQuotaEnforced": ""},
    )

    assert created.status_code == 303
    app = OAuthClient.objects.get(name="CI")
    assert (app.quota_per_day, app.quota_enforced) == (500, False)
    edit = client.get(f"{base}{app.client_id}/edit/").content.decode()
    assert 'value="500"' in edit
