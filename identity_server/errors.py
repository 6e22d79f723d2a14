"""Error responses: JSON under the API prefixes of SPEC §2, HTML for the browser pages."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# The API prefixes: /identity_, /{org}/identity_, /{org}/{tenant}/identity_ (and likewise
# orchestrator_), and /{partitionGlobalId}/portal_/api. Written without the leading slash,
# as URL patterns see paths; urls.py routes whatever else lies under them to api_not_found.
API_PATH_PATTERNS = (
    r"^(?:[^/]+/){0,2}(?:identity_|orchestrator_)(?:/.*)?$",
    r"^[^/]+/portal_/api(?:/.*)?$",
)
_API_PATH = re.compile("|".join(f"(?:{p})" for p in API_PATH_PATTERNS))


def is_api_path(path: str) -> bool:
    return _API_PATH.match(path.lstrip("/")) is not None


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """An unknown route under an API prefix, even in DEBUG (where Django skips handler404).
    DRF answers a missing object with the same body, so a route that does not exist cannot
    be told from an object that does not exist. Whatever the method: it changes nothing,
    so a POST needs no CSRF token to be told the route does not exist."""
    return JsonResponse({"detail": "Not found."}, status=404)


def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW: under the API prefixes, a JSON 403; Django's page for
    the browser pages."""
    if is_api_path(request.path):
        # Not Django's reason: one of them quotes the request's Origin header.
        return JsonResponse({"detail": "CSRF Failed."}, status=403)
    return csrf.csrf_failure(request, reason=reason)


def _json_under_api_prefixes(status: int, detail: str, html_view):
    def handler(request, *args, **kwargs):
        if is_api_path(request.path):
            return JsonResponse({"detail": detail}, status=status)
        return html_view(request, *args, **kwargs)

    return handler


bad_request = _json_under_api_prefixes(400, "Bad request.", defaults.bad_request)
permission_denied = _json_under_api_prefixes(
    403, "You do not have permission to perform this action.", defaults.permission_denied
)
page_not_found = _json_under_api_prefixes(404, "Not found.", defaults.page_not_found)
server_error = _json_under_api_prefixes(500, "Internal server error.", defaults.server_error)


# Error keys that name no field: DRF's and Django's; ASP.NET Core uses "".
_NOT_A_FIELD = frozenset({"non_field_errors", "__all__"})


def validation_problem_handler(exc, context):
    """DRF exception handler of the identity_ APIs: a 400 is ASP.NET Core's
    ValidationProblemDetails, as UiPath's identity server answers, with the errors keyed by
    field: `{"title", "status", "errors": {"name": ["..."]}}`. Other errors keep DRF's body
    (a 404 stays the same `{"detail": "Not found."}` as an unknown route).

    Services raise Django's ValidationError; a view may rename its field keys for the API
    with an `error_fields` map (`{"redirect_uri": "redirectUri"}`).
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    if not isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        return drf_exception_handler(exc, context)
    renames = getattr(context.get("view"), "error_fields", {})
    detail = exc.detail if isinstance(exc.detail, dict) else {"": exc.detail}
    errors = {}
    for key, messages in detail.items():
        key = "" if key in _NOT_A_FIELD else renames.get(key, key)
        messages = messages if isinstance(messages, list) else [messages]
        errors.setdefault(key, []).extend(str(message) for message in messages)
    body = {"title": "One or more validation errors occurred.", "status": 400, "errors": errors}
    return Response(body, status=400)
