"""Sign-out (SPEC §8): the end-session endpoint, the site's own sign-out, and OpenID Connect
Back-Channel Logout 1.0 notifications to the clients the ended session signed in to.

`GET|POST /identity_/connect/endsession` (IdentityServer4's name, also under `/{org}/` and
`/{org}/{tenant}/`), OpenID Connect RP-Initiated Logout 1.0:
- `id_token_hint` (§2): must be an id_token we issued (our key, our issuer; expired ones
  are accepted, a session outlives its id_token); its `aud` is the client. Otherwise the
  request is refused on a page (`id_token_hint_invalid`) and nothing is redirected.
- `client_id`: names the client when there is no hint; with one, it must be the hint's
  `aud` (`client_mismatch`).
- `post_logout_redirect_uri` (§3): followed only if the client registered it exactly
  (`post_logout_redirect_uri_unregistered`; without a client, `client_unknown`), with
  `state` echoed. Without one, the page says the user is signed out.
- The site session ends at once when the hint names the signed-in user; otherwise (no hint,
  or another user's) the user confirms on a page first (§2: the OP SHOULD ask), so a link
  on another site cannot sign users out. A POST from the client (§2 allows it) is answered
  with a redirect to the same request as a GET: browsers do not send the session cookie
  (SameSite=Lax) on a cross-site POST.
Every refusal is a page (never a redirect) and an audit event with its reason code.

The site's own sign-out (`/accounts/logout/`) ends the session the same way
(`session_end`), so every way out notifies the clients.

Back-channel logout (§2.5, §2.7): the site session's `sid` (identity_server.signin, recorded
on the codes and grants it issued) finds every client it signed in to that registered a
`backchannel_logout_uri`; each gets a signed logout token (identity_server.tokens:
`iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid`, the back-channel logout event, no nonce)
POSTed as `logout_token`. Sending happens after the response, once the transaction has
committed, on a small pool of threads, through the guarded fetcher (federation.jwks
.post_form: HTTPS, public or allowlisted addresses, no redirects, a deadline, a size cap),
with ATTEMPTS tries BACKOFF_SECONDS apart; a receiver that is down or slow never delays
sign-out. Each delivery's outcome is audited (`backchannel_logout.send`, reason code the
fetcher's on failure) and logged without the token. Grants stay as they are: signing out
of the site does not revoke an application's refresh tokens, which the grants page does.
"""

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.db import connections, transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from federation import jwks
from identity_server import csp, services, signin, tokens
from identity_server.clients import CLIENT_ID_PATTERN
from identity_server.models import AuthorizationCode, OAuthClient, SignInGrant
from tenants.background import JobPool
from tenants.models import AuditEvent, Organization
from tenants.services import Actor, AuditTarget, audit_record

logger = logging.getLogger(__name__)

# The parameters of RP-Initiated Logout 1.0 §2 this endpoint reads.
PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 4.0)  # before the second and the third attempt
_deliveries = JobPool(workers=4, name="backchannel-logout")


# --- the end-session endpoint -------------------------------------------------------------


class Refusal(Exception):
    def __init__(self, reason: str, description: str, client: OAuthClient | None = None):
        super().__init__(description)
        self.reason = reason
        self.description = description
        self.client = client


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str
    subject: str  # the hint's `sub`, "" without a hint
    redirect_uri: str  # registered, or ""
    state: str


def _client(client_id: str) -> OAuthClient | None:
    if not CLIENT_ID_PATTERN.fullmatch(client_id or ""):
        return None
    return (
        OAuthClient.objects.filter(client_id=client_id, kind=OAuthClient.Kind.EXTERNAL_APP)
        .select_related("organization")
        .first()
    )


def logout_request_check(params) -> LogoutRequest:
    """The request's parameters, checked in the module docstring's order; Refusal otherwise."""
    hint = params.get("id_token_hint", "")
    client_id = params.get("client_id", "")
    subject = ""
    if hint:
        try:
            claims = tokens.id_token_hint_decode(hint)
        except tokens.InvalidAccessToken:
            raise Refusal(
                "id_token_hint_invalid", "The id_token_hint is not an id_token this server issued."
            ) from None
        if client_id and client_id != claims["aud"]:
            raise Refusal(
                "client_mismatch",
                "The client_id is not the client the id_token_hint was issued to.",
            )
        client_id, subject = claims["aud"], claims["sub"]
    redirect_uri = params.get("post_logout_redirect_uri", "")
    if redirect_uri:
        client = _client(client_id)
        if client is None:
            raise Refusal(
                "client_unknown",
                "A post_logout_redirect_uri needs the id_token_hint (or client_id) of an "
                "application that registered it.",
            )
        # RP-Initiated Logout 1.0 §3: exactly one of the client's registered URIs.
        if redirect_uri not in client.post_logout_redirect_uris.split():
            raise Refusal(
                "post_logout_redirect_uri_unregistered",
                "The post_logout_redirect_uri is not registered for this application.",
                client,
            )
    return LogoutRequest(client_id, subject, redirect_uri, params.get("state", ""))


