"""Signing in through the organization's own identity provider (SPEC §9): the site's
routes of the relying-party flow (federation.relying_party does the protocol,
federation.services.identity_provider_sign_in the account).

- `idp-start` `/accounts/idp/{id}/start`: a pending sign-in (state, nonce, PKCE verifier)
  kept in this browser's session, then the browser to the provider.
- `idp-callback` `/accounts/idp/{id}/callback`: the redirect URI registered at the
  provider. `state` must name a pending sign-in of THIS session for this provider, and is
  used once (RFC 6749 §10.12: bound to the user agent; a replay finds nothing); RFC 9207's
  `iss`, when sent, must be the provider's issuer (mix-up). Then the code exchange and the
  id_token checks, then the account; success signs the browser in as the password form
  does, with `amr` ["external"] (IdentityServer's name for an external provider's sign-in,
  which UiPath's Identity Server carries; RFC 8176 registers no value for it).
- `idp-test` `/accounts/idp/{id}/test`: an administrator of the provider's organization
  runs the same flow; the callback shows the claims received and signs no one in and binds
  nothing.
"""

import time

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from federation import relying_party, selectors, services
from federation.models import IdentityProvider
from federation.relying_party import PendingSignIn, SignInRefused
from identity_server import login_throttle, signin
from tenants.models import AuditEvent, Membership
from tenants.services import Actor, audit_record

SESSION_PENDING_KEY = "federation_idp_pending"
PENDING_SECONDS = 10 * 60  # a person at the provider's sign-in page, with MFA
PENDING_MAX = 5  # sign-ins started in other tabs, kept at once
AMR_EXTERNAL = "external"
STATE_MISMATCH = "idp_state_mismatch"
THROTTLED = "throttled"
PROVIDER_DENIED = "idp_denied"

# What the person is told; the audit log has the reason code and the operator's detail.
REFUSAL_MESSAGES = {
    STATE_MISMATCH: "This sign-in link has expired or was already used. Start again.",
    THROTTLED: "Too many failed sign-ins from your network. Try again in a few minutes.",
    relying_party.TOKEN_INVALID: "The identity provider's answer could not be verified.",
    relying_party.UNREACHABLE: "The identity provider cannot be reached right now.",
    PROVIDER_DENIED: "The identity provider did not sign you in.",
    services.EMAIL_UNVERIFIED: "The identity provider has not verified your email address.",
    services.DOMAIN_NOT_ALLOWED: "Your email address's domain may not sign in here.",
    services.NOT_A_MEMBER: "Your account is not a member of this organization; ask one of "
    "its administrators to add you.",
    services.ACCOUNT_DISABLED: "Your account is disabled.",
    services.ALREADY_BOUND: "Your email address belongs to an account that signs in as "
    "another person of this identity provider; ask an administrator.",
}


def _pending_sign_ins(session) -> dict:
    """The session's pending sign-ins by state, without those too old to finish."""
    pending = session.get(SESSION_PENDING_KEY)
    if not isinstance(pending, dict):
        return {}
    now = time.time()
    return {
        state: data
        for state, data in pending.items()
        if isinstance(data, dict) and now - data.get("started_at", 0) < PENDING_SECONDS
    }


def _keep(session, pending: PendingSignIn) -> None:
    kept = _pending_sign_ins(session)
    kept[pending.state] = pending.as_session()
    newest = sorted(kept.items(), key=lambda item: item[1]["started_at"])[-PENDING_MAX:]
    session[SESSION_PENDING_KEY] = dict(newest)


def _take(session, state: str) -> PendingSignIn | None:
    """The pending sign-in `state` names, removed from the session (single use)."""
    kept = _pending_sign_ins(session)
    data = kept.pop(state, None) if state else None
    session[SESSION_PENDING_KEY] = kept
    return PendingSignIn.from_session(data) if data is not None else None


