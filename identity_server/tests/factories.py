"""OAuth clients for tests, made through the real services (as an admin or a script would)."""

from identity_server import services
from identity_server.models import OAuthClient
from tenants.services import Actor

TEST_ACTOR = Actor.system("tests")


def client_with_secret(
    *,
    organization,
    scopes=("OR.Machines",),
    kind=OAuthClient.Kind.EXTERNAL_APP,
    tenant=None,
    confidential=True,
    name="Test app",
    **secret_options,
) -> tuple[OAuthClient, str | None]:
    """A client and the plaintext of its first secret (None for a public client, which has
    no secrets)."""
    oauth_client = services.client_create(
        organization=organization,
        name=name,
        kind=kind,
        scopes=scopes,
        tenant=tenant,
        confidential=confidential,
        actor=TEST_ACTOR,
    )
    if not confidential:
        return oauth_client, None
    _secret, plaintext = services.client_secret_create(
        client=oauth_client, actor=TEST_ACTOR, **secret_options
    )
    return oauth_client, plaintext
