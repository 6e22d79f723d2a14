"""The admin site's forms of the machines app.

They render the inputs and carry what was typed, and check nothing themselves
(tenants.site.InputForm): a page hands the values to the API's own input parser
(machines.serializers) and then to the service, exactly as the API does, so a page refuses
the same input with the same message. The fields have the API's names (`machineId`), so an
error the parser or the service keys by a field lands beside that field; an emptied
description or machine is sent as null (`empty_value=None`), which clears it.
"""

from django import forms

from identity_server.site import TokenQuotaFields
from machines.credential_stores import KINDS, MAX_PASSWORD_LENGTH
from machines.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Machine, Robot
from tenants.site import InputForm


def _description() -> forms.CharField:
    return forms.CharField(
        required=False, max_length=DESCRIPTION_MAX_LENGTH, empty_value=None, widget=forms.Textarea
    )


class MachineForm(TokenQuotaFields, InputForm):
    field_order = ["name", "type", "description"]  # then the quotas
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    type = forms.ChoiceField(
        choices=Machine.Type.choices,
        help_text="Both hold a client ID and secrets for unattended robots.",
    )
    description = _description()


class RobotForm(InputForm):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    username = forms.CharField(
        max_length=Robot._meta.get_field("username").max_length,
        help_text="The account the robot runs as, e.g. CORP\\builder.",
    )
    machineId = forms.CharField(
        label="Machine",
        required=False,
        empty_value=None,
        widget=forms.Select,
        help_text="The machine whose client ID and secret the robot signs in with.",
    )
    description = _description()
    credentialStoreId = forms.CharField(
        label="Credential store",
        required=False,
        widget=forms.Select,
        help_text="Where the robot's Windows password is kept.",
    )
    # Write-only: never rendered back (render_value=False); left empty, it stays as it is.
    password = forms.CharField(
        required=False,
        max_length=MAX_PASSWORD_LENGTH,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="For a read-write store: written to it, never shown again. Leave empty to "
        "keep the current one.",
    )
    externalName = forms.CharField(
        label="External name",
        required=False,
        empty_value=None,
        max_length=Robot._meta.get_field("external_name").max_length,
        help_text="For a read-only store: the name of the secret in the vault.",
    )
    credentialType = forms.ChoiceField(
        label="Credential type", required=False, choices=Robot.CredentialType.choices
    )

    def __init__(self, *args, machines, stores, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "No machine"), *((m.pk, m.name) for m in machines)]
        self.fields["machineId"].widget.choices = choices
        # Empty: a robot without a store keeps none until given a password, which goes
        # to the tenant's default store.
        self.fields["credentialStoreId"].widget.choices = [
            ("", "None (a new password goes to the default store)"),
            *((s.pk, f"{s.name} ({s.get_type_display()})") for s in stores),
        ]


class CredentialStoreForm(InputForm):
    """A store's name and the settings of its kind (machines.credential_stores.KINDS), each
    under its API name. Secret settings are password inputs never filled back: left empty,
    they keep their value."""

    name = forms.CharField(max_length=NAME_MAX_LENGTH)

    def __init__(self, *args, type: str, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        for setting in KINDS[type].settings:
            keep = setting.secret and editing
            help_text = "Leave empty to keep the current value." if keep else ""
            if setting.default:
                help_text = f"Default: {setting.default}. {help_text}".strip()
            if setting.secret:
                widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
            elif setting.pem:
                widget = forms.Textarea(attrs={"rows": 4})
            elif setting.choices:
                widget = forms.Select(choices=[(c, c) for c in setting.choices])
            else:
                widget = forms.TextInput
            self.fields[setting.name] = forms.CharField(
                label=setting.label,
                required=setting.required and not (setting.secret and editing),
                # A non-secret setting emptied is cleared; a secret left empty is kept.
                empty_value="" if setting.secret else None,
                strip=not setting.pem,
                widget=widget,
                help_text=help_text,
            )

    def api_body(self, type: str) -> dict:
        """The submitted values as the CredentialStores API takes them."""
        values = dict(self.cleaned_data)
        name = values.pop("name", "")
        return {"Name": name, "Type": type, "AdditionalConfiguration": values}
