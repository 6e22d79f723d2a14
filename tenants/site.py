"""Shared pieces of the admin site's views, used by every app's pages.

- `paginate(request, items)`: the page of a queryset (or list) named by `?page=`, for the
  `includes/pager.html` include.
- `confirmation_page(request, ...)`: the server side of "confirm before anything
  destructive". A destructive POST must carry `confirmed=yes`; site.js adds it after the
  <dialog> is confirmed (forms with `data-confirm`, see `includes/confirm_button.html`);
  without JavaScript the first POST answers a confirmation page that re-posts the same
  fields with `confirmed=yes`.
- `render_secret_once(request, template, context)`: a response that shows a new secret's
  plaintext (`includes/secret_once.html`). It is rendered in the answer to the POST that
  created the secret and never stored: not in the session, not in a message, not behind a
  redirect; `Cache-Control: no-store` keeps it out of every cache.
- `InputForm`: a form that shows fields and keeps the user's input but validates nothing
  itself; its `api_data()` goes through the API's own serializer and service.
- `add_service_errors(form, error)`: a service's ValidationError (keyed by field), or an
  API serializer's, shown beside the form's fields, so pages and APIs share one validation
  and one wording; `submit_form(request, form, save)` does the whole round: a valid POST
  calls the service, its refusal goes beside the fields.
- `stream_csv(filename=..., header=..., rows=...)`: a CSV download written row by row as
  it is sent, every cell guarded against formula injection (`csv_cell`).
"""

import csv
from collections.abc import Iterable

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.forms.utils import ErrorDict
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions as api_exceptions

PER_PAGE = 25
CONFIRM_FIELD = "confirmed"
# Fields of a confirmed POST that the confirmation page must not copy.
_NOT_REPOSTED = frozenset({"csrfmiddlewaretoken", CONFIRM_FIELD})


def paginate(request, items, *, per_page: int = PER_PAGE) -> Page:
    """The page of `items` (a queryset in a stable order, or a list) named by `?page=`;
    a page number out of range or malformed shows the nearest page rather than an error."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def confirmation_page(
    request,
    *,
    question: str,
    cancel_url: str,
    confirm_label: str = "Delete",
    detail: str = "",
) -> TemplateResponse | None:
    """None when the POST is confirmed (`confirmed=yes`); else the page that asks
    `question` and, if confirmed, re-posts the same fields to the same address.

        if (page := confirmation_page(request, question=..., cancel_url=...)) is not None:
            return page
    """
    if request.POST.get(CONFIRM_FIELD) == "yes":
        return None
    fields = [
        (name, value)
        for name in request.POST
        if name not in _NOT_REPOSTED
        for value in request.POST.getlist(name)
    ]
    return TemplateResponse(
        request,
        "site/confirm.html",
        {
            "question": question,
            "detail": detail,
            "confirm_label": confirm_label,
            "cancel_url": cancel_url,
            "fields": fields,
            "action": request.get_full_path(),
        },
    )


def render_secret_once(request, template: str, context: dict, *, status: int = 200):
    """`template` rendered with a plaintext secret in `context`, marked never to be stored
    by any cache. Call it only in the answer to the POST that made the secret."""
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)  # includes no-store
    return response


class InputForm(forms.Form):
    """A form that renders its fields and keeps what the user typed, but judges nothing
    itself: its `api_data()` goes through the serializer of the API that takes the same
    input, then the same service, and add_service_errors puts their messages beside the
    fields. One validation, one wording, for a page and its API.

    Fields still declare labels, help texts and `required` (the others are marked
    optional); browsers are not asked to enforce `required`, so the message a user sees is
    the server's."""

    use_required_attribute = False

    def full_clean(self):
        self._errors = ErrorDict()
        self.cleaned_data = {}

    def api_data(self) -> dict:
        """The submitted fields as an API client would send them: a checkbox true or false,
        a multiple choice a list; an optional field left empty is left out, as a client
        leaves out what it does not set (an empty required one stays, to be refused)."""
        data = {}
        for name, field in self.fields.items():
            value = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            if value is None or (value == "" and not field.required):
                continue
            data[name] = value
        return data


def add_service_errors(
    form, error, *, other_field: str | None = None, renames: dict | None = None
) -> None:
    """Adds a service's ValidationError to `form`: messages keyed by one of the form's
    fields beside that field, any other key (or none) beside `other_field`, or at the top
    of the form without it (a model constraint's error names no field).

    `error` may also be DRF's ValidationError, from the serializer of the API that takes
    the same input, so the page shows the API's messages word for word. `renames` maps a
    service's keys to the form's field names, as an API view's `error_fields` does."""
    if isinstance(error, api_exceptions.ValidationError):
        error = _from_api_error(error.detail)
    if not hasattr(error, "error_dict"):
        form.add_error(other_field, error)
        return
    renames = renames or {}
    for field, errors in error.error_dict.items():
        field = renames.get(field, field)
        form.add_error(field if field in form.fields else other_field, errors)


def submit_form(request, form, save, *, other_field: str | None = None):
    """For a POST whose `form` is valid: `save(form.cleaned_data)` (a service call, which
    must return something other than None), its ValidationError added to the form
    (add_service_errors). Returns what `save` returned, or None when nothing was saved (a
    GET, an invalid form, a refusal), and the page is rendered again with the form.

        if (tenant := submit_form(request, form, lambda data: tenant_create(...))) is not None:
            messages.success(request, ...)
            return redirect(...)
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(form.cleaned_data)
    except ValidationError as error:
        add_service_errors(form, error, other_field=other_field)
        return None


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a leading apostrophe makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns what was written, for csv.writer."""

    def write(self, value):
        return value


def stream_csv(*, filename: str, header: list[str], rows: Iterable[Iterable]):
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    add_never_cache_headers(response)
    return response


def _from_api_error(detail) -> ValidationError:
    """DRF's error detail (a dict of lists, or a list, of ErrorDetail) as Django's."""

    def messages(value) -> list[ValidationError]:
        items = value if isinstance(value, list) else [value]
        return [ValidationError(str(item), code=getattr(item, "code", None)) for item in items]

    if isinstance(detail, dict):
        return ValidationError({key: messages(value) for key, value in detail.items()})
    return ValidationError(messages(detail))
