"""Sign-out over HTTP against a live server (SPEC §8): a user signs in to an application with
Authlib, signs out at the end-session endpoint with the id_token as hint, and the
application's back-channel logout endpoint (tests/logout_receiver.py, HTTPS on loopback,
allowlisted) receives a logout token that PyJWT verifies against our JWKS (OpenID Connect
Back-Channel Logout 1.0 §2.4, §2.6). A receiver that hangs or fails never slows sign-out,
and every delivery is audited."""

import time

import jwt
import pytest
import requests
from django.conf import settings

from federation.tests.factories import external_app
from identity_server import signout
from tenants.models import AuditEvent
from tests.test_sign_in_flow import JWKS, REDIRECT, TOKEN, answer, authorize, browser_of
from tests.test_sign_in_flow import oauth_session as _oauth_session

pytestmark = pytest.mark.usefixtures("transactional_db")

ENDSESSION = "/identity_/connect/endsession"
BYE = "https://app.example.com/signed-out"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def quick_retries(monkeypatch, settings):
    """Retries and deadlines short enough for a test to watch them all."""
    monkeypatch.setattr(signout, "BACKOFF_SECONDS", (0.2, 0.2))
    settings.FEDERATION_FETCH_TIMEOUT_SECONDS = 1


def user_app(organization, backchannel_uri: str, name: str = "Portal"):
    app, secret = external_app(
        organization=organization,
        name=name,
        user_scopes=["PM.OAuthApp"],
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[BYE],
        backchannel_logout_uri=backchannel_uri,
    )
    return app.client, secret


def signed_in(live_server, browser, app, secret) -> dict:
    """The user (whose site session `browser` holds) signs in to `app`; its tokens."""
    with _oauth_session(app, secret, scope="openid PM.OAuthApp") as session:
        response, verifier, _nonce, _state = authorize(live_server, browser, session)
        answer(response)
        return session.fetch_token(
            live_server.url + TOKEN,
            authorization_response=response.headers["Location"],
            code_verifier=verifier,
        )


