"""The end-session endpoint (SPEC §8, OpenID Connect RP-Initiated Logout 1.0) through the
Django test client: the hint, the registered post-logout redirect, the confirmation, every
refusal a page with its audit event. Back-channel logout over real sockets is in
tests/test_backchannel_logout.py."""

import re
import time
import uuid

import pytest
from django.test import Client

from federation.tests.factories import external_app
from identity_server import signin, tokens
from identity_server.tests.factories import client_with_secret
from tenants.models import AuditEvent

ENDSESSION = "/identity_/connect/endsession"
BYE = "https://app.example/bye"


@pytest.fixture
def user(admin_membership):
    return admin_membership.user


@pytest.fixture
def app(organization):
    return external_app(
        organization=organization,
        user_scopes=["openid", "OR.Robots.Read"],
        redirect_uris=["https://app.example/cb"],
        post_logout_redirect_uris=[BYE, "https://app.example/bye?from=idp"],
    )[0]


@pytest.fixture
def browser(client, user):
    """A browser signed in to the site, in a session that signed in to applications."""
    client.force_login(user)
    session = client.session
    session[signin.SESSION_SID_KEY] = "sid-" + uuid.uuid4().hex
    session.save()
    return client


def id_token(user, client_id: str, *, organization, issued_ago: int = 0) -> str:
    sign_in = tokens.SignIn(
        user=user,
        organization_global_id=str(organization.global_id),
        grant_global_id=str(uuid.uuid4()),
        sid="sid",
        auth_time=int(time.time()) - issued_ago,
        amr=("pwd",),
    )
    if not issued_ago:
        return tokens.id_token_encode(client_id=client_id, sign_in=sign_in, access_token="at")
    # An id_token that expired long ago: signed with our key, its times in the past.
    from jose import jwt  # the claims as id_token_encode writes them, moved back in time

    claims = jwt.get_unverified_claims(
        tokens.id_token_encode(client_id=client_id, sign_in=sign_in, access_token="at")
    )
    claims.update(iat=claims["iat"] - issued_ago, exp=claims["exp"] - issued_ago)
    key = tokens.current_signing_key()
    return jwt.encode(claims, key.signer, algorithm="RS256", headers={"kid": key.kid})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def refused(reason: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(
        action="user.sign_out", outcome=AuditEvent.Outcome.FAILURE, reason_code=reason
    ).first()


# --- a valid request ----------------------------------------------------------------------


def test_a_hint_of_the_signed_in_user_ends_the_session_and_goes_back_with_state(
    browser, user, organization, app
):
    # given
    hint = id_token(user, app.client.client_id, organization=organization)

    # when
    response = browser.get(
        ENDSESSION,
        {"id_token_hint": hint, "post_logout_redirect_uri": BYE, "state": "s t&1"},
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == f"{BYE}?state=s+t%261"
    assert response["Cache-Control"] == "no-store"
    assert not signed_in(browser)
    event = AuditEvent.objects.get(action="user.sign_out", outcome=AuditEvent.Outcome.SUCCESS)
    assert (event.organization, event.target_id) == (organization, str(user.pk))
    assert event.details["via"] == "endsession"
    assert event.details["client_id"] == app.client.client_id


def test_a_registered_uri_with_a_query_keeps_it_and_no_state_adds_nothing(
    browser, user, organization, app
):
    hint = id_token(user, app.client.client_id, organization=organization)

    response = browser.get(
        ENDSESSION,
        {"id_token_hint": hint, "post_logout_redirect_uri": "https://app.example/bye?from=idp"},
    )

    assert response["Location"] == "https://app.example/bye?from=idp"


def test_an_expired_id_token_is_still_a_good_hint(browser, user, organization, app):
    hint = id_token(user, app.client.client_id, organization=organization, issued_ago=86_400)

    response = browser.get(ENDSESSION, {"id_token_hint": hint, "post_logout_redirect_uri": BYE})

    assert (response.status_code, response["Location"]) == (302, BYE)
    assert not signed_in(browser)


def test_without_a_redirect_uri_the_page_says_signed_out(browser, user, organization, app):
    hint = id_token(user, app.client.client_id, organization=organization)

    response = browser.get(ENDSESSION, {"id_token_hint": hint})

    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert not signed_in(browser)


def test_the_endpoint_also_answers_under_the_organization_prefixes(
    browser, user, organization, app
):
    hint = id_token(user, app.client.client_id, organization=organization)
    tenant = organization.tenants.first()

    response = browser.get(
        f"/{organization.slug}/{tenant.name}{ENDSESSION}",
        {"id_token_hint": hint, "post_logout_redirect_uri": BYE},
    )

    assert (response.status_code, response["Location"]) == (302, BYE)


def test_without_a_session_a_valid_request_still_goes_back(client, user, organization, app):
    hint = id_token(user, app.client.client_id, organization=organization)

    response = client.get(
        ENDSESSION, {"id_token_hint": hint, "post_logout_redirect_uri": BYE, "state": "x"}
    )

    assert (response.status_code, response["Location"]) == (302, f"{BYE}?state=x")


def test_client_id_alone_names_the_client_of_the_redirect(client, app):
    response = client.get(
        ENDSESSION, {"client_id": app.client.client_id, "post_logout_redirect_uri": BYE}
    )

    assert (response.status_code, response["Location"]) == (302, BYE)


# --- asking first -------------------------------------------------------------------------


@pytest.mark.parametrize("hinted", [False, True], ids=["no hint", "another user's hint"])
def test_a_request_that_does_not_name_the_user_asks_before_signing_out(
    user, organization, app, hinted
):
    # given: a browser whose forms are CSRF-checked, as a real one's are
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    params = {"client_id": app.client.client_id, "post_logout_redirect_uri": BYE, "state": "z"}
    if hinted:
        other = type(user).objects.create_user("somebody-else")
        hint = id_token(other, app.client.client_id, organization=organization)
        params = {**params, "id_token_hint": hint}

    # when
    page = browser.get(ENDSESSION, params)

    # then: the user is asked, still signed in
    assert page.status_code == 200
    assert "Sign out?" in page.content.decode()
    assert signed_in(browser)

    # when: a confirmation without the page's CSRF token (a forged form elsewhere)
    forged = browser.post(ENDSESSION, {**params, "confirm": "yes"})

    # then
    assert forged.status_code == 403
    assert signed_in(browser)

    # when: the user confirms on the page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    confirmed = browser.post(ENDSESSION, {**params, "confirm": "yes", "csrfmiddlewaretoken": token})

    # then
    assert (confirmed.status_code, confirmed["Location"]) == (302, f"{BYE}?state=z")
    assert not signed_in(browser)


def test_a_post_from_the_application_comes_back_as_a_get(browser, user, organization, app):
    hint = id_token(user, app.client.client_id, organization=organization)

    response = Client(enforce_csrf_checks=True).post(
        ENDSESSION, {"id_token_hint": hint, "post_logout_redirect_uri": BYE, "other": "x"}
    )

    assert response.status_code == 303
    assert response["Location"].startswith(f"{ENDSESSION}?id_token_hint=")
    assert "other" not in response["Location"]
    followed = browser.get(response["Location"])
    assert (followed.status_code, followed["Location"]) == (302, BYE)


# --- refusals -----------------------------------------------------------------------------


def test_an_unregistered_post_logout_redirect_uri_is_a_page_not_a_redirect(
    browser, user, organization, app
):
    hint = id_token(user, app.client.client_id, organization=organization)

    response = browser.get(
        ENDSESSION,
        {"id_token_hint": hint, "post_logout_redirect_uri": "https://evil.example/", "state": "s"},
    )

    assert response.status_code == 400
    assert "Location" not in response
    assert "not registered for this application" in response.content.decode()
    assert signed_in(browser)
    event = refused("post_logout_redirect_uri_unregistered")
    assert (event.organization, event.target_id) == (organization, app.client.client_id)


def bad_hints(user, organization, app, issue_token, machine):
    ours = id_token(user, app.client.client_id, organization=organization)
    header, payload, signature = ours.split(".")
    return {
        "garbage": "not-a-jwt",
        "tampered": f"{header}.{payload[:-4]}AAAA.{signature}",
        "unsigned": f"{header}.{payload}.",
        "an access token": issue_token(*machine),
        "too long": "a" * 9000,
    }


@pytest.mark.parametrize("kind", ["garbage", "tampered", "unsigned", "an access token", "too long"])
def test_a_bad_id_token_hint_is_refused_on_a_page(
    browser, user, organization, app, issue_token, kind
):
    machine = client_with_secret(organization=organization, scopes=("OR.Robots",))
    hint = bad_hints(user, organization, app, issue_token, machine)[kind]

    response = browser.get(ENDSESSION, {"id_token_hint": hint, "post_logout_redirect_uri": BYE})

    assert response.status_code == 400
    assert "Location" not in response
    assert "not an id_token this server issued" in response.content.decode()
    assert signed_in(browser)
    assert refused("id_token_hint_invalid") is not None


def test_a_hint_signed_by_another_key_is_refused(browser, user, organization, app):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jose import jwt

    ours = tokens.current_signing_key()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    claims = jwt.get_unverified_claims(
        id_token(user, app.client.client_id, organization=organization)
    )
    forged = jwt.encode(claims, pem.decode(), algorithm="RS256", headers={"kid": ours.kid})

    response = browser.get(ENDSESSION, {"id_token_hint": forged})

    assert response.status_code == 400
    assert signed_in(browser)


def test_a_client_id_other_than_the_hints_audience_is_refused(browser, user, organization, app):
    other, _ = external_app(organization=organization, name="Other")
    hint = id_token(user, app.client.client_id, organization=organization)

    response = browser.get(ENDSESSION, {"id_token_hint": hint, "client_id": other.client.client_id})

    assert response.status_code == 400
    assert refused("client_mismatch") is not None
    assert signed_in(browser)


def test_a_redirect_uri_without_any_client_is_refused(browser):
    response = browser.get(ENDSESSION, {"post_logout_redirect_uri": BYE})

    assert response.status_code == 400
    assert "Location" not in response
    assert refused("client_unknown") is not None


# --- the site's own sign-out and discovery ------------------------------------------------


def test_the_sites_sign_out_button_ends_the_session_the_same_way(browser, organization):
    response = browser.post("/accounts/logout/")

    assert response.status_code == 302
    assert not signed_in(browser)
    event = AuditEvent.objects.get(action="user.sign_out")
    assert (event.organization, event.details["via"]) == (organization, "site")


def test_discovery_names_the_end_session_endpoint_and_back_channel_logout(client, settings):
    document = client.get("/identity_/.well-known/openid-configuration").json()

    assert document["end_session_endpoint"] == f"{settings.IDENTITY_ISSUER}/connect/endsession"
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
