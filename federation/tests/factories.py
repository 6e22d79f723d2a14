"""External applications and federated credentials for tests, made through the real
services (as an admin or a script would)."""

from federation import services
from federation.models import ExternalApp
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
