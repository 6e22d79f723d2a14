"""The admin site's forms of the machines app.

They render the inputs and carry what was typed, and check nothing themselves: a page
hands the values to the API's own input parser (machines.serializers, identity_server.
serializers) and then to the service, exactly as the API does, so a page refuses the same
input with the same message. The fields have the API's names (`machineId`, `expiryTime`),
so an error the parser or the service keys by a field lands beside that field.
"""

from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from rest_framework.exceptions import ValidationError as ApiValidationError

from machines.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Machine, Robot
from tenants.odata import error_messages
from tenants.site import add_service_errors


def as_service_error(error: ValidationError | ApiValidationError) -> ValidationError:
    """The API parser's (DRF) ValidationError as a service's, keyed by the same fields
    with the same messages as the API's error body (tenants.odata)."""
    if not isinstance(error, ApiValidationError):
        return error
    if isinstance(error.detail, dict):
        return ValidationError(
            {key: [str(m) for m in error_messages(value)] for key, value in error.detail.items()}
        )
    return ValidationError([str(m) for m in error_messages(error.detail)])


class Input(forms.CharField):
    """Text as typed (trimmed; None when empty if `empty_value=None`), checked by the API's
    parser and the service, not here: `required` only marks the label and the input."""

    def validate(self, value):
        pass


def _text(label: str, *, max_length: int | None = None, **options) -> Input:
    # `maxlength` only guides the browser; the service checks the length.
    attrs = {"maxlength": max_length} if max_length else {}
    widget = options.pop("widget", forms.TextInput)
    options.setdefault("required", False)
    return Input(label=label, widget=widget(attrs=attrs), **options)


class ApiCheckedForm(forms.Form):
    """A form whose values are checked where the API checks them: call `submit(write)`."""

    def submit(self, write: Callable[[dict], object]):
        """`write(values)`'s result; None when the parser or the service refused the
        values, whose errors are then on the form (beside their fields)."""
        if not self.is_valid():
            return None
        try:
            return write(self.cleaned_data)
        except (ValidationError, ApiValidationError) as error:
            add_service_errors(self, as_service_error(error))
            return None


class MachineForm(ApiCheckedForm):
    name = _text("Name", max_length=NAME_MAX_LENGTH, required=True)
    type = Input(
        label="Type",
        widget=forms.Select(choices=Machine.Type.choices),
        help_text="Both hold a client ID and secrets for unattended robots.",
    )
    description = _text("Description", max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea)


class RobotForm(ApiCheckedForm):
    name = _text("Name", max_length=NAME_MAX_LENGTH, required=True)
    username = _text(
        "Username",
        max_length=Robot._meta.get_field("username").max_length,
        required=True,
        help_text="The account the robot runs as, e.g. CORP\\builder.",
    )
    machineId = Input(
        label="Machine",
        required=False,
        empty_value=None,
        widget=forms.Select,
        help_text="The machine whose client ID and secret the robot signs in with.",
    )
    description = _text("Description", max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea)

    def __init__(self, *args, machines, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "No machine"), *((m.pk, m.name) for m in machines)]
        self.fields["machineId"].widget.choices = choices


class ClientSecretForm(ApiCheckedForm):
    description = _text(
        "Description",
        max_length=DESCRIPTION_MAX_LENGTH,
        help_text="Where it will be used, so that you know which one to delete later.",
    )
    expiryTime = Input(
        label="Expires (UTC)",
        required=False,
        empty_value=None,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for a secret that does not expire.",
    )
