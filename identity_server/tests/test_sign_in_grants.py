"""Users' sign-in grants (refresh-token families): the selectors and services the grants
page and sign-out use (SPEC §8)."""

import uuid
from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from identity_server import denylist, selectors, services, tokens
from identity_server.models import CLI_CLIENT_ID, AuthorizationCode, RefreshToken, SignInGrant
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from tenants.models import AuditEvent


def _grant(membership, client=None, *, sid="sid-1", offline=True):
    refresh_token = tokens.refresh_token_generator(None) if offline else None
    grant = services.sign_in_grant_create(
        client_id=client.client_id if client else CLI_CLIENT_ID,
        application=client,
        user=membership.user,
        organization=membership.organization,
        sid=sid,
        scopes=["openid", "offline_access"],
        auth_time=timezone.now(),
        amr=["pwd"],
        refresh_token=refresh_token,
    )
    return grant, refresh_token


@pytest.mark.django_db
def test_a_users_active_grants_are_listed_per_client_and_revoked(admin_membership):
    # given
    app, _ = client_with_secret(organization=admin_membership.organization)
    grant, refresh_token = _grant(admin_membership, app)
    cli_grant, _ = _grant(admin_membership)
    # when
    listed = selectors.sign_in_grant_list(
        organization=admin_membership.organization, user=admin_membership.user
    )
    # then
    assert {g.pk for g in listed} == {grant.pk, cli_grant.pk}
    assert refresh_token.startswith(tokens.REFRESH_TOKEN_PREFIX)
    assert not RefreshToken.objects.filter(digest__contains=refresh_token).exists()
    assert cli_grant.client_name == "UiPath CLI"
    assert grant.client_name == app.name
    # when
    ended = services.sign_in_grants_revoke(
        organization=admin_membership.organization,
        user=admin_membership.user,
        client_id=app.client_id,
        actor=TEST_ACTOR,
    )
    # then
    assert ended == 1
    assert [
        g.pk for g in selectors.sign_in_grant_list(organization=admin_membership.organization)
    ] == [cli_grant.pk]
    event = AuditEvent.objects.get(action="sign_in_grant.revoke")
    assert event.reason_code == "revoked"
    assert event.target_id == str(grant.global_id)
    # the access tokens issued from it are refused
    assert denylist.is_revoked(
        {"jti": "x", "client_id": app.client_id, "grant_id": str(grant.global_id)}
    )
    assert not denylist.is_revoked(
        {"jti": "x", "client_id": CLI_CLIENT_ID, "grant_id": str(cli_grant.global_id)}
    )
    # and a second revocation changes nothing
    grant.refresh_from_db()
    assert services.sign_in_grant_revoke(grant=grant, actor=TEST_ACTOR) is False


@pytest.mark.django_db
def test_another_organizations_grant_is_the_same_404_as_a_missing_one(
    admin_membership, other_admin_membership
):
    grant, _ = _grant(other_admin_membership)
    for grant_id in (grant.global_id, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(Http404):
            selectors.sign_in_grant_get(
                organization=admin_membership.organization, grant_id=grant_id
            )
    assert (
        selectors.sign_in_grant_get(
            organization=other_admin_membership.organization, grant_id=str(grant.global_id)
        ).pk
        == grant.pk
    )


@pytest.mark.django_db
def test_the_grants_of_a_site_session_are_found_by_its_sid(admin_membership):
    grant, _ = _grant(admin_membership, sid="abc")
    _grant(admin_membership, sid="other")
    assert [g.pk for g in selectors.sign_in_grants_of_session(sid="abc")] == [grant.pk]
    assert not selectors.sign_in_grants_of_session(sid="").exists()


@pytest.mark.django_db
def test_a_grant_without_offline_access_has_no_refresh_token_and_ends_with_its_token(
    admin_membership,
):
    grant, refresh_token = _grant(admin_membership, offline=False)
    assert refresh_token is None
    assert not grant.refresh_tokens.exists()
    assert (grant.expires_at - timezone.now()).total_seconds() < 3700


@pytest.mark.django_db
def test_a_code_reused_while_its_first_exchange_runs_still_revokes_that_grant(admin_membership):
    # given a code whose first exchange has used it but not yet written its grant
    now = timezone.now()
    code_fields = {
        "client_id": CLI_CLIENT_ID,
        "application": None,
        "user": admin_membership.user,
        "organization": admin_membership.organization,
        "sid": "s",
        "auth_time": now,
        "amr": ["pwd"],
    }
    services.authorization_code_create(
        redirect_uri="http://localhost:1/oidc/login",
        scopes=["openid"],
        code_challenge="",
        nonce="",
        **code_fields,
    )
    code = AuthorizationCode.objects.get()
    assert services.authorization_code_claim(code=code)
    assert not services.authorization_code_claim(code=code)

    # when the second use is refused meanwhile
    services.code_reuse_revoke(code=code, actor=TEST_ACTOR)

    # then the grant the first exchange writes is born revoked, its tokens deny-listed
    grant = services.sign_in_grant_create(
        global_id=services.code_grant_id(code),
        scopes=["openid"],
        refresh_token=None,
        code=code,
        **code_fields,
    )
    grant.refresh_from_db()
    assert grant.revoked_reason == "code_reused"
    assert denylist.is_revoked(
        {"jti": "x", "client_id": CLI_CLIENT_ID, "grant_id": str(grant.global_id)}
    )


@pytest.mark.django_db
def test_grants_and_refresh_tokens_expired_over_a_day_ago_are_pruned_by_later_sign_ins(
    admin_membership,
):
    # given one grant long expired, one just expired, one live with a stale refresh token
    old, _ = _grant(admin_membership, sid="old")
    recent, _ = _grant(admin_membership, sid="recent")
    live, _ = _grant(admin_membership, sid="live")
    now = timezone.now()
    SignInGrant.objects.filter(pk=old.pk).update(expires_at=now - timedelta(days=2))
    SignInGrant.objects.filter(pk=recent.pk).update(expires_at=now - timedelta(hours=1))
    RefreshToken.objects.filter(grant=live).update(expires_at=now - timedelta(days=2))

    # when someone signs in again
    newest, _ = _grant(admin_membership, sid="new")

    # then only what expired over a day ago is gone
    assert set(SignInGrant.objects.values_list("sid", flat=True)) == {"recent", "live", "new"}
    assert not RefreshToken.objects.filter(grant=live).exists()
    assert RefreshToken.objects.filter(grant=newest).exists()