def sign_out(live_server, browser, id_token: str) -> requests.Response:
    return browser.get(
        live_server.url + ENDSESSION,
        params={"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "bye"},
        allow_redirects=False,
        timeout=10,
    )


def test_signing_out_ends_the_session_and_each_registered_client_gets_a_logout_token(
    live_server, admin_membership, logout_receiver, quick_retries
):
    # given: the user signed in to two applications with back-channel logout, and one
    # without, from the same site session
    user, organization = admin_membership.user, admin_membership.organization
    first, first_secret = user_app(organization, logout_receiver.url("/first"), "First")
    second, second_secret = user_app(organization, logout_receiver.url("/second"), "Second")
    silent, silent_secret = user_app(organization, "", "Silent")
    browser = browser_of(live_server, user)
    token = signed_in(live_server, browser, first, first_secret)
    signed_in(live_server, browser, second, second_secret)
    signed_in(live_server, browser, silent, silent_secret)
    id_token = jwt.decode(token["id_token"], options={"verify_signature": False})

    # when
    response = sign_out(live_server, browser, token["id_token"])

    # then: back to the application, and the site session is gone
    assert (response.status_code, response.headers["Location"]) == (302, f"{BYE}?state=bye")
    again = browser.get(live_server.url + "/", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/accounts/login/" in again.headers["Location"]

    # and each application with a back-channel logout URI got one logout token for itself
    notifications = sorted(logout_receiver.received(2), key=lambda n: n.path)
    assert [n.path for n in notifications] == ["/first", "/second"]
    jwks = jwt.PyJWKClient(live_server.url + JWKS)
    for notification, app in zip(notifications, (first, second), strict=True):
        assert notification.content_type == "application/x-www-form-urlencoded"
        logout_token = notification.form["logout_token"]
        assert jwt.get_unverified_header(logout_token)["typ"] == "logout+jwt"
        claims = jwt.decode(
            logout_token,
            jwks.get_signing_key_from_jwt(logout_token).key,
            algorithms=["RS256"],
            audience=app.client_id,
            issuer=settings.IDENTITY_ISSUER,
            options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
        )
        assert claims["sid"] == id_token["sid"]
        assert claims["sub"] == str(user.pk)
        assert claims["events"] == {EVENT: {}}
        assert "nonce" not in claims
    assert signout.backchannel_drain(10)
    sent = AuditEvent.objects.filter(action="backchannel_logout.send")
    assert sorted(sent.values_list("target_id", "outcome")) == sorted(
        [(first.client_id, "success"), (second.client_id, "success")]
    )
    assert not any("logout_token" in str(event.details) for event in sent)
    sign_out_event = AuditEvent.objects.get(action="user.sign_out", outcome="success")
    assert sorted(sign_out_event.details["backchannel_clients"]) == sorted(
        [first.client_id, second.client_id]
    )


def test_a_receiver_that_hangs_does_not_slow_sign_out(
    live_server, admin_membership, logout_receiver, quick_retries
):
    # given
    user, organization = admin_membership.user, admin_membership.organization
    app, secret = user_app(organization, logout_receiver.url())
    browser = browser_of(live_server, user)
    token = signed_in(live_server, browser, app, secret)
    logout_receiver.hang()

    # when
    started = time.monotonic()
    response = sign_out(live_server, browser, token["id_token"])
    elapsed = time.monotonic() - started

    # then: the answer did not wait for the receiver, which did get the request
    assert response.status_code == 302
    assert elapsed < 0.9, elapsed  # under the 1 s deadline of one attempt
    logout_receiver.received(1)
    # and after every attempt timed out, the failure is audited with its reason
    assert signout.backchannel_drain(30)
    event = AuditEvent.objects.get(action="backchannel_logout.send")
    assert (event.outcome, event.reason_code) == ("failure", "deadline_exceeded")
    assert event.details["attempts"] == signout.ATTEMPTS
    assert len(logout_receiver.notifications) == signout.ATTEMPTS


def test_a_receiver_that_fails_is_retried_a_few_times_then_given_up(
    live_server, admin_membership, logout_receiver, quick_retries
):
    # given
    user, organization = admin_membership.user, admin_membership.organization
    app, secret = user_app(organization, logout_receiver.url())
    browser = browser_of(live_server, user)
    token = signed_in(live_server, browser, app, secret)
    logout_receiver.status = 503

    # when
    assert sign_out(live_server, browser, token["id_token"]).status_code == 302

    # then
    assert signout.backchannel_drain(30)
    assert len(logout_receiver.notifications) == signout.ATTEMPTS
    tokens_sent = {n.form["logout_token"] for n in logout_receiver.notifications}
    assert len(tokens_sent) == signout.ATTEMPTS  # each attempt its own jti
    event = AuditEvent.objects.get(action="backchannel_logout.send")
    assert (event.outcome, event.reason_code, event.details["status"]) == (
        "failure",
        "http_status",
        None,
    )


def test_a_receiver_outside_the_allowlist_is_not_contacted(
    live_server, admin_membership, logout_receiver, settings, quick_retries
):
    # given: the operator has not allowed the application's (non-public) address
    user, organization = admin_membership.user, admin_membership.organization
    app, secret = user_app(organization, logout_receiver.url())
    browser = browser_of(live_server, user)
    token = signed_in(live_server, browser, app, secret)
    settings.FEDERATION_OUTBOUND_ALLOWLIST = []

    # when
    assert sign_out(live_server, browser, token["id_token"]).status_code == 302

    # then
    assert signout.backchannel_drain(30)
    assert logout_receiver.notifications == []
    event = AuditEvent.objects.get(action="backchannel_logout.send")
    assert (event.outcome, event.reason_code) == ("failure", "address_not_public")
