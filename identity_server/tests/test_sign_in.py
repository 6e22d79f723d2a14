"""User sign-in's finer rules (SPEC §8), through Django's test client: prompts, the
organization from the path, repeated parameters, userinfo's refusals, refresh lifetimes,
roles that change, accounts that are disabled. The whole flow over HTTP with independent
clients is tests/test_sign_in_flow.py."""

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from identity_server.clients import client_changed
from identity_server.models import CLI_CLIENT_ID, OAuthClient, RefreshToken, SignInGrant
from identity_server.tests.factories import client_with_secret
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory, OrganizationFactory

AUTHORIZE = "/identity_/connect/authorize"
TOKEN = "/identity_/connect/token"
USERINFO = "/identity_/connect/userinfo"
REDIRECT = "https://app.example.com/callback"
VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")


def public_app(organization, user_scopes=("PM.OAuthApp", "OR.Machines")):
    client, _ = client_with_secret(organization=organization, confidential=False)
    OAuthClient.objects.filter(pk=client.pk).update(
        user_scopes=list(user_scopes), redirect_uris=REDIRECT
    )
    client_changed(client.client_id)
    return client


def request_params(client_id, **extra):
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access PM.OAuthApp",
        "state": "st",
        "code_challenge": CHALLENGE.decode(),
        "code_challenge_method": "S256",
        **extra,
    }


def location_params(response) -> dict:
    assert response.status_code == 302, response.content
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def tokens_for(browser, client_id, redirect=REDIRECT, path=AUTHORIZE, **extra) -> dict:
    code = location_params(
        browser.get(path, request_params(client_id, redirect_uri=redirect, **extra))
    )["code"]
    response = Client().post(
        TOKEN,
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": VERIFIER,
        },
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client_id, refresh_token):
    return Client().post(
        TOKEN,
        {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
    )


@pytest.mark.django_db
def test_a_post_authorization_request_works_like_a_get_and_is_audited(admin_membership):
    app = public_app(admin_membership.organization)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_membership.user)

    params = location_params(browser.post(AUTHORIZE, request_params(app.client_id)))

    assert params["code"] and params["state"] == "st"
    event = AuditEvent.objects.get(action="sign_in.authorize")
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.organization == admin_membership.organization
    assert event.target_id == app.client_id
    assert params["code"] not in str(event.details)


@pytest.mark.django_db
def test_prompt_login_signs_the_user_out_and_comes_back_without_the_prompt(admin_membership):
    app = public_app(admin_membership.organization)
    browser = signed_in(admin_membership.user)

    response = browser.get(AUTHORIZE, request_params(app.client_id, prompt="login"))

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/accounts/login/"
    next_url = parse_qs(target.query)["next"][0]
    assert "prompt" not in parse_qs(urlsplit(next_url).query)
    assert "_auth_user_id" not in browser.session


@pytest.mark.django_db
def test_login_hint_is_passed_to_the_sign_in_page(admin_membership, client):
    app = public_app(admin_membership.organization)
    response = client.get(AUTHORIZE, request_params(app.client_id, login_hint="ada"), follow=True)
    assert b'value="ada"' in response.content


@pytest.mark.django_db
def test_prompt_none_for_a_user_of_several_organizations_asks_to_name_one(
    admin_membership, settings
):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True
    MembershipFactory(user=admin_membership.user)
    browser = signed_in(admin_membership.user)
    redirect = "http://localhost:5000/oidc/login"

    response = browser.get(
        AUTHORIZE, request_params(CLI_CLIENT_ID, redirect_uri=redirect, prompt="none")
    )

    assert location_params(response)["error"] == "account_selection_required"


@pytest.mark.django_db
def test_the_path_names_the_organization_of_a_cli_sign_in(admin_membership, settings):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True
    other = MembershipFactory(user=admin_membership.user)
    browser = signed_in(admin_membership.user)
    redirect = "http://127.0.0.1:5000/oidc/login"

    token = tokens_for(
        browser, CLI_CLIENT_ID, redirect=redirect, path=f"/{other.organization.slug}{AUTHORIZE}"
    )

    grant = SignInGrant.objects.get()
    assert grant.organization == other.organization
    assert grant.client_id == CLI_CLIENT_ID and grant.application is None
    assert token["refresh_token"]


