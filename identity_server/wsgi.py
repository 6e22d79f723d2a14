"""WSGI entry point. Refuses to start when the deployment-safety checks report an error."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identity_server.settings")

application = get_wsgi_application()

from django.core import checks  # noqa: E402  (needs the app registry loaded above)
from django.core.management.base import SystemCheckError  # noqa: E402

from identity_server.checks import DEPLOY_SAFETY  # noqa: E402

_errors = [m for m in checks.run_checks(tags=[DEPLOY_SAFETY]) if m.is_serious()]
if _errors:
    raise SystemCheckError("\n".join(str(e) for e in _errors))