@method_decorator(csrf_exempt, name="dispatch")
class EndSessionView(View):
    http_method_names = ["get", "post"]

    def get(self, request, *args, **kwargs):
        return self.end_session(request, request.GET, confirmed=False)

    def post(self, request, *args, **kwargs):
        if request.POST.get("confirm") == "yes":
            # The user's answer on our own confirmation page: CSRF-protected like any form.
            return csrf_protect(
                lambda request: self.end_session(request, request.POST, confirmed=True)
            )(request)
        query = urlencode({name: request.POST[name] for name in PARAMETERS if name in request.POST})
        return _no_store(HttpResponseRedirect(f"{request.path}?{query}", status=303))

    def end_session(self, request, params, *, confirmed: bool) -> HttpResponse:
        try:
            logout = logout_request_check(params)
        except Refusal as refusal:
            _audit_refusal(request, params, refusal)
            page = render(
                request,
                "identity/endsession_error.html",
                {"description": refusal.description},
                status=400,
            )
            return _no_store(page)
        user = request.user if request.user.is_authenticated else None
        if user is not None:
            if not confirmed and logout.subject != str(user.pk):
                fields = [(name, params[name]) for name in PARAMETERS if params.get(name)]
                page = render(
                    request, "identity/endsession_confirm.html", {"fields": fields, "user": user}
                )
                if logout.redirect_uri:  # registered: the confirmation's POST goes on there
                    csp.allow_form_redirect_to(page, logout.redirect_uri)
                return _no_store(page)
            session_end(request, via="endsession", client_id=logout.client_id)
        if logout.redirect_uri:
            answer = {"state": logout.state} if logout.state else {}
            separator = "&" if urlsplit(logout.redirect_uri).query else "?"
            location = logout.redirect_uri + (separator + urlencode(answer) if answer else "")
            return _no_store(HttpResponseRedirect(location))
        return _no_store(render(request, "identity/signed_out.html"))


def _no_store(response: HttpResponse) -> HttpResponse:
    for name, value in NO_STORE.items():
        response[name] = value
    return response


def _audit_refusal(request, params, refusal: Refusal) -> None:
    client_id = (params.get("client_id") or "")[:100]
    client = refusal.client
    audit_record(
        action="user.sign_out",
        actor=Actor.from_request(request),
        organization=client.organization if client else None,
        target=AuditTarget(
            "oauth_client",
            client.client_id if client else client_id,
            client.name if client else client_id,
        ),
        outcome=AuditEvent.Outcome.FAILURE,
        reason_code=refusal.reason,
    )


class SiteLogoutView(auth_views.LogoutView):
    """The site's own sign-out button: the same end as the end-session endpoint's."""

    def post(self, request, *args, **kwargs):
        session_end(request, via="site")
        return super().post(request, *args, **kwargs)


