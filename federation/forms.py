"""The admin site's forms of the federation app. They only show fields and keep what was
typed (tenants.site.InputForm): field names are the API's, and `api_data()` goes through
the API's serializer (federation.serializers) and the same service, so a page says exactly
what the API says."""

from django import forms

from federation.models import (
    AUDIENCE_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    ISSUER_MAX_LENGTH,
    JWKS_URI_MAX_LENGTH,
    NAME_MAX_LENGTH,
    REDIRECT_URI_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
)
from identity_server.scopes import CATALOGUE, scopes_by_resource
from identity_server.site import TokenQuotaFields
from tenants.site import InputForm


def _exact(label: str, max_length: int, help_text: str) -> forms.CharField:
    """A value compared exactly with a token's claim: no spelling help from the browser."""
    return forms.CharField(
        label=label,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ExternalAppForm(TokenQuotaFields, InputForm):
    """Seed 003's application: `ExternalAppInput`'s fields. Whether it is confidential is
    chosen once, at creation (`editing` leaves it out)."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    isConfidential = forms.BooleanField(
        label="Confidential application",
        required=False,
        initial=True,
        help_text=(
            "A confidential application proves who it is with a client secret (or a "
            "federated credential) and gets its first secret now. A public one has no "
            "secrets. This cannot be changed later."
        ),
    )
    redirectUri = forms.CharField(
        label="Redirect URI",
        required=False,
        max_length=REDIRECT_URI_MAX_LENGTH,
        help_text="Only for an application that signs users in; leave it empty otherwise.",
    )
    scopes = forms.MultipleChoiceField(
        required=False,
        choices=[(name, name) for name in CATALOGUE],
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "What the application may do with its tokens. A resource's scope covers reading "
            "and writing; .Read and .Write one each."
        ),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["isConfidential"]

    def scope_groups(self) -> list[dict]:
        """The catalogue grouped by resource, each scope with whether it is ticked: the
        submitted choice, or the application's scopes."""
        chosen = set(self["scopes"].value() or [])
        return [
            {
                "resource": resource,
                "scopes": [
                    {
                        "name": name,
                        "description": CATALOGUE[name].description,
                        "checked": name in chosen,
                        "id": f"scope-{name.replace('.', '-')}",
                    }
                    for name in names
                ],
            }
            for resource, names in scopes_by_resource(CATALOGUE).items()
        ]


class FederatedCredentialForm(InputForm):
    """Seed 004's `FederatedCredentialInput`."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    description = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    issuer = _exact(
        "Issuer",
        ISSUER_MAX_LENGTH,
        "The identity provider's issuer URL, exactly as in its tokens' iss claim, e.g. "
        "https://token.actions.githubusercontent.com. It is checked when you save.",
    )
    audience = _exact(
        "Audience",
        AUDIENCE_MAX_LENGTH,
        "One value of the tokens' aud claim, exactly; the workload asks its provider for it.",
    )
    subject = _exact(
        "Subject",
        SUBJECT_MAX_LENGTH,
        "The tokens' sub claim, exactly, e.g. repo:my-org/my-repo:ref:refs/heads/main for "
        "GitHub Actions on the main branch.",
    )


class EvaluateForm(InputForm):
    assertion = forms.CharField(
        label="Token (JWT)",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            "A token from the workload's identity provider. It is checked against every "
            "credential below; no token is issued and nothing is stored or logged."
        ),
    )


def _pem(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
    )


class AppKeyForm(InputForm):
    """The Keys API's `AppKeyInput`: a name and exactly one of the three sources."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    publicKeyPem = _pem(
        "Public key (PEM)",
        "-----BEGIN PUBLIC KEY-----: RSA of 2048 bits or more (RS256, PS256) or EC P-256 "
        "(ES256). Never paste a private key.",
    )
    certificatePem = _pem(
        "Certificate (PEM)", "-----BEGIN CERTIFICATE-----: its public key is used until it expires."
    )
    jwksUri = forms.CharField(
        label="JWKS URL",
        required=False,
        max_length=JWKS_URI_MAX_LENGTH,
        help_text="An https:// URL serving the application's public keys; fetched when you save.",
    )
