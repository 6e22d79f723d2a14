import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.test import RequestFactory

from tenants.models import AuditEvent, AuditEventImmutableError
from tenants.services import REDACTED, Actor, AuditTarget, audit_record
from tenants.tests.factories import TenantFactory, UserFactory


@pytest.fixture
def event(db):
    tenant = TenantFactory()
    return audit_record(
        action="tenant.create",
        actor=Actor.system("test"),
        tenant=tenant,
        target=tenant,
    )


@pytest.mark.django_db
def test_audit_record_stores_who_what_where_and_outcome():
    # given
    tenant = TenantFactory(name="Finance")
    user = UserFactory(username="alice")
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8")
    request.user = user

    # when
    event = audit_record(
        action="setting.update",
        actor=Actor.from_request(request),
        tenant=tenant,
        target=AuditTarget("setting", "Some.Key", "Some.Key"),
        outcome=AuditEvent.Outcome.FAILURE,
        reason_code="invalid_value",
        details={"value": {"before": 1, "after": 2}},
    )

    # then
    event.refresh_from_db()
    assert (event.organization, event.tenant) == (tenant.organization, tenant)
    assert (event.actor_kind, event.actor_id, event.actor_name) == ("user", str(user.pk), "alice")
    assert (event.target_kind, event.target_id, event.target_name) == (
        "setting",
        "Some.Key",
        "Some.Key",
    )
    assert (event.outcome, event.reason_code) == ("failure", "invalid_value")
    assert (event.client_address, event.user_agent) == ("203.0.113.9", "curl/8")
    assert event.details == {"value": {"before": 1, "after": 2}}


@pytest.mark.django_db
def test_audit_target_of_a_model_uses_its_global_id_and_name():
    tenant = TenantFactory(name="Finance")

    event = audit_record(action="tenant.create", actor=Actor.system("t"), target=tenant)

    assert (event.target_kind, event.target_id, event.target_name) == (
        "tenant",
        str(tenant.global_id),
        "Finance",
    )


@pytest.mark.django_db
def test_audit_details_never_keep_secret_values():
    event = audit_record(
        action="client.create",
        actor=Actor.system("t"),
        details={
            "client_secret": "s3cr3t",
            "nested": [{"password": "hunter2", "name": "kept"}],
            "Authorization": "Bearer abc",
            "client_assertion": "eyJ...",
            "access_token": "eyJ...",
            "secret_id": 7,
        },
    )

    event.refresh_from_db()
    assert event.details == {
        "client_secret": REDACTED,
        "nested": [{"password": REDACTED, "name": "kept"}],
        "Authorization": REDACTED,
        "client_assertion": REDACTED,
        "access_token": REDACTED,
        # An identifier names a secret without revealing it.
        "secret_id": 7,
    }


def test_client_address_honours_only_the_configured_proxy_depth(settings, rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.7, 10.0.0.9")
    request.user = None

    assert Actor.from_request(request).address == "10.0.0.5"

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert Actor.from_request(request).address == "10.0.0.9"


def test_audit_event_cannot_be_saved_again(event):
    event.action = "something.else"

    with pytest.raises(AuditEventImmutableError):
        event.save()
    event.refresh_from_db()
    assert event.action == "tenant.create"


def test_audit_event_cannot_be_deleted(event):
    with pytest.raises(AuditEventImmutableError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda qs: qs.update(action="x"), id="queryset-update"),
        pytest.param(lambda qs: qs.delete(), id="queryset-delete"),
        pytest.param(lambda qs: qs.bulk_update(list(qs), ["action"]), id="bulk-update"),
    ],
)
def test_audit_queryset_refuses_bulk_changes(event, change):
    with pytest.raises(AuditEventImmutableError):
        change(AuditEvent.objects.filter(pk=event.pk))
    event.refresh_from_db()
    assert event.action == "tenant.create"


def test_an_organization_with_audit_events_cannot_be_deleted(event):
    with pytest.raises(ProtectedError):
        event.organization.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL only"
)
@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("UPDATE tenants_auditevent SET action = 'x' WHERE id = %s", id="update"),
        pytest.param("DELETE FROM tenants_auditevent WHERE id = %s", id="delete"),
    ],
)
def test_postgresql_refuses_raw_changes_to_audit_rows(event, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.action == "tenant.create"
