"""Fixtures of the machines app's tests."""

import pytest


@pytest.fixture
def tenant(admin_membership):
    """The one tenant of an organization with an admin."""
    return admin_membership.organization.tenants.get()


@pytest.fixture
def other_tenant(other_admin_membership):
    """The tenant of a second, unrelated organization."""
    return other_admin_membership.organization.tenants.get()
