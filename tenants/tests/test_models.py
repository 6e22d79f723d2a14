import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tenants.models import SETTING_DEFINITIONS, Organization, Tenant
from tenants.tests.factories import OrganizationFactory, TenantFactory


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("Demo", id="uppercase"),
        pytest.param("-demo", id="leading-hyphen"),
        pytest.param("demo_", id="underscore"),
        pytest.param("a" * 65, id="too-long"),
        pytest.param("django-admin", id="reserved"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.django_db
def test_organization_slug_rejects_unusable_values(slug):
    # given / when
    organization = Organization(name="Acme", slug=slug)

    # then
    with pytest.raises(ValidationError) as error:
        organization.full_clean()
    assert "slug" in error.value.message_dict


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("1Tenant", id="leading-digit"),
        pytest.param("Default Tenant", id="space"),
        pytest.param("T" * 33, id="too-long"),
    ],
)
@pytest.mark.django_db
def test_tenant_name_rejects_unusable_values(name):
    tenant = Tenant(organization=OrganizationFactory(), name=name)

    with pytest.raises(ValidationError) as error:
        tenant.full_clean()
    assert "name" in error.value.message_dict


@pytest.mark.django_db
def test_tenant_names_are_unique_in_an_organization_in_any_case():
    # given
    tenant = TenantFactory(name="DefaultTenant")

    # when / then: the database refuses a second one differing only by case
    with pytest.raises(IntegrityError):
        Tenant.objects.create(organization=tenant.organization, name="defaulttenant")


@pytest.mark.django_db
def test_the_same_tenant_name_may_exist_in_two_organizations():
    TenantFactory(name="DefaultTenant")

    other = TenantFactory(name="DefaultTenant")

    assert Tenant.objects.filter(name="DefaultTenant").count() == 2
    assert other.global_id is not None


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        pytest.param("Scalability.Heartbeat.PeriodSeconds", 45, 45, id="int"),
        pytest.param("Scalability.Heartbeat.PeriodSeconds", "45", 45, id="int-as-string"),
        pytest.param("Auth.UnattendedRobot.ForceClientCredentials", False, False, id="bool"),
        pytest.param(
            "Auth.UnattendedRobot.ForceClientCredentials", "True", True, id="bool-as-string"
        ),
    ],
)
def test_setting_definition_accepts_its_type(key, raw, expected):
    assert SETTING_DEFINITIONS[key].clean(raw) == expected


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        pytest.param("Scalability.Heartbeat.PeriodSeconds", True, "whole number", id="bool-as-int"),
        pytest.param("Scalability.Heartbeat.PeriodSeconds", 1.5, "whole number", id="float"),
        pytest.param("Scalability.Heartbeat.PeriodSeconds", "abc", "whole number", id="text"),
        pytest.param("Scalability.Heartbeat.PeriodSeconds", 0, "at least 1", id="below-min"),
        pytest.param("Scalability.Heartbeat.FailureThreshold", 101, "at most 100", id="above-max"),
        pytest.param("Auth.UnattendedRobot.ForceClientCredentials", 1, "true or false", id="int"),
        pytest.param("Auth.UnattendedRobot.ForceClientCredentials", "yes", "true or false", id="y"),
    ],
)
def test_setting_definition_rejects_other_types(key, raw, message):
    with pytest.raises(ValidationError) as error:
        SETTING_DEFINITIONS[key].clean(raw)
    assert message in error.value.messages[0]


def test_setting_defaults_are_those_of_the_product():
    assert {k: d.default for k, d in SETTING_DEFINITIONS.items()} == {
        "Scalability.Heartbeat.PeriodSeconds": 30,
        "Scalability.Heartbeat.FailureThreshold": 4,
        "Auth.UnattendedRobot.ForceClientCredentials": True,
    }
