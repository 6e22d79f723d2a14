"""The public addresses clients are told to use, all from IDENTITY_ISSUER (the public URL
of /identity_; the site's root is before it): one place for the robots' connection data,
the admin site's "Connect" panels and the discovery document alike."""

from django.conf import settings
from django.urls import reverse


def public_url(path: str) -> str:
    """The public URL of one of our paths (`/demo/DefaultTenant/orchestrator_/`)."""
    return settings.IDENTITY_ISSUER.removesuffix("/identity_") + path


def token_endpoint(*, org: str | None = None, tenant: str | None = None) -> str:
    """The token endpoint: the server's, an organization's (`/{org}/identity_/…`, for its
    clients only) or a tenant's (for its machines)."""
    if tenant is not None:
        return public_url(reverse("token-tenant", kwargs={"org": org, "tenant": tenant}))
    if org is not None:
        return public_url(reverse("token-org", kwargs={"org": org}))
    return f"{settings.IDENTITY_ISSUER}/connect/token"


def orchestrator_url(*, org: str, tenant: str) -> str:
    """What a robot or a UiPath client is given as the Orchestrator URL of a tenant."""
    return public_url(f"/{org}/{tenant}/orchestrator_/")


def discovery_url() -> str:
    return f"{settings.IDENTITY_ISSUER}/.well-known/openid-configuration"


def jwks_url() -> str:
    return f"{discovery_url()}/jwks"