@pytest.mark.django_db
def test_a_repeated_client_id_is_an_error_page_and_a_repeated_scope_a_redirect(
    admin_membership,
):
    app = public_app(admin_membership.organization)
    browser = signed_in(admin_membership.user)
    query = "&".join(f"{k}={v}" for k, v in request_params(app.client_id).items())

    page = browser.get(f"{AUTHORIZE}?{query}&client_id={app.client_id}")
    redirected = browser.get(f"{AUTHORIZE}?{query}&scope=openid")

    assert page.status_code == 400 and "Location" not in page
    assert location_params(redirected)["error"] == "invalid_request"


@pytest.mark.django_db
def test_userinfo_wants_a_users_token_with_openid(admin_membership):
    app = public_app(admin_membership.organization)
    browser = signed_in(admin_membership.user)
    without_openid = tokens_for(browser, app.client_id, scope="PM.OAuthApp")["access_token"]
    machine, secret = client_with_secret(organization=admin_membership.organization)
    app_token = (
        Client()
        .post(
            TOKEN,
            {
                "grant_type": "client_credentials",
                "client_id": machine.client_id,
                "client_secret": secret,
            },
        )
        .json()["access_token"]
    )

    insufficient = Client().get(USERINFO, headers={"Authorization": f"Bearer {without_openid}"})
    not_a_user = Client().get(USERINFO, headers={"Authorization": f"Bearer {app_token}"})
    anonymous = Client().get(USERINFO)

    assert insufficient.status_code == 403
    assert not_a_user.status_code == 401
    assert anonymous.status_code == 401


