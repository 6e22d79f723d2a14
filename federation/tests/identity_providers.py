"""Sign-in identity providers for the admin API's and pages' tests: the test identity
provider's issuers (tests/idp.py) made into OpenID providers of the code flow, and a
provider registered through the real service."""

from federation import services
from federation.models import IdentityProvider
from identity_server.tests.factories import TEST_ACTOR

CLIENT_SECRET = "provider-secret-7Hq2"


def oidc_issuer(identity_provider, shape: str = "gcp") -> str:
    """The test provider's `shape` issuer, its discovery document also naming the code
    flow's endpoints, as a real OpenID provider's does (federation.relying_party)."""
    base = identity_provider.issuer(shape)
    identity_provider.discovery_fields(
        shape, authorization_endpoint=f"{base}/authorize", token_endpoint=f"{base}/token"
    )
    return base


def registered_provider(*, organization, issuer: str, **fields) -> IdentityProvider:
    return services.identity_provider_create(
        organization=organization,
        actor=TEST_ACTOR,
        **{
            "name": "Corp SSO",
            "kind": "google",
            "issuer": issuer,
            "client_id": "identity-server",
            "client_secret": CLIENT_SECRET,
            **fields,
        },
    )
