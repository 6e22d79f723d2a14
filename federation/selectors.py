"""Reads of the federation app, each scoped to an organization the caller was given access
to (tenants.access), or to one application: an id from a request never reaches a row of
another organization or application, and a foreign id is the same 404 as a missing one."""

import uuid
from datetime import timedelta

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from federation.models import AppKey, ExternalApp, FederatedCredential, IdentityProvider
from identity_server.models import ClientSecret, OAuthClient
from tenants.models import AuditEvent, Organization, Tenant
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


def identity_provider_for_sign_in(*, provider_id) -> IdentityProvider:
    """An enabled provider, of whichever organization, for the sign-in flow's routes (the
    browser is not signed in yet: the provider's id is all there is); Http404 otherwise."""
    provider = (
        IdentityProvider.objects.filter(pk=_credential_pk(provider_id), enabled=True)
        .select_related("organization", "break_glass_user")
        .first()
    )
    if provider is None:
        raise Http404
    return provider


def email_domain(email: str) -> str:
    """The domain of an email address, lower case; "" when it has none."""
    local, at, domain = (email or "").rpartition("@")
    return domain.strip().lower() if at and local else ""


def identity_providers_for_sign_in(
    *, org_slug: str = "", email: str = ""
) -> list[IdentityProvider]:
    """What the sign-in page offers (SPEC §9): the enabled providers of the organization
    named `org_slug`, and those whose allowed email domains hold `email`'s domain."""
    providers = IdentityProvider.objects.filter(enabled=True).select_related("organization")
    found = []
    if org_slug:
        found += list(providers.filter(organization__slug=org_slug.lower()))
    domain = email_domain(email)
    if domain:
        # JSON containment is PostgreSQL's; the lists are short, so filter here.
        found += [p for p in providers if domain in p.allowed_email_domains and p not in found]
    return found


def enforcing_providers(*, user) -> list[IdentityProvider]:
    """The enabled providers that are the only way to sign in ("sign-in through this
    provider only") for an organization `user` is a member of."""
    if user is None or not user.pk:
        return []
    return list(
        IdentityProvider.objects.filter(
            enforced=True, enabled=True, organization__memberships__user=user
        ).select_related("organization", "break_glass_user")
    )


BREAK_GLASS_NOTICE_DAYS = 30


def break_glass_sign_in_list(*, organization: Organization, limit: int = 10):
    """The organization's recent sign-ins flagged `break_glass` (SPEC §9), newest first,
    for the notice its administrators see on the organization's page."""
    since = timezone.now() - timedelta(days=BREAK_GLASS_NOTICE_DAYS)
    return list(
        AuditEvent.objects.filter(
            organization=organization,
            action="user.sign_in",
            outcome=AuditEvent.Outcome.SUCCESS,
            occurred_at__gte=since,
            details__break_glass=True,
        )[:limit]
    )
