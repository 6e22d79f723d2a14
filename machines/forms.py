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

    def __init__(self, *args, machines, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "No machine"), *((m.pk, m.name) for m in machines)]
        self.fields["machineId"].widget.choices = choices
