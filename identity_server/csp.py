"""Content-Security-Policy for pages whose form ends in a redirect to a client (SPEC §8).

CSP's `form-action` governs the whole navigation a form starts, redirects included
(CSP Level 3 §6.3.2; Chromium enforces it), and the site's policy allows only 'self'. So
the sign-in form, whose POST goes on to the authorization endpoint and from there to the
client's redirect URI, and sign-out's confirmation, which goes on to a post-logout
redirect URI, must also allow that URI's origin, or the browser stops at the last step.
Only a URI already checked against the client's registration is ever added.
"""

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils.csp import CSP

from identity_server import signin


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def allow_form_redirect_to(response, uri: str):
    """`response` with the site's policy, its form-action also allowing `uri`'s origin."""
    policy = dict(getattr(response, "_csp_config", None) or settings.SECURE_CSP)
    policy["form-action"] = [*policy.get("form-action", [CSP.SELF]), _origin(uri)]
    response._csp_config = policy
    return response


def authorization_redirect_uri(next_url: str) -> str | None:
    """The redirect URI an authorization request in `next_url` (a path on this site, as the
    sign-in page's `next`) will send the browser to, if its client may sign users in there;
    else None."""
    parts = urlsplit(next_url or "")
    if not parts.path.endswith(reverse("authorize").removeprefix("/")) or parts.netloc:
        return None
    query = parse_qs(parts.query)
    client_id = (query.get("client_id") or [""])[0]
    redirect_uri = (query.get("redirect_uri") or [""])[0]
    client = signin.sign_in_client(client_id)
    if client is None or not signin.redirect_uri_allowed(client, redirect_uri):
        return None
    return redirect_uri
