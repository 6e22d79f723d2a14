from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import RestrictedError

from identity_server.models import OAuthClient, Revocation
from identity_server.scopes import ROBOT_SCOPE
from machines import services
from machines.models import Machine, Robot, Session
from machines.tests.factories import TEST_ACTOR, machine_create, robot_create, session_create
from tenants.models import AuditEvent
from tenants.tests.factories import TenantFactory


def test_machine_create_makes_its_machine_client_in_the_tenant(db):
    # given
    tenant = TenantFactory()

    # when
    machine = services.machine_create(
        tenant=tenant, name="Build agents", type="Template", description="CI", actor=TEST_ACTOR
    )

    # then
    client = machine.client
    assert (client.kind, client.name, client.scopes) == ("machine", "Build agents", [ROBOT_SCOPE])
    assert (client.organization, client.tenant) == (tenant.organization, tenant)
    event = AuditEvent.objects.get(action="machine.create")
    assert (event.tenant, event.target_kind) == (tenant, "machine")
    assert event.target_id == str(machine.pk)
    assert event.details["client_id"] == client.client_id
    assert AuditEvent.objects.filter(action="client.create").exists()


def test_machine_create_defaults_to_a_standard_machine(db):
    machine = services.machine_create(tenant=TenantFactory(), name="M", actor=TEST_ACTOR)

    assert machine.type == Machine.Type.STANDARD
    assert machine.description == ""


@pytest.mark.parametrize("name", ["Robots", "ROBOTS"], ids=["same-case", "other-case"])
def test_machine_create_refuses_a_name_taken_in_the_tenant_and_leaves_no_client(db, name):
    # given
    tenant = TenantFactory()
    machine_create(tenant=tenant, name="Robots")
    clients_before = OAuthClient.objects.count()

    # when
    with pytest.raises(ValidationError) as error:
        services.machine_create(tenant=tenant, name=name, actor=TEST_ACTOR)

    # then
    assert error.value.error_dict["name"][0].code == "duplicate_name"
    assert OAuthClient.objects.count() == clients_before


def test_the_same_name_is_free_in_another_tenant(db):
    machine_create(tenant=TenantFactory(), name="Robots")

    assert services.machine_create(tenant=TenantFactory(), name="Robots", actor=TEST_ACTOR)


def _free_client(tenant) -> OAuthClient:
    return OAuthClient.objects.create(
        organization=tenant.organization, tenant=tenant, name="free", kind="machine"
    )


def test_the_database_refuses_a_duplicate_name_that_slips_past_the_check(db):
    # given: what a concurrent request that passed the check at the same time would insert
    first = machine_create(tenant=TenantFactory(), name="Robots")

    # when / then
    with pytest.raises(IntegrityError, match="machine_name_unique_in_tenant"):
        Machine.objects.create(
            tenant=first.tenant, name="robots", client=_free_client(first.tenant)
        )


def test_a_duplicate_found_by_the_database_is_the_duplicate_name_error(db):
    # given: the check passed, then a concurrent request inserted the same name
    tenant = TenantFactory()
    first = machine_create(tenant=tenant, name="Robots")
    second = Machine(tenant=tenant, name="ROBOTS", client=_free_client(tenant))

    # when
    with pytest.raises(ValidationError) as error:
        services._save(second)

    # then: the savepoint leaves the transaction usable
    assert error.value.error_dict["name"][0].code == "duplicate_name"
    assert Machine.objects.get(pk=first.pk).name == "Robots"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": ""}, "name", id="blank-name"),
        pytest.param({"name": "x" * 129}, "name", id="long-name"),
        pytest.param({"description": "x" * 513}, "description", id="long-description"),
        pytest.param({"type": "Serverless"}, "type", id="unknown-type"),
    ],
)
def test_machine_create_checks_its_fields(db, changes, field):
    with pytest.raises(ValidationError) as error:
        services.machine_create(
            tenant=TenantFactory(), actor=TEST_ACTOR, **{"name": "M", **changes}
        )

    assert set(error.value.error_dict) == {field}
    assert not Machine.objects.exists()


def test_machine_update_renames_its_client_and_audits_before_and_after(db):
    # given
    machine = machine_create(tenant=TenantFactory(), name="Old", description="d")

    # when
    services.machine_update(
        machine=machine, actor=TEST_ACTOR, name="New", description="d", type="Standard"
    )

    # then
    machine.refresh_from_db()
    machine.client.refresh_from_db()
    assert (machine.name, machine.type, machine.client.name) == ("New", "Standard", "New")
    event = AuditEvent.objects.get(action="machine.update")
    assert event.details == {
        "name": {"before": "Old", "after": "New"},
        "type": {"before": "Template", "after": "Standard"},
    }
    assert AuditEvent.objects.filter(action="client.update").exists()


