"""Shared pieces of the admin site's views, used by every app's pages.

- `paginate(request, items)`: the page of a queryset (or list) named by `?page=`, for the
  `includes/pager.html` include.
- `confirmation_page(request, ...)`: the server side of "confirm before anything
  destructive". A destructive POST must carry `confirmed=yes`; site.js adds it after the
  <dialog> is confirmed (forms with `data-confirm`, see `includes/confirm_button.html`);
  without JavaScript the first POST answers a confirmation page that re-posts the same
  fields with `confirmed=yes`.
- Secrets shown once, Post/Redirect/Get: the POST that makes a secret answers
  `redirect_with_secret_once(request, url, secret)`, a 303 to the page at `url`; that
  page's GET takes it with `secret_once_take(request)` and shows it through
  `render_secret_once` (`includes/secret_once.html`, `Cache-Control: no-store`). Between
  the two the plaintext waits in the signed-in user's server-side session (never in a URL,
  a cookie or a flash message), for that page only and five minutes at most; the first
  GET removes it, so a reload shows the page without it and creates nothing.
- `InputForm`: a form that shows fields and keeps the user's input but validates nothing
  itself: its data goes, as an API client would send it, through the API's own parser and
  service.
- `submit_form(request, form, save)`: the one round of every form of the site: a valid
  POST calls the service, whose refusal (Django's ValidationError, or the API parser's
  DRF one) goes beside the fields (`add_service_errors`), so pages and APIs share one
  validation and one wording. `form_data(request)` binds a form to a POST only.
- `confirmed_delete(request, ...)`: a destructive POST, once confirmed
  (`confirmation_page`): the deletion by the signed-in user, its flash message and the
  redirect.
- `stream_csv(filename=..., header=..., rows=...)`: a CSV download written row by row as
  it is sent, every cell guarded against formula injection (`csv_cell`).
"""

import csv
import time
from collections.abc import Iterable
from typing import NamedTuple

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.forms.utils import ErrorDict
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from rest_framework import exceptions as api_exceptions

from tenants.odata import error_messages
from tenants.services import Actor

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


def confirmed_delete(
    request,
    *,
    question: str,
    detail: str = "",
    cancel_url: str,
    delete,
    done: str,
    next_url: str,
):
    """A destructive POST: the confirmation page until confirmed, then `delete(actor)` by
    the signed-in user, the flash message `done` and a redirect to `next_url`."""
    page = confirmation_page(request, question=question, detail=detail, cancel_url=cancel_url)
    if page is not None:
        return page
    delete(Actor.from_request(request))
    messages.success(request, done)
    return redirect(next_url)


# The session key of a secret on its way to the page that shows it once, and how long it
# may wait there: the redirect is followed at once, so anything older was never seen.
SECRET_ONCE_SESSION_KEY = "site.secret_once"  # noqa: S105 (a key name)
SECRET_ONCE_SECONDS = 300


class SecretOnce(NamedTuple):
    secret: str
    about: str  # what it belongs to, when the page says it (a new account's username)


def redirect_with_secret_once(
    request, url: str, secret: str, *, about: str = ""
) -> HttpResponseRedirect:
    """The answer to a POST that made `secret`: a 303 to `url`, whose GET shows it once
    (`secret_once_take`). Each page has its own place, so secrets made in two tabs both
    reach their pages."""
    now = time.time()
    kept = _unexpired(request.session.get(SECRET_ONCE_SESSION_KEY, {}), now)
    kept[url] = {"secret": secret, "about": about, "until": now + SECRET_ONCE_SECONDS}
    request.session[SECRET_ONCE_SESSION_KEY] = kept
    return HttpResponseRedirect(url, status=303)


def secret_once_take(request) -> SecretOnce | None:
    """The secret kept for this page by `redirect_with_secret_once`, removed from the
    session as it is read; None when there is none (a reload) or it is too old. Secrets
    kept for other pages stay for them, unless too old."""
    kept = request.session.get(SECRET_ONCE_SESSION_KEY)
    if not kept:
        return None
    now = time.time()
    entry = kept.pop(request.path, None)
    kept = _unexpired(kept, now)
    if kept:
        request.session[SECRET_ONCE_SESSION_KEY] = kept
    else:
        del request.session[SECRET_ONCE_SESSION_KEY]
    if entry is None or entry["until"] <= now:
        return None
    return SecretOnce(entry["secret"], entry["about"])


