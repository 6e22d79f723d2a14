"""delete_inactive_sessions: the same rule and service as the API, for old sessions."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from machines.models import Session
from machines.tests.factories import machine_create, session_create
from tenants.models import AuditEvent
from tenants.services import Actor, setting_set
from tenants.tests.factories import TenantFactory


def run(*args) -> str:
    out = StringIO()
    call_command("delete_inactive_sessions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def sessions(db, clock):
    """In two tenants: sessions last heard of 10 days ago (disconnected, silent) and now
    (disconnected, connected); in the second tenant, a 10-day-old silent one too."""
    first = machine_create(tenant=TenantFactory(name="First"), name="M1")
    second = machine_create(tenant=TenantFactory(name="Second"), name="M2")
    old = {
        "ended": session_create(machine=first, host_name="ended", state="Disconnected"),
        "silent": session_create(machine=first, host_name="silent"),
        "silent-2": session_create(machine=second, host_name="silent-2"),
    }
    clock.advance(days=10)
    recent = {
        "recent-ended": session_create(
            machine=first, host_name="recent-ended", state="Disconnected"
        ),
        "connected": session_create(machine=first, host_name="connected"),
    }
    return old | recent


def test_it_deletes_inactive_sessions_older_than_n_days_and_audits_each(sessions):
    # when
    output = run("--older-than-days", "9")

    # then
    assert set(Session.objects.values_list("host_name", flat=True)) == {
        "recent-ended",
        "connected",
    }
    assert "Deleted 3 inactive sessions." in output
    assert f"Deleted session {sessions['ended'].pk} of " in output
    assert "M1 on ended (Disconnected, last report" in output
    assert "M1 on silent (Unresponsive, last report" in output
    events = AuditEvent.objects.filter(action="session.delete")
    assert {(e.actor_kind, e.actor_name) for e in events} == {
        ("system", "delete_inactive_sessions")
    }
    assert events.count() == 3


def test_zero_days_takes_every_inactive_session(sessions, clock):
    clock.advance(seconds=1)

    run("--older-than-days", "0")

    assert list(Session.objects.values_list("host_name", flat=True)) == ["connected"]


def test_dry_run_prints_and_deletes_nothing(sessions):
    output = run("--older-than-days", "9", "--dry-run")

    assert "Would delete 3 inactive sessions." in output
    assert f"Would delete session {sessions['silent'].pk} of " in output
    assert Session.objects.count() == 5
    assert not AuditEvent.objects.filter(action="session.delete").exists()


def test_each_tenant_judges_unresponsiveness_by_its_own_settings(db, clock):
    # given: two sessions silent for 2 days, one in a tenant that tolerates 100 x 3600 s
    strict = machine_create(tenant=TenantFactory())
    tolerant = machine_create(tenant=TenantFactory())
    actor = Actor.system("tests")
    for key, value in [("PeriodSeconds", 3600), ("FailureThreshold", 100)]:
        setting_set(
            tenant=tolerant.tenant, key=f"Scalability.Heartbeat.{key}", value=value, actor=actor
        )
    session_create(machine=strict, host_name="strict")
    session_create(machine=tolerant, host_name="tolerant")
    clock.advance(days=2)

    # when
    output = run("--older-than-days", "1")

    # then
    assert "Deleted 1 inactive session." in output
    assert list(Session.objects.values_list("host_name", flat=True)) == ["tolerant"]


def test_a_negative_age_is_refused(db):
    with pytest.raises(CommandError):
        run("--older-than-days", "-1")
