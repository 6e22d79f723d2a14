"""What the site's password sign-in asks of the organizations' identity providers (SPEC
§9), named in settings (SIGN_IN_PROVIDER_CHOICES, SIGN_IN_PASSWORD_POLICY) so that
identity_server, which does not import federation, reaches them by dotted path, as it does
CLIENT_ASSERTION_AUTHENTICATOR."""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from federation import selectors, services


@dataclass(frozen=True)
class ProviderChoice:
    """A "Sign in with {name}" button of the sign-in page."""

    name: str
    organization: str
    url: str


def provider_choices(*, org_slug: str, email: str, next_url: str) -> list[ProviderChoice]:
    """The providers the sign-in page offers for `?org=` and for the domain of a typed
    email, each with its start URL (which carries `next` and the email as `login_hint`)."""
    choices = []
    for provider in selectors.identity_providers_for_sign_in(org_slug=org_slug, email=email):
        query = {k: v for k, v in (("next", next_url), ("login_hint", email)) if v}
        url = reverse("idp-start", args=[provider.pk])
        choices.append(
            ProviderChoice(
                provider.name,
                provider.organization.name,
                f"{url}?{urlencode(query)}" if query else url,
            )
        )
    return choices


@dataclass(frozen=True)
class PasswordPolicy:
    """What a local password sign-in of an account may do: `refused_by` the provider that
    is the only way in for one of its organizations (refused, `sso_enforced`), and the
    audit details its sign-in carries (`break_glass`)."""

    refused_by: ProviderChoice | None = None
    details: dict = field(default_factory=dict)


def password_policy(user, *, next_url: str = "") -> PasswordPolicy:
    provider = services.password_sign_in_refusal(user)
    if provider is not None:
        query = urlencode({"next": next_url}) if next_url else ""
        url = reverse("idp-start", args=[provider.pk]) + (f"?{query}" if query else "")
        return PasswordPolicy(ProviderChoice(provider.name, provider.organization.name, url))
    return PasswordPolicy(details=services.break_glass_flag(user))
