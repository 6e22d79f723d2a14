"""Error responses: JSON under the API prefixes of SPEC §2, HTML for the browser pages."""

import re

from django.http import JsonResponse
from django.views import defaults

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


def api_not_found(request, *args, **kwargs):
    """An unknown route under an API prefix, even in DEBUG (where Django skips handler404).
    DRF answers a missing object with the same body, so a route that does not exist cannot
    be told from an object that does not exist."""
    return JsonResponse({"detail": "Not found."}, status=404)


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
