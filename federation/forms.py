"""The admin site's forms of the federation app. They only show fields and keep what was
typed (tenants.site.InputForm): field names are the API's, and `api_data()` goes through
the API's serializer (federation.serializers) and the same service, so a page says exactly
what the API says."""

import json
from contextlib import suppress

from django import forms

from federation.models import (
    AUDIENCE_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    EXPRESSION_MAX_LENGTH,
    IDP_CLAIM_MAX_LENGTH,
    IDP_CLIENT_ID_MAX_LENGTH,
    IDP_DEFAULT_SCOPES,
    IDP_ISSUER_MAX_LENGTH,
    IDP_NAME_MAX_LENGTH,
    IDP_SCOPES_MAX_LENGTH,
    ISSUER_MAX_LENGTH,
    JWKS_URI_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    IdentityProvider,
)
from identity_server.registration import OIDC_SCOPES, URI_MAX_LENGTH
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


def _uri_lines(label: str, help_text: str) -> forms.CharField:
    """A list of URIs or origins, one a line (`ExternalAppForm.api_data` makes the list)."""
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
    )


OIDC_SCOPE_DESCRIPTIONS = {
    "openid": "Sign the user in (an id_token)",
    "profile": "Who the user is (profile claims)",
    "email": "The user's email address",
    "offline_access": "Stay signed in (a refresh token)",
}


class ExternalAppForm(TokenQuotaFields, InputForm):
    """Seed 003's application: `ExternalAppInput`'s fields, the lists one a line and the
    scopes in two pickers (application, user). Whether it is confidential is chosen once,
    at creation (`editing` leaves it out)."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    isConfidential = forms.BooleanField(
        label="Confidential application",
        required=False,
        initial=True,
        help_text=(
            "A confidential application proves who it is with a client secret (or a "
            "federated credential) and gets its first secret now. A public one (a browser "
            "or desktop app signing users in with PKCE) has no secrets and only user scopes. "
            "This cannot be changed later."
        ),
    )
    scopes = forms.MultipleChoiceField(
        label="Application scopes",
        required=False,
        choices=[(name, name) for name in CATALOGUE],
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "What the application may do on its own behalf (client credentials). A "
            "resource's scope covers reading and writing; .Read and .Write one each."
        ),
    )
    userScopes = forms.MultipleChoiceField(
        label="User scopes",
        required=False,
        choices=[(name, name) for name in [*OIDC_SCOPES, *CATALOGUE]],
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "What the application may do for a user who signs in to it; the user's role "
            "limits it further (members get only .Read)."
        ),
    )
    redirectUris = _uri_lines(
        "Redirect URIs",
        "Where users come back after signing in, one a line, compared exactly: https, or "
        "http on localhost for a desktop app. Needed with user scopes.",
    )
    postLogoutRedirectUris = _uri_lines(
        "Post-logout redirect URIs",
        "Where the application may send users after they sign out, one a line.",
    )
    allowedCorsOrigins = _uri_lines(
        "Allowed CORS origins",
        "Browser origins (scheme://host[:port]) allowed to call the token endpoint, one a "
        "line; for single-page applications.",
    )
    backchannelLogoutUri = forms.CharField(
        label="Back-channel logout URI",
        required=False,
        empty_value=None,
        max_length=URI_MAX_LENGTH,
        help_text=(
            "An https address this server POSTs a signed logout token to when a user who "
            "signed in to the application signs out (OpenID Connect Back-Channel Logout)."
        ),
    )

    LISTS = ("redirectUris", "postLogoutRedirectUris", "allowedCorsOrigins")
    # A service's error keys as this form's fields.
    ERROR_FIELDS = {
        "confidential": "isConfidential",
        "user_scopes": "userScopes",
        "redirect_uris": "redirectUris",
        "post_logout_redirect_uris": "postLogoutRedirectUris",
        "allowed_origins": "allowedCorsOrigins",
        "backchannel_logout_uri": "backchannelLogoutUri",
        **TokenQuotaFields.ERROR_FIELDS,
    }

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["isConfidential"]

    def api_data(self) -> dict:
        """As an API client sends the application: every scope as `{"name", "type"}`, each
        list as a list (an empty one clears it)."""
        data = super().api_data()
        data["scopes"] = [{"name": name, "type": "application"} for name in data.get("scopes", [])]
        data["scopes"] += [{"name": name, "type": "user"} for name in data.pop("userScopes", [])]
        for name in self.LISTS:
            data[name] = (data.get(name) or "").split()
        return data

    def scope_groups(self) -> list[dict]:
        return self._groups("scopes", "scope", scopes_by_resource(CATALOGUE))

    def user_scope_groups(self) -> list[dict]:
        return self._groups(
            "userScopes",
            "user-scope",
            {"OpenID Connect": list(OIDC_SCOPES), **scopes_by_resource(CATALOGUE)},
        )

    def _groups(self, field: str, id_prefix: str, groups: dict) -> list[dict]:
        """The scopes grouped by resource, each with whether it is ticked: the submitted
        choice, or the application's scopes."""
        chosen = set(self[field].value() or [])
        return [
            {
                "resource": resource,
                "scopes": [
                    {
                        "name": name,
                        "description": OIDC_SCOPE_DESCRIPTIONS.get(name)
                        or CATALOGUE[name].description,
                        "checked": name in chosen,
                        "id": f"{id_prefix}-{name.replace('.', '-')}",
                    }
                    for name in names
                ],
            }
            for resource, names in groups.items()
        ]


