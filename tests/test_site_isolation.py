"""Every page of the admin site belongs to one organization: an admin of another
organization gets, for GET and for POST, the same 404 (byte for byte) as for an
organization that does not exist.

Each entry of the lists below is a page's address, made from `w` (World: the first
organization, its tenant DefaultTenant, and whatever the entry creates there). Add one
line per new page to your app's list. Each page must also answer its own organization's
admin with something other than 404, so that a mistyped entry cannot pass.
"""

from dataclasses import dataclass

import pytest
from django.test import Client

from machines.tests.factories import machine_create, machine_with_secret, robot_create
from tenants.models import Organization, Tenant

# The tenants app: organization and tenant pages, audit, settings, search.
TENANTS_PAGES = [
    pytest.param(lambda w: f"/{w.org}/portal_/", id="organization"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/", id="tenant-home"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/search/?q=a", id="tenant-search"),
]

# The machines app: machines and their secrets, robots, sessions.
MACHINES_PAGES = [
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/machines/", id="machines"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/machines/new/", id="machines-create"),
    pytest.param(lambda w: _machine(w), id="machines-detail"),
    pytest.param(lambda w: f"{_machine(w)}edit/", id="machines-edit"),
    pytest.param(lambda w: f"{_machine(w)}delete/", id="machines-delete"),
    pytest.param(lambda w: f"{_machine(w)}secrets/", id="machines-secret-create"),
    pytest.param(lambda w: _machine_secret(w), id="machines-secret-delete"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/robots/", id="robots"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/robots/new/", id="robots-create"),
    pytest.param(lambda w: _robot(w), id="robots-detail"),
    pytest.param(lambda w: f"{_robot(w)}edit/", id="robots-edit"),
    pytest.param(lambda w: f"{_robot(w)}delete/", id="robots-delete"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/sessions/", id="sessions"),
]

# The federation app: external applications, their secrets and federated credentials.
FEDERATION_PAGES = []

PAGES = TENANTS_PAGES + MACHINES_PAGES + FEDERATION_PAGES


# What the machines app's entries create in World's tenant.
def _machine(w) -> str:
    return f"/{w.org}/{w.tenant}/portal_/machines/{machine_create(tenant=w.tenant_row).pk}/"


def _machine_secret(w) -> str:
    machine, _ = machine_with_secret(tenant=w.tenant_row)
    secret = machine.client.secrets.get()
    return f"/{w.org}/{w.tenant}/portal_/machines/{machine.pk}/secrets/{secret.pk}/delete/"


def _robot(w) -> str:
    return f"/{w.org}/{w.tenant}/portal_/robots/{robot_create(tenant=w.tenant_row).pk}/"


@dataclass
class World:
    organization: Organization
    tenant_row: Tenant

    @property
    def org(self) -> str:
        return self.organization.slug

    @property
    def tenant(self) -> str:
        return self.tenant_row.name


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_another_organizations_admin_gets_the_404_of_a_missing_organization(
    admin_membership, other_admin_membership, page
):
    # given
    organization = admin_membership.organization
    url = page(World(organization, organization.tenants.get(name="DefaultTenant")))
    missing_url = url.replace(f"/{organization.slug}/", "/no-such-org/", 1)
    owner, stranger = _client(admin_membership.user), _client(other_admin_membership.user)
    assert owner.get(url).status_code != 404, "the page must exist for its own admin"

    for method in ("get", "post"):
        # when
        foreign = getattr(stranger, method)(url)
        missing = getattr(stranger, method)(missing_url)

        # then
        assert foreign.status_code == missing.status_code == 404, method
        assert foreign.content == missing.content, method
        assert organization.name not in foreign.content.decode()
