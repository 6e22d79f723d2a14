"""What a client registers for user sign-in (SPEC §8), checked in one place for the API and
the admin pages: redirect URIs, post-logout redirect URIs, CORS origins, the back-channel
logout URI and user scopes.

- Redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7.3 and §8.3, RFC 9700 §2.1): absolute, `https`,
  or `http` only on a loopback host (a native app's local listener); no fragment; no user
  name or password; no blanks (DOT stores them space-separated); compared exactly later,
  so they are kept as given. The same rules hold for post-logout redirect URIs (OIDC
  RP-Initiated Logout 1.0 §3).
- CORS origins (RFC 6454 §7): `scheme://host[:port]` and nothing else, `https` or loopback
  `http`; stored as a browser sends them in `Origin` (lower case, no default port), since
  they are compared with that header byte for byte. Never `*`.
- The back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.2): absolute `https`, no
  fragment; it is POSTed to through the guarded fetcher (federation.jwks), which fetches
  HTTPS only, so an `http` URI could never be reached.
- User scopes: names of the catalogue (identity_server.scopes) or OpenID Connect's own.
- A non-confidential client has no secret, so it cannot use client credentials (RFC 6749
  §4.4): it holds user scopes only, as in UiPath. A client with user scopes signs users in
  with the authorization code flow, which needs a redirect URI.

Each `*_problem` function answers the sentence for the field error, or None.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from identity_server.scopes import CATALOGUE, OFFLINE_ACCESS, unknown_scopes
from identity_server.signin import PROTOCOL_SCOPES

URI_MAX_LENGTH = 2048
URIS_PER_CLIENT = 20
ORIGINS_PER_CLIENT = 20
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# OpenID Connect's own scopes (signin.PROTOCOL_SCOPES), in the order pages list them.
OIDC_SCOPES = tuple(
    name for name in ("openid", "profile", "email", OFFLINE_ACCESS) if name in PROTOCOL_SCOPES
)
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _uri_parts(uri, what: str):
    """(parts, None) for a URI that parses with a scheme and host, else (None, problem)."""
    if not isinstance(uri, str) or not uri:
        return None, f"{what} must be an absolute https URI."
    if len(uri) > URI_MAX_LENGTH:
        return None, f"{what} must have at most {URI_MAX_LENGTH} characters."
    if any(char.isspace() or not char.isprintable() for char in uri):
        return None, f"{what} must not contain spaces or control characters."
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        return None, f"{what} is not a valid URI."
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None, f"{what} must be an absolute https URI (http only on a loopback host)."
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return None, (
            f"{what} must use https; http is allowed only on a loopback host "
            "(localhost, 127.0.0.1, [::1]) (RFC 8252 §8.3)."
        )
    if "@" in parts.netloc:
        return None, f"{what} must not contain a user name or password."
    return parts, None


def redirect_uri_problem(uri, what: str = "A redirect URI") -> str | None:
    _parts, problem = _uri_parts(uri, what)
    if problem:
        return problem
    if "#" in uri:
        return f"{what} must not contain a fragment (RFC 6749 §3.1.2)."
    return None


def backchannel_logout_uri_problem(uri) -> str | None:
    what = "The back-channel logout URI"
    parts, problem = _uri_parts(uri, what)
    if problem:
        return problem
    if parts.scheme != "https":
        return f"{what} must use https: logout tokens are sent over HTTPS only."
    if "#" in uri:
        return f"{what} must not contain a fragment."
    return None


def origin_normalized(origin) -> tuple[str | None, str | None]:
    """(the origin as a browser serializes it, None) or (None, the problem)."""
    what = "An allowed origin"
    if origin == "*":
        return None, f"{what} must name one site; `*` is not allowed."
    parts, problem = _uri_parts(origin, what)
    if problem:
        return None, problem
    if parts.path or parts.query or parts.fragment or origin.endswith(("?", "#")):
        return None, (
            f"{what} is scheme://host[:port] only, with no path (not even a trailing /), "
            "query or fragment."
        )
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port and parts.port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{port}", None


def known_user_scope(name: str) -> bool:
    return name in CATALOGUE or name in PROTOCOL_SCOPES


def _uri_list_problems(uris, problem, limit: int, what: str) -> list[str]:
    problems = [p for p in (problem(uri) for uri in uris) if p]
    if len(uris) > limit:
        problems.append(f"At most {limit} {what}.")
    return list(dict.fromkeys(problems))


def clean_registration(
    *,
    confidential: bool,
    scopes,
    user_scopes,
    redirect_uris,
    post_logout_redirect_uris,
    allowed_origins,
    backchannel_logout_uri: str | None,
) -> dict:
    """The client's sign-in registration as OAuthClient stores it (lists deduplicated in
    order, origins serialized, the space-separated fields joined), or a ValidationError
    keyed by the OAuthClient field each problem is about."""
    errors: dict[str, list[str]] = {}
    scopes = list(scopes)
    user_scopes = list(dict.fromkeys(user_scopes))
    redirect_uris = list(dict.fromkeys(redirect_uris))
    post_logout_redirect_uris = list(dict.fromkeys(post_logout_redirect_uris))
    backchannel_logout_uri = backchannel_logout_uri or ""
    if unknown := unknown_scopes(scopes):
        errors["scopes"] = [f"Unknown scopes: {', '.join(unknown)}."]
    unknown = [name for name in user_scopes if not known_user_scope(name)]
    if unknown:
        errors["user_scopes"] = [f"Unknown user scopes: {', '.join(sorted(unknown))}."]
    if not confidential and scopes:
        errors.setdefault("scopes", []).append(
            "A non-confidential application has no secret, so it cannot use application "
            "scopes (the client credentials grant, RFC 6749 §4.4); give it user scopes."
        )
    if problems := _uri_list_problems(
        redirect_uris, redirect_uri_problem, URIS_PER_CLIENT, "redirect URIs"
    ):
        errors["redirect_uris"] = problems
    elif user_scopes and not redirect_uris:
        errors["redirect_uris"] = [
            "An application with user scopes signs users in with the authorization code "
            "flow, which needs at least one redirect URI."
        ]
    if problems := _uri_list_problems(
        post_logout_redirect_uris,
        lambda uri: redirect_uri_problem(uri, "A post-logout redirect URI"),
        URIS_PER_CLIENT,
        "post-logout redirect URIs",
    ):
        errors["post_logout_redirect_uris"] = problems
    origins = []
    for origin in allowed_origins:
        normalized, problem = origin_normalized(origin)
        if problem:
            errors.setdefault("allowed_origins", []).append(problem)
        elif normalized not in origins:
            origins.append(normalized)
    if len(origins) > ORIGINS_PER_CLIENT:
        errors.setdefault("allowed_origins", []).append(f"At most {ORIGINS_PER_CLIENT} origins.")
    if backchannel_logout_uri and (
        problem := backchannel_logout_uri_problem(backchannel_logout_uri)
    ):
        errors["backchannel_logout_uri"] = [problem]
    if errors:
        raise ValidationError({key: list(dict.fromkeys(value)) for key, value in errors.items()})
    return {
        "user_scopes": sorted(user_scopes),
        "redirect_uris": " ".join(redirect_uris),
        "post_logout_redirect_uris": " ".join(post_logout_redirect_uris),
        "allowed_origins": " ".join(origins),
        "backchannel_logout_uri": backchannel_logout_uri,
    }


def stored_registration(client) -> dict:
    """The client's sign-in fields as stored, in the shape `clean_registration` answers."""
    return {
        "user_scopes": list(client.user_scopes),
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "allowed_origins": client.allowed_origins,
        "backchannel_logout_uri": client.backchannel_logout_uri,
    }


def registration_of(client) -> dict:
    """What `clean_registration` takes, as the client stores it now."""
    return {
        "confidential": client.is_confidential,
        "scopes": list(client.scopes),
        "user_scopes": list(client.user_scopes),
        "redirect_uris": client.redirect_uris.split(),
        "post_logout_redirect_uris": client.post_logout_redirect_uris.split(),
        "allowed_origins": client.allowed_origins.split(),
        "backchannel_logout_uri": client.backchannel_logout_uri,
    }
