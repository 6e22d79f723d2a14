"""The site as an OpenID Connect relying party of an organization's identity provider
(SPEC §9).

This module holds the provider's configuration (OpenID Connect Discovery 1.0 §4: fetched
through the guarded fetcher, federation.jwks, whose `issuer` must equal the registered
issuer exactly, §4.3).
"""

from federation import jwks
from federation.jwks import DISCOVERY_PATH, IssuerUnreachable, _issuer_problem, _quoted

# OpenID Connect Discovery 1.0 §3: what a relying party of the code flow needs.
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


def provider_configuration_fetch(issuer: str, *, deadline: float | None = None) -> dict:
    """The provider's discovery document, checked: its `issuer` equals `issuer` exactly,
    and it names the authorization, token and JWKS endpoints as HTTPS URLs. Raises
    IssuerUnreachable (federation.jwks reasons, plus `endpoint_missing`)."""
    problem = _issuer_problem(issuer)
    if problem is not None:
        raise IssuerUnreachable(problem[0], problem[1], problem[1])
    url = issuer.rstrip("/") + DISCOVERY_PATH
    configuration = jwks.fetch_json(url, deadline=deadline, what="The discovery document")
    if configuration.get("issuer") != issuer:
        raise IssuerUnreachable(
            "issuer_mismatch",
            f"{url} names the issuer {configuration.get('issuer')!r}, not {issuer!r}",
            f"The discovery document at {_quoted(url)} names another issuer; the issuer "
            "must be exactly the one it names.",
        )
    for name in REQUIRED_ENDPOINTS:
        value = configuration.get(name)
        if not isinstance(value, str) or not value.startswith("https://"):
            raise IssuerUnreachable(
                "endpoint_missing",
                f"{url} has no https `{name}`",
                f"The discovery document at {_quoted(url)} names no https `{name}`.",
            )
    return configuration
