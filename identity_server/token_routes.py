"""The token routes' short middleware chain (issue 18: a lean token path).

`TokenRouteMiddleware` is first in settings.MIDDLEWARE. A request for a token route
(`/identity_/connect/token`, `/{org}/identity_/connect/token`,
`/{org}/{tenant}/identity_/connect/token`: identity_server.urls) leaves the site's chain
there and goes through settings.TOKEN_MIDDLEWARE instead, built once per process like
Django's own; every other request goes on through the site's chain. Being a middleware,
it is the same under every server and under the test client and live server, so the
tests run the chain production runs.

What a token request keeps: its id and request log line (identity_server.requestlog),
SecurityMiddleware (HTTPS redirect, HSTS, nosniff) and CommonMiddleware (ALLOWED_HOSTS,
DISALLOWED_USER_AGENTS, Content-Length, which keep-alive needs). The view sets
Cache-Control: no-store and answers CORS itself (identity_server.views.TokenView). What it
skips, because the view uses none of it: sessions, CSRF (the view is csrf_exempt: a client
authenticates with its own credentials, never a cookie), authentication (no user is
loaded; the audit actor is anonymous, as it was for every client), messages,
Content-Security-Policy and X-Frame-Options (a JSON answer is no document to frame or to
run scripts in), WhiteNoise (no static file lives there) and the operations routes.
"""

import re

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

# The token routes of identity_server.urls (`<str:...>` is one segment of anything but "/").
TOKEN_PATH = re.compile(r"/(?:[^/]+/){0,2}identity_/connect/token")


class _TokenHandler(BaseHandler):
    """Django's request handling (URL resolution, view middleware, exceptions to
    responses) with settings.TOKEN_MIDDLEWARE as its chain."""

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware for another list, synchronous only: every middleware
        # of the list is sync-capable, as the site's are.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.TOKEN_MIDDLEWARE):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def chain(self, request):
        return self._middleware_chain(request)


class TokenRouteMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.token_handler = _TokenHandler()
        self.token_handler.load_middleware()

    def __call__(self, request):
        if TOKEN_PATH.fullmatch(request.path_info):
            return self.token_handler.chain(request)
        return self.get_response(request)