def _safe_next(request, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _refused_page(request, provider: IdentityProvider, reason: str, *, test: bool, status=403):
    return render(
        request,
        "federation/idp_sign_in_failed.html",
        {
            "provider": provider,
            "reason": reason,
            "message": REFUSAL_MESSAGES.get(reason, "You could not be signed in."),
            "test": test,
        },
        status=status,
    )


def _start(request, provider: IdentityProvider, *, test: bool, next_url: str):
    redirect_uri = request.build_absolute_uri(reverse("idp-callback", args=[provider.pk]))
    try:
        url, pending = relying_party.authorization_request(
            provider,
            redirect_uri=redirect_uri,
            next_url=next_url,
            test=test,
            login_hint=request.GET.get("login_hint", "")[:254],
        )
    except SignInRefused as refusal:
        services.identity_provider_sign_in_refused(
            provider=provider,
            actor=Actor.from_request(request),
            reason=refusal.reason,
            detail=refusal.detail,
        )
        return _refused_page(request, provider, refusal.reason, test=test, status=502)
    _keep(request.session, pending)
    return HttpResponseRedirect(url)


@never_cache
@require_GET
def idp_start(request, provider_id):
    provider = selectors.identity_provider_for_sign_in(provider_id=provider_id)
    return _start(
        request, provider, test=False, next_url=_safe_next(request, request.GET.get("next", ""))
    )


def _administered(request, provider_id) -> IdentityProvider:
    """The provider, if the signed-in user administers its organization; else Http404."""
    provider = (
        IdentityProvider.objects.filter(
            pk=selectors._credential_pk(provider_id),
            organization__memberships__user=request.user,
            organization__memberships__role=Membership.Role.ADMIN,
        )
        .select_related("organization")
        .first()
    )
    if provider is None:
        raise Http404
    return provider


@never_cache
@require_GET
@login_required
def idp_test(request, provider_id):
    """SPEC §9 "test sign-in": the flow, for an administrator of the organization, even
    with the provider disabled (to try it before turning it on)."""
    return _start(request, _administered(request, provider_id), test=True, next_url="")


@never_cache
@require_GET
def idp_callback(request, provider_id):
    provider = (
        IdentityProvider.objects.filter(pk=selectors._credential_pk(provider_id))
        .select_related("organization", "break_glass_user")
        .first()
    )
    if provider is None:
        raise Http404
    actor = Actor.from_request(request)
    if login_throttle.callback_throttled(address=actor.address):
        # Too many refused callbacks from this address: not checked, audited once a window.
        if login_throttle.callback_first_refusal(address=actor.address):
            services.identity_provider_sign_in_refused(
                provider=provider, actor=actor, reason=THROTTLED
            )
        return _refused_page(request, provider, THROTTLED, test=False, status=429)
    pending = _take(request.session, request.GET.get("state", ""))
    if pending is None or pending.provider_id != str(provider.pk):
        # RFC 6749 §10.12: no sign-in of this browser is waiting for this state.
        login_throttle.callback_refusal_record(address=actor.address)
        services.identity_provider_sign_in_refused(
            provider=provider, actor=actor, reason=STATE_MISMATCH
        )
        return _refused_page(request, provider, STATE_MISMATCH, test=False, status=400)
    if pending.test:
        if not request.user.is_authenticated:
            raise Http404
        provider = _administered(request, provider_id)
    elif not provider.enabled:
        raise Http404
    try:
        claims = _claims(request, provider, pending)
    except SignInRefused as refusal:
        if pending.test:
            return _test_result(request, provider, claims=None, refusal=refusal)
        login_throttle.callback_refusal_record(address=actor.address)
        services.identity_provider_sign_in_refused(
            provider=provider, actor=actor, reason=refusal.reason, detail=refusal.detail
        )
        return _refused_page(request, provider, refusal.reason, test=False)
    if pending.test:
        return _test_result(request, provider, claims=claims, refusal=None)
    try:
        user = services.identity_provider_sign_in(provider=provider, claims=claims, actor=actor)
    except SignInRefused as refusal:  # audited by the service
        return _refused_page(request, provider, refusal.reason, test=False)
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
    request.session[signin.SESSION_AMR_KEY] = [AMR_EXTERNAL]
    target = pending.next_url or reverse("organization", kwargs={"org": provider.organization.slug})
    return HttpResponseRedirect(target)


def _claims(request, provider: IdentityProvider, pending: PendingSignIn) -> dict:
    """The provider's answer at the callback, checked; the id_token's claims."""
    if "error" in request.GET:
        # RFC 6749 §4.1.2.1: the provider refused (the person cancelled, or no consent).
        error = request.GET.get("error", "")[:64]
        raise SignInRefused(PROVIDER_DENIED, f"the provider answered error={error!r}")
    issuer = request.GET.get("iss")
    if issuer is not None and issuer != provider.issuer:
        # RFC 9207 §2.4: an answer from another issuer than the one asked (mix-up).
        raise SignInRefused(relying_party.TOKEN_INVALID, "the answer's iss is another issuer")
    code = request.GET.get("code", "")
    if not code or len(code) > 2048:
        raise SignInRefused(relying_party.TOKEN_INVALID, "no authorization code")
    return relying_party.code_exchange(
        provider,
        pending,
        code=code,
        client_secret=services.identity_provider_client_secret(provider),
    )


def _test_result(request, provider, *, claims, refusal):
    """The claims received (or why there are none) and what a real sign-in with them would
    do (a dry run: nothing written), for the administrator; audited."""
    audit_record(
        action="identity_provider.tested",
        actor=Actor.from_request(request),
        organization=provider.organization,
        target=provider,
        outcome=AuditEvent.Outcome.FAILURE if refusal else AuditEvent.Outcome.SUCCESS,
        reason_code=refusal.reason if refusal else "",
        details={"detail": refusal.detail[:300]} if refusal else {},
    )
    mapped = outcome = None
    if claims is not None:
        try:
            mapped = services.ExternalClaims.of(provider, claims)
            outcome = services.identity_provider_sign_in_preview(provider=provider, external=mapped)
        except SignInRefused as problem:
            refusal = problem
    return render(
        request,
        "federation/idp_test_result.html",
        {
            "provider": provider,
            "organization": provider.organization,
            "claims": sorted((claims or {}).items()),
            "mapped": mapped,
            "outcome": outcome,
            "refusal": refusal,
        },
        status=200 if refusal is None else 400,
    )