# --- ending a session ---------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One back-channel logout notification still to send (no token yet: it is signed just
    before sending, so its `iat` and `exp` are honest)."""

    client_id: str
    uri: str
    organization_id: int
    sub: str
    sid: str


def backchannel_deliveries(*, sid: str, user) -> list[Delivery]:
    """One per client that the site session `sid` signed in to (a grant, or a code not yet
    exchanged) and that registered a back-channel logout URI."""
    if not sid:
        return []
    clients = {}
    for grant in SignInGrant.objects.filter(sid=sid, application__isnull=False).select_related(
        "application"
    ):
        clients[grant.application.pk] = grant.application
    for code in AuthorizationCode.objects.filter(sid=sid, application__isnull=False).select_related(
        "application"
    ):
        clients[code.application.pk] = code.application
    return [
        Delivery(
            client.client_id,
            client.backchannel_logout_uri,
            client.organization_id,
            str(user.pk),
            sid,
        )
        for client in sorted(clients.values(), key=lambda client: client.pk)
        if client.backchannel_logout_uri
    ]


def session_end(request, *, via: str, client_id: str = "") -> None:
    """Ends the site session of `request` and audits it in every organization of the user;
    the clients it signed in to are notified after the response (`backchannel_send`)."""
    user = request.user if request.user.is_authenticated else None
    if user is None:
        return
    sid = request.session.get(signin.SESSION_SID_KEY, "")
    actor = Actor.from_request(request)
    deliveries = backchannel_deliveries(sid=sid, user=user)
    auth.logout(request)
    for organization in Organization.objects.filter(memberships__user=user) or [None]:
        audit_record(
            action="user.sign_out",
            actor=actor,
            organization=organization,
            target=AuditTarget("user", str(user.pk), user.get_username()),
            details={
                "via": via,
                "client_id": client_id,
                "backchannel_clients": [
                    d.client_id for d in deliveries if d.organization_id == organization.pk
                ]
                if organization
                else [],
            },
        )
    if deliveries:
        transaction.on_commit(lambda: backchannel_send(deliveries))


@transaction.atomic
def sessions_end_everywhere(*, user, actor: Actor, reason: str) -> int:
    """Ends every session of `user`, wherever it is (after a password reset, SPEC §9);
    returns how many sign-ins to applications ended.

    - Site sessions need no search: Django keeps in each one a hash derived from the
      password hash and ends a session whose hash no longer matches at its next request
      (django.contrib.auth.get_user), so a new password ends every session of the old one.
    - Sign-ins to applications: each active grant is revoked with `reason` (its refresh
      tokens stop working, its access tokens are deny-listed until they expire), and codes
      not yet exchanged are deleted. Unlike a sign-out (which leaves grants to the grants
      page), a reset is what someone does who fears another has their password.
    - The clients those sessions signed in to are told by back-channel logout, after the
      commit, as at a sign-out."""
    now = timezone.now()
    grants = list(
        SignInGrant.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
    )
    codes = AuthorizationCode.objects.filter(user=user, used_at__isnull=True)
    sids = {grant.sid for grant in grants} | set(codes.values_list("sid", flat=True))
    deliveries = [
        delivery for sid in sorted(sids) for delivery in backchannel_deliveries(sid=sid, user=user)
    ]
    ended = sum(
        services.sign_in_grant_revoke(grant=grant, actor=actor, reason=reason) for grant in grants
    )
    codes.delete()
    if deliveries:
        transaction.on_commit(lambda: backchannel_send(deliveries))
    return ended


# --- back-channel logout ------------------------------------------------------------------


def backchannel_send(deliveries: list[Delivery]) -> None:
    """Queues each delivery on the pool; returns at once."""
    for delivery in deliveries:
        _deliveries.submit(_deliver, delivery)


def backchannel_drain(timeout: float = 30) -> bool:
    """Waits until every queued delivery has finished (for tests and a clean shutdown);
    False if some are still running after `timeout` seconds."""
    return _deliveries.drain(timeout)


def _deliver(delivery: Delivery) -> None:
    """POSTs the logout token, up to ATTEMPTS times; audits and logs the outcome. Runs on
    the pool, with its own database connection, closed at the end."""
    outcome, reason, status = AuditEvent.Outcome.FAILURE, "", None
    try:
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
            token = tokens.logout_token_encode(
                client_id=delivery.client_id, sub=delivery.sub, sid=delivery.sid
            )
            try:
                status = jwks.post_form(delivery.uri, {"logout_token": token})
            except jwks.IssuerUnreachable as error:
                reason = error.reason
                logger.warning(
                    "Back-channel logout to client %s failed (attempt %d of %d): %s (%s)",
                    delivery.client_id,
                    attempt + 1,
                    ATTEMPTS,
                    error.reason,
                    error.detail,
                )
                continue
            outcome, reason = AuditEvent.Outcome.SUCCESS, ""
            break
        audit_record(
            action="backchannel_logout.send",
            actor=Actor.system("back-channel logout"),
            organization=Organization.objects.filter(pk=delivery.organization_id).first(),
            target=AuditTarget("oauth_client", delivery.client_id, delivery.client_id),
            outcome=outcome,
            reason_code=reason,
            details={"uri": delivery.uri, "attempts": attempt + 1, "status": status},
        )
    except Exception:  # a thread's error has nowhere else to go
        logger.exception("Back-channel logout to client %s failed", delivery.client_id)
    finally:
        connections.close_all()  # this thread's own
