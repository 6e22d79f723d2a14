"""Reads of the federation app, each scoped to an organization the caller was given access
to (tenants.access), or to one application: an id from a request never reaches a row of
another organization or application, and a foreign id is the same 404 as a missing one."""

import uuid

from django.db.models import QuerySet
from django.http import Http404

from federation.models import AppKey, ExternalApp, FederatedCredential, IdentityProvider
from identity_server.models import ClientSecret, OAuthClient
from tenants.models import Organization, Tenant
from tenants.search import SearchResult, name_contains


def external_app_list(*, organization: Organization) -> QuerySet[ExternalApp]:
    return ExternalApp.objects.filter(organization=organization).select_related(
        "client", "organization"
    )


def external_app_get(*, organization: Organization, client_id: str) -> ExternalApp:
    """The application whose client ID (its `id` in the API) is `client_id`."""
    app = external_app_list(organization=organization).filter(client__client_id=client_id).first()
    if app is None:
        raise Http404
    return app


def federated_credential_list(*, app: ExternalApp) -> QuerySet[FederatedCredential]:
    return FederatedCredential.objects.filter(app=app)


def _credential_pk(credential_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(credential_id))
    except ValueError:
        raise Http404 from None


def federated_credential_get(*, app: ExternalApp, credential_id: str) -> FederatedCredential:
    credential = federated_credential_list(app=app).filter(pk=_credential_pk(credential_id)).first()
    if credential is None:
        raise Http404
    credential.app = app  # already loaded, with what the audit event needs
    return credential


def federated_credential_find(
    *, organization: Organization, credential_id: str
) -> FederatedCredential:
    """A credential of any of the organization's applications, by its id alone (a search
    result names only that), with its application's client."""
    credential = (
        FederatedCredential.objects.filter(
            pk=_credential_pk(credential_id), app__organization=organization
        )
        .select_related("app__client")
        .first()
    )
    if credential is None:
        raise Http404
    return credential


def app_key_list(*, app: ExternalApp) -> QuerySet[AppKey]:
    return AppKey.objects.filter(app=app)


def app_key_get(*, app: ExternalApp, key_id: str) -> AppKey:
    """One of the application's own keys; another application's is the same 404."""
    key = app_key_list(app=app).filter(pk=_credential_pk(key_id)).first()
    if key is None:
        raise Http404
    key.app = app  # already loaded, with what the audit event needs
    return key


def external_app_secret_get(*, organization: Organization, secret_id: int) -> ClientSecret:
    """A client secret of one of the organization's external applications."""
    secret = (
        ClientSecret.objects.filter(
            pk=secret_id,
            client__organization=organization,
            client__kind=OAuthClient.Kind.EXTERNAL_APP,
        )
        .select_related("client__organization", "client__tenant")
        .first()
    )
    if secret is None:
        raise Http404
    return secret


def external_app_search(*, tenant: Tenant, text: str, limit: int) -> list[SearchResult]:
    """A tenants.search source: the applications of the tenant's organization."""
    apps = ExternalApp.objects.filter(organization_id=tenant.organization_id)
    return [
        SearchResult("external_app", app.client.client_id, app.name, "", "PM.OAuthApp.Read")
        for app in name_contains(apps.select_related("client"), text, limit)
    ]


def federated_credential_search(*, tenant: Tenant, text: str, limit: int) -> list[SearchResult]:
    """A tenants.search source: the federated credentials of the organization's
    applications; the id is the credential's."""
    credentials = FederatedCredential.objects.filter(app__organization_id=tenant.organization_id)
    return [
        SearchResult("federated_credential", str(c.pk), c.name, c.description, "PM.OAuthApp.Read")
        for c in name_contains(credentials, text, limit)
    ]


# --- the organization's sign-in identity providers (SPEC §9) ----------------------------


def identity_provider_list(*, organization: Organization) -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.filter(organization=organization).select_related(
        "organization", "break_glass_user"
    )


def identity_provider_get(*, organization: Organization, provider_id: str) -> IdentityProvider:
    """One of the organization's providers; another organization's is the same 404."""
    provider = (
        identity_provider_list(organization=organization)
        .filter(pk=_credential_pk(provider_id))
        .first()
    )
    if provider is None:
        raise Http404
    return provider