class FederatedCredentialForm(InputForm):
    """Seed 004's `FederatedCredentialInput`, with SPEC §11's expression (typed as its
    value) and trust-policy tests (typed as JSON): `api_data()` sends them as the API
    takes them. The page shows every field, so empty samples mean none."""

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
        "GitHub Actions on the main branch. Leave it empty to match with an expression.",
    )
    subject.required = False
    claimsMatchingExpression = forms.CharField(
        label="Claims-matching expression",
        required=False,
        max_length=EXPRESSION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            "Instead of a subject: e.g. claims['sub'] matches "
            "'repo:my-org/my-repo:ref:refs/heads/release/*'. '*' matches within a segment "
            "(never '/' or ':'), '**' across '/', '?' one character; terms are joined with "
            "'and'."
        ),
    )
    mustMatch = forms.CharField(
        label="Must match (trust-policy test)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            'A JSON list of sample claim sets this credential must accept, e.g. [{"sub": '
            '"repo:my-org/my-repo:ref:refs/heads/release/1.0"}]. Checked at every save.'
        ),
    )
    mustNotMatch = forms.CharField(
        label="Must not match (trust-policy test)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text=(
            'A JSON list of sample claim sets this credential must refuse, e.g. [{"sub": '
            '"repo:my-org/my-repo:pull_request"}]. Checked at every save.'
        ),
    )

    SAMPLE_FIELDS = ("mustMatch", "mustNotMatch")

    @classmethod
    def initial_of(cls, credential) -> dict:
        """The form's values for an existing credential."""
        return {
            "name": credential.name,
            "description": credential.description,
            "issuer": credential.issuer,
            "audience": credential.audience,
            "subject": credential.subject,
            "claimsMatchingExpression": credential.claims_matching_expression,
            "mustMatch": json.dumps(credential.must_match, indent=1)
            if credential.must_match
            else "",
            "mustNotMatch": (
                json.dumps(credential.must_not_match, indent=1) if credential.must_not_match else ""
            ),
        }

    def api_data(self) -> dict:
        data = super().api_data()
        if data.get("claimsMatchingExpression"):
            data["claimsMatchingExpression"] = {
                "languageVersion": 1,
                "value": data["claimsMatchingExpression"],
            }
        for name in self.SAMPLE_FIELDS:
            text = data.get(name)
            if not text:
                data[name] = []
                continue
            # Text that is not JSON stays text: the API's parser says what samples are.
            with suppress(ValueError):
                data[name] = json.loads(text)
        return data


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


# --- the organization's sign-in identity providers (SPEC §9) ------------------------------

# What each kind of provider is registered with; the page fills them in (site.js) and says
# them in the help texts, and the service defaults Entra ID's subject claim to `oid`.
IDP_PRESETS = {
    IdentityProvider.Kind.ENTRA: {
        # Microsoft identity platform, "ID token claims": `oid` is the user's one immutable
        # ID across the tenant's applications (`sub` differs per application).
        "issuer_hint": "https://login.microsoftonline.com/{tenant-id}/v2.0",
        "subject_claim": "oid",
    },
    IdentityProvider.Kind.GOOGLE: {"issuer": "https://accounts.google.com"},
    IdentityProvider.Kind.OKTA: {"issuer_hint": "https://{your-domain}.okta.com"},
    IdentityProvider.Kind.KEYCLOAK: {"issuer_hint": "https://{host}/realms/{realm}"},
}


