"""External applications and federated credentials for tests, made through the real
services (as an admin or a script would)."""

from django.core.cache import cache

from federation import jwks, services
from federation.models import ExternalApp, FederatedCredential
from identity_server.tests.factories import TEST_ACTOR


def external_app(
    *, organization, scopes=None, confidential=True, name="Deployments", **sign_in
) -> tuple[ExternalApp, str | None]:
    """An application and the plaintext of its first secret (None for a public one). Its
    scopes default to `PM.OAuthApp`, for a confidential one (a public one has no application
    scopes); `sign_in` are the user sign-in fields (user_scopes, redirect_uris, ...)."""
    if scopes is None:
        scopes = ("PM.OAuthApp",) if confidential else ()
    return services.external_app_create(
        organization=organization,
        name=name,
        scopes=scopes,
        confidential=confidential,
        actor=TEST_ACTOR,
        **sign_in,
    )


def shape_credential(app, identity_provider, shape: str, **fields) -> FederatedCredential:
    """A credential of `app` that accepts the identity provider's `shape` tokens as minted."""
    subject, audience = identity_provider.subject_and_audience(shape)
    return services.federated_credential_create(
        app=app,
        actor=TEST_ACTOR,
        **{
            "name": f"{shape} workload",
            "issuer": identity_provider.issuer(shape),
            "subject": subject,
            "audience": audience,
            **fields,
        },
    )


def a_minute_passes(issuer: str) -> None:
    """The issuer's fetch lock expires, as it does a minute after a fetch (the cache's own
    timer, which tests do not wait for)."""
    cache.delete(jwks.cache_key("lock", issuer))


def stored_credential(*, app, name="GitHub Actions", **fields) -> FederatedCredential:
    """A federated credential row as the service stores it, without its issuer check (which
    fetches the issuer: use services.federated_credential_create with the
    `identity_provider` fixture for that). For tests where only the stored row matters,
    such as which pages may show it."""
    values = {
        "description": "",
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://id.example.com/demo",
        "subject": "repo:my-org/my-repo:ref:refs/heads/main",
        **fields,
    }
    return FederatedCredential.objects.create(app=app, name=name, **values)
