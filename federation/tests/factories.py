"""External applications and federated credentials for tests, made through the real
services (as an admin or a script would)."""

from federation import services
from federation.models import ExternalApp, FederatedCredential
from identity_server.tests.factories import TEST_ACTOR


def external_app(
    *, organization, scopes=("PM.OAuthApp",), confidential=True, name="Deployments"
) -> tuple[ExternalApp, str | None]:
    """An application and the plaintext of its first secret (None for a public one)."""
    return services.external_app_create(
        organization=organization,
        name=name,
        scopes=scopes,
        confidential=confidential,
        actor=TEST_ACTOR,
    )


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