def _unexpired(kept: dict, now: float) -> dict:
    return {url: entry for url, entry in kept.items() if entry["until"] > now}


def render_secret_once(request, template: str, context: dict, *, status: int = 200):
    """`template` rendered with a plaintext secret in `context` (from `secret_once_take`),
    marked never to be stored by any cache."""
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)  # includes no-store
    return response


class InputForm(forms.Form):
    """A form that renders its fields and keeps what the user typed, but judges nothing
    itself: its data (`cleaned_data`, the same as `api_data()`) goes through the parser of
    the API that takes the same input, then the same service, and submit_form puts their
    messages beside the fields. One validation, one wording, for a page and its API.

    Fields still declare labels, help texts, `max_length` and `required` (the others are
    marked optional); browsers are not asked to enforce `required`, so the message a user
    sees is the server's."""

    use_required_attribute = False

    def full_clean(self):
        self._errors = ErrorDict()
        self.cleaned_data = self.api_data()

    def api_data(self) -> dict:
        """The submitted fields as an API client would send them: a checkbox true or false,
        a multiple choice a list; an optional field left empty is left out, as a client
        leaves out what it does not set (an empty required one stays, to be refused),
        except that one whose `empty_value` is None is sent as null, as a client clears a
        value (a robot's machine, a description being edited)."""
        data = {}
        for name, field in self.fields.items():
            value = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            if value is not None and value != "":
                data[name] = value
            elif not field.required and getattr(field, "empty_value", "") is None:
                data[name] = None
            elif value == "" and field.required:
                data[name] = value
        return data


def form_data(request):
    """The data of a POST for a form, else None (an unbound form, on a GET)."""
    return request.POST if request.method == "POST" else None


def add_service_errors(
    form, error, *, other_field: str | None = None, renames: dict | None = None
) -> None:
    """Adds a service's ValidationError to `form`: messages keyed by one of the form's
    fields beside that field, any other key (or none) beside `other_field`, or at the top
    of the form without it (a model constraint's error names no field).

    `error` may also be DRF's ValidationError, from the parser of the API that takes the
    same input, so the page shows the API's messages word for word. `renames` maps a
    service's keys to the form's field names, as an API view's `error_fields` does."""
    error = as_django_error(error)
    if not hasattr(error, "error_dict"):
        form.add_error(other_field, error)
        return
    renames = renames or {}
    for field, errors in error.error_dict.items():
        field = renames.get(field, field)
        form.add_error(field if field in form.fields else other_field, errors)


def submit_form(
    request, form, save, *, other_field: str | None = None, renames: dict | None = None
):
    """For a POST whose `form` is valid: `save(form.cleaned_data)` (a service call, often
    after the API's parser, which must return something other than None), its refusal
    added to the form (add_service_errors). Returns what `save` returned, or None when
    nothing was saved (a GET, an invalid form, a refusal), and the page is rendered again
    with the form, the input kept.

        if (tenant := submit_form(request, form, lambda data: tenant_create(...))) is not None:
            messages.success(request, ...)
            return redirect(...)
    """
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(form.cleaned_data)
    except (ValidationError, api_exceptions.ValidationError) as error:
        add_service_errors(form, error, other_field=other_field, renames=renames)
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


def as_django_error(error: ValidationError | api_exceptions.ValidationError) -> ValidationError:
    """A service's ValidationError as it is; the API parser's (DRF) as Django's, keyed by
    the same fields with the same messages as the API's error body (tenants.odata)."""
    if not isinstance(error, api_exceptions.ValidationError):
        return error

    def django(detail) -> list[ValidationError]:
        return [
            ValidationError(str(message), code=getattr(message, "code", None))
            for message in error_messages(detail)
        ]

    if isinstance(error.detail, dict):
        return ValidationError({key: django(value) for key, value in error.detail.items()})
    return ValidationError(django(error.detail))
