"""`GET /orchestrator_/api/status/version` (SPEC §8): which version of this server answers.

UiPath's clients probe it on hosts other than UiPath's cloud (the `uipath` CLI picks its
sign-in configuration from the answer). Anonymous, as UiPath's is; the same answer under
every `/{org}/{tenant}/` prefix, so it says nothing about which organizations exist, and it
reads no database row.
"""

import functools
import tomllib

from django.conf import settings
from rest_framework.response import Response
from rest_framework.views import APIView


@functools.cache
def server_version() -> str:
    """The project's version, from the one place it is written: pyproject.toml."""
    with open(settings.BASE_DIR / "pyproject.toml", "rb") as pyproject:
        return tomllib.load(pyproject)["project"]["version"]


class VersionView(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request, **prefix):
        return Response({"version": server_version()})
