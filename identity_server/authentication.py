"""Authentication classes for our REST APIs (wired in settings.REST_FRAMEWORK)."""

from rest_framework import authentication


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, answering 401 (not 403) to an anonymous caller.

    DRF only sends 401 when the first authenticator names a challenge.
    """

    def authenticate_header(self, request):
        return 'Session realm="identity"'
