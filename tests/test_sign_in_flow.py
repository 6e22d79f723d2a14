"""Users sign in (SPEC §8) over HTTP against a live server, with independent client
libraries: Authlib's OAuth 2 client (confidential with its secret, public with PKCE) gets
the tokens, PyJWT checks the id_token against our published JWKS, `requests` plays the
browser. Every error path of SPEC §8 answers its RFC error, issues nothing and is audited."""

import base64
import hashlib
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django.conf import settings
from django.test import Client
from django.utils import timezone

from identity_server.clients import client_changed
from identity_server.models import CLI_CLIENT_ID, AuthorizationCode, OAuthClient
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from tenants import services as tenant_services
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.usefixtures("transactional_db")

AUTHORIZE = "/identity_/connect/authorize"
TOKEN = "/identity_/connect/token"
USERINFO = "/identity_/connect/userinfo"
JWKS = "/identity_/.well-known/openid-configuration/jwks"
REDIRECT = "https://app.example.com/callback"
USER_SCOPES = ["PM.OAuthApp", "OR.Machines"]


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    # The live server speaks http; production cookies are Secure.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def user_app(organization, *, confidential=True, origins=""):
    """An external application that signs users in, registered as i14-apps's API will."""
    client, secret = client_with_secret(
        organization=organization, scopes=["OR.Machines.Read"], confidential=confidential
    )
    OAuthClient.objects.filter(pk=client.pk).update(
        user_scopes=USER_SCOPES, redirect_uris=REDIRECT, allowed_origins=origins
    )
    client_changed(client.client_id)
    return client, secret


def browser_of(live_server, user) -> requests.Session:
    """A browser with a site session of `user`."""
    django_client = Client()
    django_client.force_login(user)
    browser = requests.Session()
    browser.cookies.set(
        settings.SESSION_COOKIE_NAME, django_client.cookies[settings.SESSION_COOKIE_NAME].value
    )
    return browser


