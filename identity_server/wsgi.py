"""WSGI entry point. Refuses to start when the deployment-safety checks report an error.

`application` hands Django the request's own keys only: the server builds each request's
environ on a copy of the process's environment (identity_server.serve says why that matters),
and a body already in memory goes back in one piece (`body_in_one_piece`).
"""

import os

from django.core.wsgi import get_wsgi_application

from identity_server.serve import (
    body_in_one_piece,
    process_environment,
    without_process_environment,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity_server.settings")

_django = get_wsgi_application()
_process = process_environment()


def application(environ, start_response):
    response = _django(without_process_environment(environ, _process), start_response)
    return body_in_one_piece(response)


from django.core import checks  # noqa: E402  (needs the app registry loaded above)
from django.core.management.base import SystemCheckError  # noqa: E402

from identity_server.checks import DEPLOY_SAFETY  # noqa: E402

_errors = [m for m in checks.run_checks(tags=[DEPLOY_SAFETY]) if m.is_serious()]
if _errors:
    raise SystemCheckError("\n".join(str(e) for e in _errors))
