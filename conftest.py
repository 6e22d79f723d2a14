"""Fixtures shared by every app's tests."""

import pytest

from tenants.models import Membership
from tenants.tests.factories import MembershipFactory, TenantFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness protects stored passwords, not tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_membership(db):
    """An admin of an organization that has one tenant."""
    membership = MembershipFactory(role=Membership.Role.ADMIN)
    TenantFactory(organization=membership.organization, name="DefaultTenant")
    return membership


@pytest.fixture
def other_admin_membership(db):
    """An admin of a second, unrelated organization with its own tenant."""
    membership = MembershipFactory(role=Membership.Role.ADMIN)
    TenantFactory(organization=membership.organization, name="OtherTenant")
    return membership
