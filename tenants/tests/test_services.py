import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from tenants import selectors, services
from tenants.models import AuditEvent, Membership, Setting, Tenant
from tenants.tests.factories import OrganizationFactory, TenantFactory, UserFactory

ACTOR = services.Actor.system("test")


@pytest.mark.django_db
def test_tenant_create_refuses_a_name_differing_only_by_case_and_writes_nothing():
    tenant = TenantFactory(name="DefaultTenant")

    with pytest.raises(ValidationError, match="already exists"):
        services.tenant_create(organization=tenant.organization, name="DEFAULTTENANT", actor=ACTOR)

    assert Tenant.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_tenant_create_audits_under_the_tenant_and_its_organization():
    organization = OrganizationFactory()

    tenant = services.tenant_create(organization=organization, name="Finance", actor=ACTOR)

    event = AuditEvent.objects.get(action="tenant.create")
    assert (event.organization, event.tenant, event.target_name) == (
        organization,
        tenant,
        "Finance",
    )


@pytest.mark.django_db
def test_membership_set_adds_then_changes_the_role_with_before_and_after():
    organization, user = OrganizationFactory(), UserFactory()

    services.membership_set(organization=organization, user=user, role="member", actor=ACTOR)
    services.membership_set(organization=organization, user=user, role="admin", actor=ACTOR)
    services.membership_set(organization=organization, user=user, role="admin", actor=ACTOR)

    assert Membership.objects.get(organization=organization, user=user).role == "admin"
    details = [e.details for e in AuditEvent.objects.filter(action="membership.set").reverse()]
    assert details == [
        {"role": {"before": None, "after": "member"}},
        {"role": {"before": "member", "after": "admin"}},
    ]


@pytest.mark.django_db
def test_membership_set_refuses_an_unknown_role():
    organization, user = OrganizationFactory(), UserFactory()

    with pytest.raises(ValidationError) as error:
        services.membership_set(organization=organization, user=user, role="owner", actor=ACTOR)

    assert "role" in error.value.message_dict
    assert not Membership.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_setting_set_stores_the_typed_value_and_audits_before_and_after():
    tenant = TenantFactory()

    services.setting_set(
        tenant=tenant, key="Scalability.Heartbeat.PeriodSeconds", value="15", actor=ACTOR
    )

    assert selectors.setting_get(tenant=tenant, key="Scalability.Heartbeat.PeriodSeconds") == 15
    event = AuditEvent.objects.get(action="setting.update")
    assert event.tenant == tenant
    assert event.details == {"value": {"before": 30, "after": 15}}


@pytest.mark.django_db
def test_setting_set_with_the_stored_value_writes_no_audit_event():
    tenant = TenantFactory()
    key = "Scalability.Heartbeat.FailureThreshold"
    services.setting_set(tenant=tenant, key=key, value=6, actor=ACTOR)

    services.setting_set(tenant=tenant, key=key, value="6", actor=ACTOR)

    assert AuditEvent.objects.filter(action="setting.update").count() == 1
    assert selectors.setting_get(tenant=tenant, key=key) == 6


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        pytest.param("No.Such.Setting", 1, "key", id="unknown-key"),
        pytest.param("Scalability.Heartbeat.PeriodSeconds", "often", "value", id="wrong-type"),
        pytest.param("Scalability.Heartbeat.FailureThreshold", 0, "value", id="out-of-range"),
    ],
)
@pytest.mark.django_db
def test_setting_set_refuses_bad_input_and_writes_nothing(key, value, field):
    tenant = TenantFactory()

    with pytest.raises(ValidationError) as error:
        services.setting_set(tenant=tenant, key=key, value=value, actor=ACTOR)

    assert field in error.value.message_dict
    assert not Setting.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_setting_values_fill_in_defaults_per_tenant():
    tenant, other = TenantFactory(), TenantFactory()
    services.setting_set(
        tenant=tenant, key="Auth.UnattendedRobot.ForceClientCredentials", value=False, actor=ACTOR
    )

    assert selectors.setting_values(tenant=tenant) == {
        "Scalability.Heartbeat.PeriodSeconds": 30,
        "Scalability.Heartbeat.FailureThreshold": 4,
        "Auth.UnattendedRobot.ForceClientCredentials": False,
    }
    assert selectors.setting_get(tenant=other, key="Auth.UnattendedRobot.ForceClientCredentials")


@pytest.mark.django_db
def test_organization_list_for_user_gives_each_organization_once_with_the_users_own_role():
    # given: one organization with an admin and a member, and another the member is not in
    organization = OrganizationFactory(name="Acme")
    admin, member = UserFactory(), UserFactory()
    services.membership_set(organization=organization, user=admin, role="admin", actor=ACTOR)
    services.membership_set(organization=organization, user=member, role="member", actor=ACTOR)
    services.membership_set(
        organization=OrganizationFactory(), user=admin, role="admin", actor=ACTOR
    )

    # when
    listed = [(o.name, o.role) for o in selectors.organization_list_for_user(user=member)]

    # then
    assert listed == [("Acme", "member")]


# --- members: the last administrator -----------------------------------------------------------


@pytest.mark.django_db
def test_the_last_admin_is_neither_demoted_nor_removed_but_a_second_one_may_go():
    organization = OrganizationFactory()
    first, second = UserFactory(), UserFactory()
    services.membership_set(organization=organization, user=first, role="admin", actor=ACTOR)

    for attempt in (
        lambda: services.membership_set(
            organization=organization, user=first, role="member", actor=ACTOR
        ),
        lambda: services.membership_remove(organization=organization, user=first, actor=ACTOR),
    ):
        with pytest.raises(ValidationError) as error:
            attempt()
        assert error.value.message_dict == {
            "role": ["The organization's last administrator cannot be removed or demoted."]
        }

    services.membership_set(organization=organization, user=second, role="admin", actor=ACTOR)
    services.membership_remove(organization=organization, user=first, actor=ACTOR)
    assert list(Membership.objects.values_list("user", "role")) == [(second.pk, "admin")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_admins_removing_each_other_at_once_leave_one():
    # given
    organization = OrganizationFactory()
    admins = [UserFactory(), UserFactory()]
    for user in admins:
        services.membership_set(organization=organization, user=user, role="admin", actor=ACTOR)
    barrier, outcomes = threading.Barrier(2), []

    def remove(user):
        barrier.wait()
        try:
            services.membership_remove(organization=organization, user=user, actor=ACTOR)
            outcomes.append("removed")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=remove, args=(user,)) for user in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert sorted(outcomes) == ["refused", "removed"]
    assert Membership.objects.filter(organization=organization, role="admin").count() == 1
