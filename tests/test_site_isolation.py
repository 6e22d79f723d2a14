"""Every page of the admin site belongs to one organization: an admin of another
organization gets, for GET and for POST, the same 404 (byte for byte) as for an
organization that does not exist.

Each entry of the lists below is a page's address, made from `w` (World: the first
organization, its tenant DefaultTenant, and whatever the entry creates there). Add one
line per new page to your app's list. Each page must also answer its own organization's
admin with something other than 404, so that a mistyped entry cannot pass.
"""

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from federation.models import AppKey, IdentityProvider
from federation.tests.factories import external_app, stored_credential
from identity_server import services as identity_services
from identity_server.models import CLI_CLIENT_ID
from identity_server.urls import SITE_PAGES
from machines.credential_stores import credential_store_database
from machines.tests.factories import machine_create, machine_with_secret, robot_create
from tenants.models import Organization, Tenant
from tenants.services import Actor, audit_record

# The tenants app: organization and tenant pages, audit, settings, search.
TENANTS_PAGES = [
    pytest.param(lambda w: f"/{w.org}/portal_/", id="organization"),
    pytest.param(lambda w: f"/{w.org}/portal_/tenants/", id="tenants"),
    pytest.param(
        lambda w: f"/{w.org}/portal_/tenants/{w.tenant_row.pk}/rename/", id="tenant-rename"
    ),
    pytest.param(lambda w: f"/{w.org}/portal_/members/", id="members"),
    pytest.param(lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/role/", id="member-role"),
    pytest.param(lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/remove/", id="member-remove"),
    pytest.param(lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/invite/", id="member-invite"),
    pytest.param(lambda w: f"/{w.org}/portal_/settings/", id="organization-settings"),
    pytest.param(lambda w: f"/{w.org}/portal_/audit/", id="audit"),
    pytest.param(lambda w: f"/{w.org}/portal_/audit/{w.event().pk}/", id="audit-event"),
    pytest.param(lambda w: f"/{w.org}/portal_/audit/export.csv", id="audit-export"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/", id="tenant-home"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/settings/", id="tenant-settings"),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/audit/", id="tenant-audit"),
    pytest.param(
        lambda w: f"/{w.org}/{w.tenant}/portal_/audit/{w.event(tenant=True).pk}/",
        id="tenant-audit-event",
    ),
    pytest.param(lambda w: f"/{w.org}/{w.tenant}/portal_/audit/export.csv", id="tenant-export"),
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
    pytest.param(
        lambda w: f"/{w.org}/{w.tenant}/portal_/credential-stores/", id="credential-stores"
    ),
    pytest.param(
        lambda w: f"/{w.org}/{w.tenant}/portal_/credential-stores/new/",
        id="credential-stores-create",
    ),
    pytest.param(lambda w: _store(w), id="credential-stores-detail"),
    pytest.param(lambda w: f"{_store(w)}edit/", id="credential-stores-edit"),
    pytest.param(lambda w: f"{_store(w)}test/", id="credential-stores-test"),
    pytest.param(lambda w: f"{_store(w)}default/", id="credential-stores-default"),
    pytest.param(lambda w: f"{_store(w)}delete/", id="credential-stores-delete"),
]

# The federation app: external applications, their secrets and federated credentials.
FEDERATION_PAGES = [
    pytest.param(lambda w: f"/{w.org}/portal_/apps/", id="org-apps"),
    pytest.param(lambda w: f"/{w.org}/portal_/apps/new/", id="org-apps-create"),
    pytest.param(lambda w: f"/{w.org}/portal_/apps/{w.app_id}/", id="org-apps-detail"),
    pytest.param(lambda w: f"/{w.org}/portal_/apps/{w.app_id}/edit/", id="org-apps-edit"),
    pytest.param(lambda w: f"/{w.org}/portal_/apps/{w.app_id}/delete/", id="org-apps-delete"),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/secrets/", id="org-apps-secret-create"
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/secrets/{w.secret_id}/delete/",
        id="org-apps-secret-delete",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/credentials/", id="org-apps-credentials"
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/credentials/new/",
        id="org-apps-credential-create",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/credentials/evaluate/",
        id="org-apps-credentials-evaluate",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/credentials/{w.credential_id}/edit/",
        id="org-apps-credential-edit",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/credentials/{w.credential_id}/delete/",
        id="org-apps-credential-delete",
    ),
    pytest.param(lambda w: f"/{w.org}/portal_/apps/{w.app_id}/keys/", id="org-apps-key-create"),
    pytest.param(
        lambda w: f"/{w.org}/portal_/apps/{w.app_id}/keys/{w.key_id}/delete/",
        id="org-apps-key-delete",
    ),
    # The organization's sign-in identity providers (SPEC §9).
    pytest.param(lambda w: f"/{w.org}/portal_/identity-providers/", id="org-identity-providers"),
    pytest.param(
        lambda w: f"/{w.org}/portal_/identity-providers/new/",
        id="org-identity-providers-create",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/identity-providers/{w.provider_id}/",
        id="org-identity-providers-detail",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/identity-providers/{w.provider_id}/edit/",
        id="org-identity-providers-edit",
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/identity-providers/{w.provider_id}/delete/",
        id="org-identity-providers-delete",
    ),
]

# The identity core: a member's sign-ins (grants) to applications.
IDENTITY_PAGES = [
    pytest.param(lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/grants/", id="grants"),
    pytest.param(
        lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/grants/revoke/", id="grants-revoke"
    ),
    pytest.param(
        lambda w: f"/{w.org}/portal_/members/{w.admin.pk}/grants/{w.grant_id}/revoke/",
        id="grant-revoke",
    ),
]

PAGES = TENANTS_PAGES + MACHINES_PAGES + FEDERATION_PAGES + IDENTITY_PAGES

# Platform operators' pages, under `/portal_/` and no organization: superusers only, the
# 404 of a missing page to everyone else (tenants/tests/test_organization_create.py). Not
# in PAGES, whose every page answers its organization's admin.
PLATFORM_PAGES = [
    pytest.param(lambda w: "/portal_/organizations/new/", id="organization-new"),
]


# What the machines app's entries create in World's tenant.
def _machine(w) -> str:
    return f"/{w.org}/{w.tenant}/portal_/machines/{machine_create(tenant=w.tenant_row).pk}/"


def _machine_secret(w) -> str:
    machine, _ = machine_with_secret(tenant=w.tenant_row)
    secret = machine.client.secrets.get()
    return f"/{w.org}/{w.tenant}/portal_/machines/{machine.pk}/secrets/{secret.pk}/delete/"


def _robot(w) -> str:
    return f"/{w.org}/{w.tenant}/portal_/robots/{robot_create(tenant=w.tenant_row).pk}/"


def _store(w) -> str:
    store = credential_store_database(tenant=w.tenant_row)
    return f"/{w.org}/{w.tenant}/portal_/credential-stores/{store.pk}/"


@dataclass
class World:
    organization: Organization
    tenant_row: Tenant
    admin: User

    @property
    def org(self) -> str:
        return self.organization.slug

    @property
    def tenant(self) -> str:
        return self.tenant_row.name

    def event(self, tenant: bool = False):
        """An audit event of the organization (of its tenant, with `tenant`)."""
        return audit_record(
            action="test.event",
            actor=Actor.system("test"),
            organization=self.organization,
            tenant=self.tenant_row if tenant else None,
        )

    # The federation app's objects, made on first use: an application (its client ID),
    # its first secret, a federated credential.
    @functools.cached_property
    def _app(self):
        return external_app(organization=self.organization)[0]

    @property
    def app_id(self) -> str:
        return self._app.client.client_id

    @property
    def secret_id(self) -> int:
        return self._app.client.secrets.get().pk

    @functools.cached_property
    def credential_id(self) -> str:
        return str(stored_credential(app=self._app).pk)

    @functools.cached_property
    def key_id(self) -> str:
        """One of the application's own keys (SPEC §11), as the service stores it."""
        jwk = {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k"}
        key = AppKey.objects.create(app=self._app, name="Key", kind="publicKey", jwk=jwk)
        return str(key.pk)

    @functools.cached_property
    def provider_id(self) -> str:
        """A sign-in identity provider (SPEC §9), stored without its service's fetch."""
        provider = IdentityProvider.objects.create(
            organization=self.organization,
            name="Corp SSO",
            issuer="https://idp.example.com",
            client_id="identity-server",
        )
        return str(provider.pk)

    @functools.cached_property
    def grant_id(self) -> str:
        """A sign-in grant of the admin to the official CLI."""
        grant = identity_services.sign_in_grant_create(
            client_id=CLI_CLIENT_ID,
            application=None,
            user=self.admin,
            organization=self.organization,
            sid="sid",
            scopes=["openid"],
            auth_time=timezone.now(),
            amr=["pwd"],
            refresh_token=None,
        )
        return str(grant.global_id)


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
    tenant = organization.tenants.get(name="DefaultTenant")
    url = page(World(organization, tenant, admin_membership.user))
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


@pytest.mark.django_db
def test_every_page_of_the_site_has_an_entry_here(admin_membership):
    # given: each entry's page, by the name of its route
    organization = admin_membership.organization
    world = World(organization, organization.tenants.get(), admin_membership.user)
    listed = {resolve(urlsplit(page.values[0](world)).path).url_name for page in PAGES}

    # when: every route of every app's site_urls.py
    routes = {
        route.name
        for module in SITE_PAGES
        for route in (*module.organization_pages, *module.tenant_pages)
    }

    # then: a page added without its entry here fails
    assert routes - listed == set()


@pytest.mark.django_db
def test_every_platform_page_has_an_entry_here():
    from identity_server.urls import urlpatterns

    listed = {resolve(page.values[0](None)).url_name for page in PLATFORM_PAGES}
    routes = {route.name for route in urlpatterns if str(route.pattern).startswith("portal_/")}

    assert routes - listed == set()
