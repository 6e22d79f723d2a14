"""Error pages: JSON under the API prefixes of SPEC §2, HTML for the browser pages."""

from django.http import JsonResponse
from django.views import defaults

_API_SEGMENTS = {"identity_", "orchestrator_"}


def is_api_path(path: str) -> bool:
    segments = path.strip("/").split("/")
    return bool(_API_SEGMENTS.intersection(segments)) or "/portal_/api/" in f"{path}/"


def _json_error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def api_not_found(request, *args, **kwargs):
    """The catch-all route under the API prefixes, so that even in DEBUG an unknown API
    route answers JSON. DRF answers a missing object with the same body, so a route that
    does not exist cannot be told from an object that does not exist."""
    return _json_error(404, "Not found.")


def page_not_found(request, exception=None):
    if is_api_path(request.path):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_path(request.path):
        return _json_error(500, "Internal server error.")
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if is_api_path(request.path):
        return _json_error(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api_path(request.path):
        return _json_error(403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)