@pytest.mark.django_db
def test_a_refresh_token_past_its_sliding_or_absolute_lifetime_is_refused(admin_membership):
    app = public_app(admin_membership.organization)
    browser = signed_in(admin_membership.user)
    first = tokens_for(browser, app.client_id)["refresh_token"]
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert refresh(app.client_id, first).json()["error"] == "invalid_grant"
    assert AuditEvent.objects.filter(reason_code="refresh_expired").exists()

    second = tokens_for(browser, app.client_id)["refresh_token"]
    SignInGrant.objects.filter(revoked_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert refresh(app.client_id, second).json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_refresh_tokens_slide_but_never_past_the_absolute_cap(admin_membership, settings):
    settings.IDENTITY_REFRESH_TOKEN_DAYS = 30
    settings.IDENTITY_REFRESH_TOKEN_MAX_DAYS = 90
    app = public_app(admin_membership.organization)
    first = tokens_for(signed_in(admin_membership.user), app.client_id)["refresh_token"]
    grant = SignInGrant.objects.get()
    token = RefreshToken.objects.get()
    assert abs((token.expires_at - timezone.now()) - timedelta(days=30)) < timedelta(minutes=1)
    assert abs((grant.expires_at - timezone.now()) - timedelta(days=90)) < timedelta(minutes=1)

    # near the cap, the next token expires with the grant
    SignInGrant.objects.update(expires_at=timezone.now() + timedelta(days=2))
    assert refresh(app.client_id, first).status_code == 200
    newest = RefreshToken.objects.filter(rotated_at__isnull=True).get()
    assert newest.expires_at <= SignInGrant.objects.get().expires_at


@pytest.mark.django_db
def test_a_demoted_admin_refreshes_to_read_scopes(admin_membership):
    organization = admin_membership.organization
    app = public_app(organization)
    other_admin = MembershipFactory(organization=organization, role=Membership.Role.ADMIN)
    tokens = tokens_for(signed_in(other_admin.user), app.client_id)
    assert "PM.OAuthApp" in tokens["scope"].split()
    Membership.objects.filter(pk=other_admin.pk).update(role=Membership.Role.MEMBER)

    refreshed = refresh(app.client_id, tokens["refresh_token"]).json()

    assert "PM.OAuthApp.Read" in refreshed["scope"].split()
    assert "PM.OAuthApp" not in refreshed["scope"].split()


@pytest.mark.django_db
def test_a_disabled_accounts_token_is_refused(admin_membership):
    organization = admin_membership.organization
    app = public_app(organization)
    member = MembershipFactory(organization=organization)
    token = tokens_for(signed_in(member.user), app.client_id)["access_token"]
    api = f"/identity_/api/ExternalClient/{organization.global_id}"
    assert Client().get(api, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    member.user.is_active = False
    member.user.save()

    assert Client().get(api, headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.django_db
def test_a_machine_cannot_use_the_authorization_code_grant(admin_membership):
    organization = admin_membership.organization
    client, secret = client_with_secret(
        organization=organization,
        kind=OAuthClient.Kind.MACHINE,
        tenant=organization.tenants.get(),
        scopes=["OrchestratorApiUserAccess"],
    )
    response = Client().post(
        TOKEN,
        {
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "client_secret": secret,
            "code": secrets.token_urlsafe(32),
            "redirect_uri": REDIRECT,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert AuditEvent.objects.filter(reason_code="grant_not_allowed").exists()


@pytest.mark.django_db
def test_client_credentials_keep_strict_scopes_and_the_cli_gets_none(admin_membership, settings):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True
    client, secret = client_with_secret(organization=admin_membership.organization)
    unknown = Client().post(
        TOKEN,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": secret,
            "scope": "OR.Machines TM.Projects",
        },
    )
    cli = Client().post(TOKEN, {"grant_type": "client_credentials", "client_id": CLI_CLIENT_ID})

    assert unknown.json()["error"] == "invalid_scope"
    assert cli.status_code == 401
    assert cli.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_a_member_of_no_organization_the_app_serves_is_access_denied(admin_membership):
    app = public_app(OrganizationFactory())
    response = signed_in(admin_membership.user).get(AUTHORIZE, request_params(app.client_id))
    assert location_params(response)["error"] == "access_denied"


@pytest.mark.django_db
def test_disabling_the_cli_ends_its_refresh_tokens(admin_membership, settings):
    settings.IDENTITY_UIPATH_CLI_CLIENT = True
    token = tokens_for(
        signed_in(admin_membership.user),
        CLI_CLIENT_ID,
        redirect="http://localhost:8123/oidc/login",
    )
    settings.IDENTITY_UIPATH_CLI_CLIENT = False

    response = refresh(CLI_CLIENT_ID, token["refresh_token"])

    # the CLI's client no longer exists for the token endpoint either
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_an_app_that_loses_its_user_scopes_can_no_longer_refresh(admin_membership):
    app = public_app(admin_membership.organization)
    token = tokens_for(signed_in(admin_membership.user), app.client_id)
    OAuthClient.objects.filter(pk=app.pk).update(user_scopes=[])
    client_changed(app.client_id)

    response = refresh(app.client_id, token["refresh_token"])

    assert response.json()["error"] == "invalid_grant"
    assert AuditEvent.objects.filter(reason_code="client_cannot_sign_in").exists()
    assert SignInGrant.objects.get().revoked_reason == "client_cannot_sign_in"


@pytest.mark.django_db
def test_a_public_client_revokes_its_refresh_token_and_so_the_whole_sign_in(admin_membership):
    # given a public app's tokens, and another app
    organization = admin_membership.organization
    app = public_app(organization)
    tokens = tokens_for(signed_in(admin_membership.user), app.client_id)
    other = public_app(organization)
    revoke = "/identity_/connect/revocation"

    # when another client tries to revoke it, then it keeps working (the same 200)
    foreign = Client().post(
        revoke, {"token": tokens["refresh_token"], "client_id": other.client_id}
    )
    assert foreign.status_code == 200
    assert not SignInGrant.objects.filter(revoked_at__isnull=False).exists()

    # when its own client revokes it with its client_id (RFC 7009 §2.1)
    own = Client().post(
        revoke,
        {
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": app.client_id,
        },
    )

    # then the refresh token and the access tokens of the sign-in stop working
    assert own.status_code == 200
    assert refresh(app.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    api = f"/identity_/api/ExternalClient/{organization.global_id}"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert Client().get(api, headers=headers).status_code == 401
    assert SignInGrant.objects.get().revoked_reason == "revoked_by_client"


@pytest.mark.django_db
def test_a_public_client_cannot_revoke_access_tokens_without_authenticating(admin_membership):
    app = public_app(admin_membership.organization)
    tokens = tokens_for(signed_in(admin_membership.user), app.client_id)
    response = Client().post(
        "/identity_/connect/revocation",
        {"token": tokens["access_token"], "client_id": app.client_id},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