def oauth_session(client, secret=None, *, scope="openid offline_access PM.OAuthApp"):
    if secret is None:
        return OAuth2Session(
            client.client_id if hasattr(client, "client_id") else client,
            scope=scope,
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
    return OAuth2Session(client.client_id, secret, scope=scope, redirect_uri=REDIRECT)


def authorize(live_server, browser, session, **extra):
    """The authorization request as a browser makes it; the answer's Location, parsed."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    url, state = session.create_authorization_url(
        live_server.url + AUTHORIZE, code_verifier=verifier, nonce=nonce, **extra
    )
    response = browser.get(url, allow_redirects=False, timeout=10)
    return response, verifier, nonce, state


def answer(response) -> dict:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def verified_id_token(live_server, token: dict, client_id: str) -> dict:
    signing_key = jwt.PyJWKClient(live_server.url + JWKS).get_signing_key_from_jwt(
        token["id_token"]
    )
    return jwt.decode(
        token["id_token"],
        signing_key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=settings.IDENTITY_ISSUER,
    )


def audited(reason: str, action: str = "token.request") -> bool:
    return AuditEvent.objects.filter(
        action=action, outcome=AuditEvent.Outcome.FAILURE, reason_code=reason
    ).exists()


def api_status(live_server, organization, access_token: str) -> int:
    return requests.get(
        f"{live_server.url}/identity_/api/ExternalClient/{organization.global_id}",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ).status_code


# --- the whole flow -----------------------------------------------------------------------


def test_a_confidential_app_signs_a_user_in_through_the_sign_in_page(live_server, admin_membership):
    # given an app with a secret, and a browser with no session
    organization, user = admin_membership.organization, admin_membership.user
    user.email = "ada@example.com"
    user.save()
    app, secret = user_app(organization)
    session = oauth_session(app, secret)
    browser = requests.Session()

    # when the app sends the browser to the authorization endpoint
    response, verifier, nonce, state = authorize(
        live_server, browser, session, login_hint=user.username
    )

    # then it is sent to the site's sign-in page, the hint filled in
    assert response.status_code == 302
    login = browser.get(live_server.url + response.headers["Location"], timeout=10)
    assert f'value="{user.username}"' in login.text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    next_url = re.search(r'name="next" value="([^"]+)"', login.text).group(1).replace("&amp;", "&")
    # and once signed in, back to the authorization request, which answers with a code
    signed_in = browser.post(
        live_server.url + "/accounts/login/",
        data={
            "csrfmiddlewaretoken": csrf,
            "username": user.username,
            "password": "correct horse battery staple",
            "next": next_url,
        },
        headers={"Referer": login.url},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text
    back = browser.get(live_server.url + signed_in.headers["Location"], allow_redirects=False)
    params = answer(back)
    assert back.headers["Location"].startswith(REDIRECT + "?")
    assert params["state"] == state
    assert params["iss"] == settings.IDENTITY_ISSUER  # RFC 9207

    # when the app exchanges the code with its secret
    token = session.fetch_token(
        live_server.url + TOKEN,
        authorization_response=back.headers["Location"],
        code_verifier=verifier,
    )

    # then the user's token, an id_token and a refresh token
    assert set(token["scope"].split()) == {"openid", "offline_access", "PM.OAuthApp"}
    assert token["refresh_token"].startswith("idrt_")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["sub_type"], claims["prt_id"]) == (
        str(user.pk),
        "user",
        str(organization.global_id),
    )
    assert claims["preferred_username"] == user.username
    assert claims["email"] == "ada@example.com"
    assert claims["amr"] == ["pwd"] and claims["auth_time"] <= claims["iat"]
    id_token = verified_id_token(live_server, token, app.client_id)
    assert id_token["nonce"] == nonce
    assert id_token["sub"] == str(user.pk)
    assert id_token["sid"] and id_token["auth_time"] == claims["auth_time"]
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    # and the token works at our API and at userinfo
    assert api_status(live_server, organization, token["access_token"]) == 200
    userinfo = requests.get(
        live_server.url + USERINFO,
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo["sub"] == str(user.pk)
    assert userinfo["preferred_username"] == user.username
    assert userinfo["email"] == "ada@example.com"
    assert userinfo["prt_id"] == str(organization.global_id)
    assert userinfo["email_verified"] is False


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_grant(
    live_server, admin_membership
):
    # given a signed-in user's tokens for a confidential app
    organization = admin_membership.organization
    app, secret = user_app(organization)
    session = oauth_session(app, secret)
    browser = browser_of(live_server, admin_membership.user)
    response, verifier, _nonce, _state = authorize(live_server, browser, session)
    first = session.fetch_token(
        live_server.url + TOKEN,
        authorization_response=response.headers["Location"],
        code_verifier=verifier,
    )

    # when the app refreshes
    second = session.refresh_token(live_server.url + TOKEN, refresh_token=first["refresh_token"])

    # then a new access token and a new refresh token, same scopes
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert api_status(live_server, organization, second["access_token"]) == 200

    # when the rotated refresh token is presented again
    with pytest.raises(OAuthError) as reused:
        session.refresh_token(live_server.url + TOKEN, refresh_token=first["refresh_token"])

    # then invalid_grant, audited, and the whole grant is revoked: the current refresh token
    # and the access tokens issued from the grant stop working
    assert reused.value.error == "invalid_grant"
    assert audited("refresh_reused")
    assert AuditEvent.objects.filter(
        action="sign_in_grant.revoke", reason_code="refresh_reused"
    ).exists()
    with pytest.raises(OAuthError) as revoked:
        session.refresh_token(live_server.url + TOKEN, refresh_token=second["refresh_token"])
    assert revoked.value.error == "invalid_grant"
    assert api_status(live_server, organization, second["access_token"]) == 401


def test_a_public_app_uses_pkce_without_a_secret_and_a_member_gets_read_scopes_only(
    live_server, admin_membership
):
    # given a public app and a member (not an admin) of its organization
    organization = admin_membership.organization
    app, _ = user_app(organization, confidential=False)
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER)
    session = oauth_session(app, scope="openid offline_access PM.OAuthApp OR.Machines.Write")
    browser = browser_of(live_server, member.user)

    # when the member signs in and the app exchanges the code with its verifier
    response, verifier, _nonce, _state = authorize(live_server, browser, session)
    token = session.fetch_token(
        live_server.url + TOKEN,
        authorization_response=response.headers["Location"],
        code_verifier=verifier,
    )

    # then read scopes only: reading works, writing is refused
    assert set(token["scope"].split()) == {"openid", "offline_access", "PM.OAuthApp.Read"}
    assert api_status(live_server, organization, token["access_token"]) == 200
    write = requests.post(
        f"{live_server.url}/identity_/api/ExternalClient",
        json={"partitionGlobalId": str(organization.global_id), "name": "x"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert write.status_code == 403

    # when the member is removed from the organization
    tenant_services.membership_remove(organization=organization, user=member.user, actor=TEST_ACTOR)

    # then the token stops working on the next request, and the refresh token too
    assert api_status(live_server, organization, token["access_token"]) == 401
    with pytest.raises(OAuthError) as refused:
        session.refresh_token(live_server.url + TOKEN, refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert audited("not_a_member")


def test_an_admin_gets_every_scope_the_app_holds_and_no_more(live_server, admin_membership):
    app, secret = user_app(admin_membership.organization)
    session = oauth_session(app, secret, scope="PM.OAuthApp OR.Machines OR.Robots Unknown.Scope")
    browser = browser_of(live_server, admin_membership.user)
    response, verifier, _nonce, _state = authorize(live_server, browser, session)
    token = session.fetch_token(
        live_server.url + TOKEN,
        authorization_response=response.headers["Location"],
        code_verifier=verifier,
    )
    assert token["scope"] == "PM.OAuthApp OR.Machines"
    assert "id_token" not in token and "refresh_token" not in token


# --- the authorization endpoint's refusals -------------------------------------------------


def test_prompt_none_without_a_session_redirects_login_required(live_server, admin_membership):
    app, secret = user_app(admin_membership.organization)
    response, *_, state = authorize(
        live_server, requests.Session(), oauth_session(app, secret), prompt="none"
    )
    params = answer(response)
    assert params["error"] == "login_required"
    assert params["state"] == state
    assert params["iss"] == settings.IDENTITY_ISSUER
    assert "code" not in params
    assert audited("login_required", action="sign_in.authorize")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"client_id": "no-such-client"}, "unknown_client", id="unknown client"),
        pytest.param(
            {"redirect_uri": "https://evil.example.com/callback"},
            "redirect_mismatch",
            id="unregistered redirect URI",
        ),
        pytest.param(
            {"redirect_uri": REDIRECT + "/"}, "redirect_mismatch", id="redirect URI not exact"
        ),
        pytest.param({"client_id": CLI_CLIENT_ID}, "unknown_client", id="CLI disabled"),
    ],
)
def test_a_wrong_client_or_redirect_uri_is_an_error_page_never_a_redirect(
    live_server, admin_membership, change, reason
):
    app, _secret = user_app(admin_membership.organization)
    browser = browser_of(live_server, admin_membership.user)
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        **change,
    }
    response = browser.get(
        live_server.url + AUTHORIZE, params=query, allow_redirects=False, timeout=10
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "cannot be served" in response.text
    assert audited(reason, action="sign_in.authorize")
    if reason == "redirect_mismatch":  # the app's admins see it in their audit log
        event = AuditEvent.objects.get(reason_code=reason)
        assert event.organization == admin_membership.organization
    assert not AuthorizationCode.objects.exists()


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        pytest.param(
            {"code_challenge": None, "code_challenge_method": None},
            "invalid_request",
            "pkce_missing",
            id="public client without PKCE",
        ),
        pytest.param(
            {"code_challenge_method": "plain"}, "invalid_request", "pkce_plain", id="plain PKCE"
        ),
        pytest.param(
            {"code_challenge_method": None},
            "invalid_request",
            "pkce_plain",
            id="PKCE without a method means plain",
        ),
        pytest.param(
            {"response_type": "token"},
            "unsupported_response_type",
            "unsupported_response_type",
            id="implicit",
        ),
        pytest.param(
            {"prompt": "consent"}, "invalid_request", "prompt_unsupported", id="unsupported prompt"
        ),
        pytest.param(
            {"acr_values": "tenantName:elsewhere"},
            "access_denied",
            "not_a_member",
            id="another organization",
        ),
    ],
)
def test_other_refusals_are_redirected_with_state_and_iss(
    live_server, admin_membership, change, error, reason
):
    app, _ = user_app(admin_membership.organization, confidential=False)
    browser = browser_of(live_server, admin_membership.user)
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "xyz",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    for name, value in change.items():
        if value is None:
            query.pop(name)
        else:
            query[name] = value
    params = answer(
        browser.get(live_server.url + AUTHORIZE, params=query, allow_redirects=False, timeout=10)
    )
    assert params == {
        "error": error,
        "error_description": params["error_description"],
        "state": "xyz",
        "iss": settings.IDENTITY_ISSUER,
    }
    assert audited(reason, action="sign_in.authorize")
    assert not AuthorizationCode.objects.exists()


# --- the token endpoint's refusals ----------------------------------------------------------


@pytest.fixture
def issued_code(live_server, admin_membership):
    """A public app's code just issued to a signed-in admin: (app, location, verifier)."""
    app, _ = user_app(admin_membership.organization, confidential=False)
    session = oauth_session(app)
    browser = browser_of(live_server, admin_membership.user)
    response, verifier, _nonce, _state = authorize(live_server, browser, session)
    return app, answer(response)["code"], verifier


def exchange(live_server, app, issued_code, verifier, **changes):
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "code": issued_code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **changes,
    }
    return requests.post(
        live_server.url + TOKEN, data={k: v for k, v in form.items() if v is not None}, timeout=10
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"code_verifier": secrets.token_urlsafe(48)}, "pkce_mismatch", id="wrong verifier"
        ),
        pytest.param({"code_verifier": None}, "pkce_missing", id="no verifier"),
        pytest.param(
            {"redirect_uri": "https://app.example.com/other"},
            "redirect_mismatch",
            id="wrong redirect URI",
        ),
        pytest.param({"code": "forged"}, "code_invalid", id="unknown code"),
    ],
)
def test_a_code_exchange_that_does_not_match_is_invalid_grant(
    live_server, issued_code, changes, reason
):
    app, code, verifier = issued_code
    response = exchange(live_server, app, code, verifier, **changes)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"]
    assert "access_token" not in body
    assert response.headers["Cache-Control"] == "no-store"
    assert audited(reason)


