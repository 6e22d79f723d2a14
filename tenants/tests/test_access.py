import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from tenants.access import access_organization, access_tenant
from tenants.models import Membership
from tenants.tests.factories import MembershipFactory, UserFactory


def test_a_member_reaches_the_organization_by_global_id_or_slug(admin_membership):
    user, organization = admin_membership.user, admin_membership.organization

    assert access_organization(user=user, global_id=str(organization.global_id)) == organization
    assert access_organization(user=user, slug=organization.slug.upper()) == organization


@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda org: {"global_id": str(org.global_id)}, id="by-global-id"),
        pytest.param(lambda org: {"slug": org.slug}, id="by-slug"),
    ],
)
def test_an_organization_of_which_the_user_is_not_a_member_is_not_found(
    admin_membership, other_admin_membership, lookup
):
    with pytest.raises(Http404):
        access_organization(
            user=admin_membership.user, **lookup(other_admin_membership.organization)
        )


@pytest.mark.parametrize(
    "global_id",
    [
        pytest.param("00000000-0000-0000-0000-000000000000", id="missing"),
        pytest.param("not-a-uuid", id="malformed"),
    ],
)
def test_missing_or_malformed_global_ids_are_not_found(admin_membership, global_id):
    with pytest.raises(Http404):
        access_organization(user=admin_membership.user, global_id=global_id)


def test_anonymous_users_reach_nothing(admin_membership):
    with pytest.raises(Http404):
        access_organization(user=AnonymousUser(), slug=admin_membership.organization.slug)


@pytest.mark.django_db
def test_admin_only_access_refuses_plain_members():
    membership = MembershipFactory(role=Membership.Role.MEMBER)
    organization = membership.organization

    assert access_organization(user=membership.user, slug=organization.slug) == organization
    with pytest.raises(Http404):
        access_organization(user=membership.user, slug=organization.slug, admin_only=True)


def test_a_tenant_is_found_by_names_in_any_case(admin_membership):
    organization = admin_membership.organization

    tenant = access_tenant(
        user=admin_membership.user, org_slug=organization.slug.upper(), tenant_name="defaulttenant"
    )

    assert (tenant.organization, tenant.name) == (organization, "DefaultTenant")


def test_another_organizations_tenant_is_not_found(admin_membership, other_admin_membership):
    with pytest.raises(Http404):
        access_tenant(
            user=admin_membership.user,
            org_slug=other_admin_membership.organization.slug,
            tenant_name="OtherTenant",
        )


@pytest.mark.django_db
def test_membership_in_one_organization_opens_no_tenant_of_another(other_admin_membership):
    # given: a user who is a member of a different organization only
    stranger = UserFactory()
    MembershipFactory(user=stranger)

    # when / then
    with pytest.raises(Http404):
        access_tenant(
            user=stranger,
            org_slug=other_admin_membership.organization.slug,
            tenant_name="OtherTenant",
        )