def test_machine_update_may_change_only_the_case_of_its_own_name(db):
    machine = machine_create(tenant=TenantFactory(), name="robots")

    machine = services.machine_update(machine=machine, actor=TEST_ACTOR, name="Robots")

    assert machine.name == "Robots"


def test_machine_update_refuses_another_machines_name(db):
    tenant = TenantFactory()
    machine_create(tenant=tenant, name="Taken")
    machine = machine_create(tenant=tenant, name="Mine")

    with pytest.raises(ValidationError) as error:
        services.machine_update(machine=machine, actor=TEST_ACTOR, name="taken")

    assert error.value.error_dict["name"][0].code == "duplicate_name"


def test_machine_update_without_a_change_audits_nothing(db):
    machine = machine_create(tenant=TenantFactory(), name="Same", description="d")

    services.machine_update(machine=machine, actor=TEST_ACTOR, name="Same", description="d")

    assert not AuditEvent.objects.filter(action="machine.update").exists()


def test_machine_delete_deletes_its_client_and_revokes_its_tokens(db):
    # given
    machine = machine_create(tenant=TenantFactory())
    client_id = machine.client.client_id

    # when
    services.machine_delete(machine=machine, actor=TEST_ACTOR)

    # then
    assert not Machine.objects.exists()
    assert not OAuthClient.objects.filter(client_id=client_id).exists()
    assert Revocation.objects.filter(kind=Revocation.Kind.CLIENT, value=client_id).exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"machine.delete", "client.delete"} <= actions


def test_a_machines_client_cannot_be_deleted_without_the_machine(db):
    machine = machine_create(tenant=TenantFactory())

    with pytest.raises(RestrictedError):
        machine.client.delete()


def test_deleting_a_tenant_deletes_its_machines_and_their_clients(db):
    # given: rows made directly, as the audit log would (rightly) keep an audited tenant
    tenant = TenantFactory()
    client = _free_client(tenant)
    Machine.objects.create(tenant=tenant, name="M", client=client)

    # when
    tenant.delete()

    # then
    assert not Machine.objects.exists()
    assert not OAuthClient.objects.filter(pk=client.pk).exists()


# --- robots and sessions ----------------------------------------------------------------


def test_robot_create_refuses_a_machine_of_another_tenant(db):
    foreign = machine_create(tenant=TenantFactory())

    with pytest.raises(ValidationError) as error:
        services.robot_create(
            tenant=TenantFactory(), name="R", username="u", machine=foreign, actor=TEST_ACTOR
        )

    assert list(error.value.message_dict) == ["machine"]
    assert not Robot.objects.exists()


def test_robot_update_refuses_a_machine_of_another_tenant(db):
    robot = robot_create(tenant=TenantFactory())

    with pytest.raises(ValidationError):
        services.robot_update(
            robot=robot, machine=machine_create(tenant=TenantFactory()), actor=TEST_ACTOR
        )

    robot.refresh_from_db()
    assert robot.machine is None


def test_a_deleted_robot_leaves_its_sessions_without_a_robot(db):
    machine = machine_create(tenant=TenantFactory())
    robot = robot_create(tenant=machine.tenant, machine=machine)
    session = session_create(machine=machine, robot=robot)

    services.robot_delete(robot=robot, actor=TEST_ACTOR)

    session.refresh_from_db()
    assert session.robot is None
    assert AuditEvent.objects.filter(action="robot.delete").exists()


def test_each_host_of_a_machine_has_one_session(db):
    machine = machine_create(tenant=TenantFactory())

    first = session_create(machine=machine, host_name="H")
    again = session_create(machine=machine, host_name="H", state=Session.State.DISCONNECTED)

    assert first.pk == again.pk
    assert Session.objects.get().state == Session.State.DISCONNECTED


def test_deleting_a_machine_deletes_its_sessions(db):
    machine = machine_create(tenant=TenantFactory())
    session_create(machine=machine)

    services.machine_delete(machine=machine, actor=TEST_ACTOR)

    assert not Session.objects.exists()


def test_session_delete_inactive_judges_unresponsiveness_at_now(db):
    # given: a session that reported at t0; the default threshold is 4 x 30 s
    machine = machine_create(tenant=TenantFactory())
    session = session_create(machine=machine)
    t0 = session.reporting_time

    # then: at t0 + 2 min it is still connected, a moment later unresponsive
    with pytest.raises(ValidationError) as error:
        services.session_delete_inactive(
            tenant=machine.tenant,
            session_ids=[session.pk],
            actor=TEST_ACTOR,
            now=t0 + timedelta(minutes=2),
        )
    assert list(error.value.message_dict) == ["sessionIds"]
    deleted = services.session_delete_inactive(
        tenant=machine.tenant,
        session_ids=[session.pk],
        actor=TEST_ACTOR,
        now=t0 + timedelta(minutes=2, seconds=1),
    )
    assert [s.pk for s in deleted] == [session.pk]
    assert not Session.objects.exists()
