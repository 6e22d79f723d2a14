"""Forms of the admin site's tenants pages. They parse what the browser sent; the rules
(names, roles, setting values) are the services' and the models', so pages and APIs give
the same messages (tenants.site.add_service_errors puts them beside the fields)."""

from datetime import timedelta

from django import forms
from django.db.models import Q

from tenants import mail
from tenants.models import SETTING_DEFINITIONS, AuditEvent, Membership, Tenant
from tenants.site import InputForm

TENANT_NAME_HELP = (
    "Start with a letter; up to 32 letters, digits, hyphens and underscores. It is the "
    "{tenant} part of the tenant's URLs."
)


class TenantNameForm(forms.Form):
    name = forms.CharField(label="Tenant name", max_length=64, help_text=TENANT_NAME_HELP)


class OrganizationForm(forms.Form):
    name = forms.CharField(
        label="Display name",
        max_length=128,
        help_text="Shown on every page. The URL name stays as it is.",
    )


class OrganizationCreateForm(InputForm):
    """A platform operator's new organization (services.organization_create judges it)."""

    slug = forms.CharField(
        label="URL name",
        max_length=64,
        help_text="The {org} part of every URL of the organization: lowercase letters, "
        "digits and inner hyphens. It cannot be changed later.",
    )
    name = forms.CharField(label="Display name", max_length=128)
    admin_username = forms.CharField(
        label="Administrator's username",
        max_length=150,
        help_text="A new account, whose password is shown to you once, to pass on; or an "
        "existing account, which keeps its password.",
    )
    email = forms.CharField(
        label="Administrator's email",
        max_length=254,
        required=False,
        help_text="For a new account only.",
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(
        label="Username",
        max_length=150,
        help_text="An existing user, or a new account with this name: its password is "
        "shown to you once, to pass on.",
    )
    email = forms.CharField(
        label="Email",
        max_length=254,
        required=False,
        help_text="For a new account: where it recovers its password.",
    )
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial="member")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if mail.mail_configured():  # services.member_add invites new accounts then
            username, email = self.fields["username"], self.fields["email"]
            username.help_text = (
                "An existing user, or a new account with this name, invited by email to set "
                "its own password."
            )
            email.help_text = "Needed for a new account: a link to set its password goes there."


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


def _setting_field(definition) -> forms.Field:
    label = definition.key
    if definition.type is bool:
        return forms.BooleanField(label=label, required=False, help_text=definition.description)
    bounds = []
    if definition.minimum is not None:
        bounds.append(f"at least {definition.minimum}")
    if definition.maximum is not None:
        bounds.append(f"at most {definition.maximum}")
    help_text = definition.description + (
        f" A whole number, {' and '.join(bounds)}." if bounds else ""
    )
    # Text, not IntegerField: the value is checked by the setting's definition alone
    # (services.setting_set), as for the OData PUT. min/max only guide the browser's
    # spinner; the form is sent with novalidate so the server's message shows.
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.NumberInput(
            attrs={"min": definition.minimum, "max": definition.maximum, "step": 1}
        ),
    )


class TenantSettingsForm(forms.Form):
    """One typed input per known setting (tenants.models.SETTING_DEFINITIONS)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, definition in SETTING_DEFINITIONS.items():
            self.fields[key] = _setting_field(definition)


class AuditFilterForm(forms.Form):
    """The audit log's filters, from the query string; `condition()` is what
    tenants.selectors.audit_event_list filters by."""

    ORGANIZATION_ONLY = "-"

    actor = forms.CharField(
        label="Actor", required=False, max_length=255, help_text="Name contains, or the id."
    )
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text="Starts with (token.request).",
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    target = forms.CharField(
        label="Target", required=False, max_length=255, help_text="Name contains, or the id."
    )
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any"), *AuditEvent.Outcome.choices]
    )
    reason = forms.CharField(label="Reason code", required=False, max_length=64)
    since = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    until = forms.DateTimeField(
        label="Until (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    tenant = forms.ChoiceField(label="Tenant", required=False)

    def __init__(self, *args, tenants: list[Tenant] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if tenants is None:  # a tenant's own log
            del self.fields["tenant"]
        else:
            self.fields["tenant"].choices = [
                ("", "Any"),
                (self.ORGANIZATION_ONLY, "None (organization)"),
                *((str(t.pk), t.name) for t in tenants),
            ]
        for field in self.fields.values():
            field.widget.attrs.setdefault("autocomplete", "off")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "Must be after “From”.")
        return cleaned

    def condition(self) -> Q:
        data = self.cleaned_data
        condition = Q()
        if actor := data.get("actor", "").strip():
            condition &= Q(actor_name__icontains=actor) | Q(actor_id=actor)
        if action := data.get("action", "").strip():
            condition &= Q(action__istartswith=action)
        if target := data.get("target", "").strip():
            condition &= Q(target_name__icontains=target) | Q(target_id=target)
        if outcome := data.get("outcome"):
            condition &= Q(outcome=outcome)
        if reason := data.get("reason", "").strip():
            condition &= Q(reason_code__iexact=reason)
        if since := data.get("since"):
            condition &= Q(occurred_at__gte=since)
        if until := data.get("until"):
            # The form's inputs name minutes: "until 10:05" includes 10:05:59.
            if until.second == until.microsecond == 0:
                until += timedelta(minutes=1)
                condition &= Q(occurred_at__lt=until)
            else:
                condition &= Q(occurred_at__lte=until)
        tenant = data.get("tenant")
        if tenant == self.ORGANIZATION_ONLY:
            condition &= Q(tenant__isnull=True)
        elif tenant:
            condition &= Q(tenant_id=int(tenant))
        return condition

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)
