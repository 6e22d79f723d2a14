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
    description="",
) -> tuple[OAuthClient, str | None]:
    """A client and the plaintext of its first secret (None for a public client, which has
    no secrets)."""
    fields = {"organization": organization, "name": name, "kind": kind, "scopes": scopes}
    fields |= {"tenant": tenant, "actor": TEST_ACTOR}
    if not confidential:
        return services.client_create(confidential=False, **fields), None
    return services.client_create_with_secret(**fields, description=description)