def test_an_expired_code_is_invalid_grant(live_server, issued_code):
    app, code, verifier = issued_code
    AuthorizationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = exchange(live_server, app, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert audited("code_expired")


def test_a_reused_code_is_refused_and_revokes_what_its_first_use_issued(
    live_server, issued_code, admin_membership
):
    # given a code exchanged once
    app, code, verifier = issued_code
    first = exchange(live_server, app, code, verifier)
    assert first.status_code == 200, first.text
    tokens = first.json()

    # when it is presented again
    again = exchange(live_server, app, code, verifier)

    # then invalid_grant, audited, and the first exchange's tokens are revoked
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert "access_token" not in again.json()
    assert audited("code_reused")
    organization = admin_membership.organization
    assert api_status(live_server, organization, tokens["access_token"]) == 401
    refreshed = requests.post(
        live_server.url + TOKEN,
        data={
            "grant_type": "refresh_token",
            "client_id": app.client_id,
            "refresh_token": tokens["refresh_token"],
        },
        timeout=10,
    )
    assert refreshed.json()["error"] == "invalid_grant"
    assert audited("refresh_revoked")


# --- the official CLI -----------------------------------------------------------------------


@pytest.fixture
def cli_enabled(settings):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True


CLI_SCOPES = (
    "offline_access openid profile OR.Machines OR.Robots OR.Execution DataService TM.Projects"
)


def cli_authorize(live_server, browser, port, **extra):
    redirect = f"http://localhost:{port}/oidc/login"
    session = OAuth2Session(
        CLI_CLIENT_ID,
        scope=CLI_SCOPES,
        redirect_uri=redirect,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    verifier = secrets.token_urlsafe(48)
    url, _state = session.create_authorization_url(
        live_server.url + AUTHORIZE, code_verifier=verifier, **extra
    )
    return browser.get(url, allow_redirects=False, timeout=10), session, verifier, redirect


def test_the_cli_signs_in_on_any_loopback_port_in_the_organization_the_user_chooses(
    live_server, admin_membership, cli_enabled
):
    # given an admin who also belongs to a second organization
    second = OrganizationFactory(name="Second")
    Membership.objects.create(
        user=admin_membership.user, organization=second, role=Membership.Role.MEMBER
    )
    browser = browser_of(live_server, admin_membership.user)

    # when the CLI asks without naming one
    page, session, verifier, redirect = cli_authorize(live_server, browser, 49152)

    # then the user chooses on a page, each choice a link back with acr_values
    assert page.status_code == 200
    assert "Choose an organization" in page.text
    links = re.findall(r'href="(/identity_/connect/authorize\?[^"]+)"', page.text)
    chosen = next(link for link in links if f"tenantName%3A{second.slug}" in link)
    response = browser.get(live_server.url + chosen.replace("&amp;", "&"), allow_redirects=False)
    location = response.headers["Location"]
    assert location.startswith(redirect + "?")

    # and the code is exchanged from the CLI's loopback page (CORS) without a secret
    origin = "http://localhost:49152"
    preflight = requests.options(
        live_server.url + TOKEN,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    params = answer(response)
    exchanged = requests.post(
        live_server.url + TOKEN,
        data={
            "grant_type": "authorization_code",
            "client_id": CLI_CLIENT_ID,
            "code": params["code"],
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
        headers={"Origin": origin},
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.headers["Access-Control-Allow-Origin"] == origin
    token = exchanged.json()

    # then unknown scope names are dropped, a member's role cuts the rest to read, and the
    # chosen organization is the token's
    assert set(token["scope"].split()) == {
        "offline_access",
        "openid",
        "profile",
        "OR.Machines.Read",
        "OR.Robots.Read",
        "OR.Execution.Read",
    }
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["prt_id"] == str(second.global_id)
    assert claims["client_id"] == CLI_CLIENT_ID
    # and it refreshes without a secret
    refreshed = session.refresh_token(live_server.url + TOKEN, refresh_token=token["refresh_token"])
    assert refreshed["access_token"]


def test_the_cli_organization_comes_from_acr_values_and_its_redirect_must_be_loopback(
    live_server, admin_membership, cli_enabled
):
    organization = admin_membership.organization
    browser = browser_of(live_server, admin_membership.user)
    response, *_ = cli_authorize(
        live_server, browser, 8104, acr_values=f"tenant:{organization.global_id}"
    )
    assert "code" in answer(response)

    elsewhere = browser.get(
        live_server.url + AUTHORIZE,
        params={
            "response_type": "code",
            "client_id": CLI_CLIENT_ID,
            "redirect_uri": "http://evil.example.com:8104/oidc/login",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert elsewhere.status_code == 400
    assert audited("redirect_mismatch", action="sign_in.authorize")


def test_cors_is_answered_only_for_a_clients_listed_origins(live_server, admin_membership):
    # given an app listing one origin; the CLI is disabled
    app, _ = user_app(
        admin_membership.organization, confidential=False, origins="https://spa.example.com"
    )
    for origin, allowed in [
        ("https://spa.example.com", True),
        ("https://evil.example.com", False),
        ("http://localhost:8080", False),
    ]:
        preflight = requests.options(
            live_server.url + TOKEN,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
        assert preflight.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
        refused = requests.post(
            live_server.url + TOKEN,
            data={"grant_type": "authorization_code", "client_id": app.client_id, "code": "x"},
            headers={"Origin": origin},
            timeout=10,
        )
        assert refused.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
        assert refused.headers.get("Access-Control-Allow-Origin") != "*"


def test_a_code_sent_twice_at_once_gets_one_token_and_revokes_it(live_server, issued_code):
    # given a code, exchanged by two requests racing each other
    app, code, verifier = issued_code
    barrier = threading.Barrier(2)

    def race():
        barrier.wait()
        return exchange(live_server, app, code, verifier)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: race(), range(2)))

    # then one token at most, the other invalid_grant, and whatever was issued is revoked
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400]
    (issued,) = [r.json() for r in responses if r.status_code == 200]
    (refused,) = [r.json() for r in responses if r.status_code == 400]
    assert refused["error"] == "invalid_grant"
    assert audited("code_reused")
    organization = app.organization
    assert api_status(live_server, organization, issued["access_token"]) == 401