def _claim(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=IDP_CLAIM_MAX_LENGTH,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class IdentityProviderForm(InputForm):
    """The IdentityProvider API's body (federation.serializers.IdentityProviderInput): the
    client secret in a password box that never shows a stored or typed secret again (empty
    keeps the stored one), the domains one a line, the break-glass account chosen among the
    organization's administrators."""

    name = forms.CharField(
        max_length=IDP_NAME_MAX_LENGTH,
        help_text="Shown on the sign-in page as “Sign in with {name}”.",
    )
    kind = forms.ChoiceField(
        label="Kind",
        choices=IdentityProvider.Kind.choices,
        initial=IdentityProvider.Kind.GENERIC,
        help_text=(
            "Entra ID: the issuer is https://login.microsoftonline.com/{tenant-id}/v2.0 (your "
            "directory's, never common or organizations) and the subject claim oid. Google: "
            "the issuer is https://accounts.google.com (filled in when left empty)."
        ),
    )
    issuer = forms.CharField(
        label="Issuer",
        required=False,
        max_length=IDP_ISSUER_MAX_LENGTH,
        help_text=(
            "Exactly the issuer of the provider's discovery document; its "
            "/.well-known/openid-configuration and keys are checked when you save."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    clientId = forms.CharField(
        label="Client ID",
        max_length=IDP_CLIENT_ID_MAX_LENGTH,
        help_text="The ID the provider gave this server when you registered it there.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    clientSecret = forms.CharField(
        label="Client secret",
        required=False,
        # Never rendered back: not the stored secret (there is none to show), not a typed one.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            "The secret the provider gave for this server. It is stored encrypted and never shown."
        ),
    )
    scopes = forms.CharField(
        label="Scopes",
        required=False,
        max_length=IDP_SCOPES_MAX_LENGTH,
        initial=IDP_DEFAULT_SCOPES,
        help_text="Asked of the provider, space-separated; openid is required.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    allowedEmailDomains = forms.CharField(
        label="Allowed email domains",
        required=False,
        help_text=(
            "One a line (example.com). Only people whose email is in one of them may sign in, "
            "or be linked to an existing account by email. Empty: any domain."
        ),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
    )
    subjectClaim = _claim(
        "Subject claim",
        "The claim that names a person for good: sub by default, oid for Entra ID (empty: "
        "the default of the kind).",
    )
    emailClaim = _claim("Email claim", "email by default.")
    nameClaim = _claim("Name claim", "name by default.")
    provisioning = forms.ChoiceField(
        label="Who may sign in",
        choices=[
            (IdentityProvider.Provisioning.LINK_ONLY, "Existing members only"),
            (
                IdentityProvider.Provisioning.JIT_MEMBER,
                "Anyone the provider signs in (in the allowed domains) becomes a member",
            ),
        ],
        initial=IdentityProvider.Provisioning.LINK_ONLY,
        widget=forms.RadioSelect,
    )
    enabled = forms.BooleanField(
        label="Enabled",
        required=False,
        initial=True,
        help_text="Offered on the sign-in page and usable to sign in.",
    )
    enforced = forms.BooleanField(
        label="Sign-in through this provider only",
        required=False,
        help_text=(
            "Members may no longer sign in with a local password, except the break-glass "
            "administrator below, whose every sign-in is audited and shown to the other "
            "administrators."
        ),
    )
    breakGlassUserName = forms.ChoiceField(
        label="Break-glass administrator",
        required=False,
        help_text=(
            "The one administrator who keeps a local password when this provider is the "
            "only way in, for when the provider is down or misconfigured."
        ),
    )

    SECRET_HELP_EDITING = (
        "Leave blank to keep the stored secret; type a new one to replace it. It is never "  # noqa: S105 (a help text)
        "shown."
    )

    def __init__(self, *args, admins=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["breakGlassUserName"].choices = [("", "None")] + [
            (user.get_username(), user.get_username()) for user in admins
        ]
        self.fields["kind"].widget.attrs["data-idp-presets"] = json.dumps(
            {str(kind): preset for kind, preset in IDP_PRESETS.items()}
        )
        if editing:
            self.fields["clientSecret"].help_text = self.SECRET_HELP_EDITING

    @classmethod
    def initial_of(cls, provider) -> dict:
        user = provider.break_glass_user
        return {
            "name": provider.name,
            "kind": provider.kind,
            "issuer": provider.issuer,
            "clientId": provider.client_id,
            "scopes": provider.scopes,
            "allowedEmailDomains": "\n".join(provider.allowed_email_domains),
            "subjectClaim": provider.subject_claim,
            "emailClaim": provider.email_claim,
            "nameClaim": provider.name_claim,
            "provisioning": provider.provisioning,
            "enabled": provider.enabled,
            "enforced": provider.enforced,
            "breakGlassUserName": user.get_username() if user is not None else "",
        }

    def api_data(self) -> dict:
        """As an API client sends it: the domains a list, Google's issuer when left empty,
        no break-glass account as null."""
        data = super().api_data()
        data["allowedEmailDomains"] = (data.get("allowedEmailDomains") or "").split()
        preset = IDP_PRESETS.get(data.get("kind"), {})
        if not data.get("issuer") and "issuer" in preset:
            data["issuer"] = preset["issuer"]
        data.setdefault("breakGlassUserName", None)
        return data
