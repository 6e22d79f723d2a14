"""The admin site's page of a member's sign-ins (SPEC §8): active grants per application,
revoked one at a time or all of an application, and the refresh token stops working."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from federation.tests.factories import external_app
from identity_server import services, tokens
from identity_server.models import CLI_CLIENT_ID
from identity_server.tests.factories import TEST_ACTOR
from identity_server.tests.http import TOKEN_URL
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory


@pytest.fixture
def member(organization):
    return MembershipFactory(organization=organization, role=Membership.Role.MEMBER)


@pytest.fixture
def portal(organization):
    app, secret = external_app(
        organization=organization,
        name="Portal",
        user_scopes=["openid", "OR.Robots.Read"],
        redirect_uris=["https://portal.example/cb"],
    )
    return app.client, secret


def grant_of(membership, client=None, *, sid="sid-1"):
    refresh_token = tokens.refresh_token_generator(None)
    grant = services.sign_in_grant_create(
        client_id=client.client_id if client else CLI_CLIENT_ID,
        application=client,
        user=membership.user,
        organization=membership.organization,
        sid=sid,
        scopes=["openid", "offline_access", "OR.Robots.Read"],
        auth_time=timezone.now(),
        amr=["pwd"],
        refresh_token=refresh_token,
    )
    return grant, refresh_token


def grants_url(membership, *parts) -> str:
    base = f"/{membership.organization.slug}/portal_/members/{membership.user_id}/grants/"
    return base + "".join(f"{part}/" for part in parts)


def refresh(client_id: str, secret: str, refresh_token: str):
    return Client().post(
        TOKEN_URL,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": secret,
        },
    )


def test_the_page_lists_a_members_sign_ins_per_application(admin, member, portal):
    # given
    grant_of(member, portal[0])
    grant_of(member, portal[0], sid="sid-2")
    grant_of(member)  # the official CLI, which has no application row

    # when
    page = admin.get(grants_url(member)).content.decode()

    # then
    assert page.count('<tr id="grant-') == 3
    assert "Portal" in page and "UiPath CLI" in page
    assert "Revoke all 2" in page
    assert (
        f'href="{grants_url(member)}"'
        in admin.get(f"/{member.organization.slug}/portal_/members/").content.decode()
    )


def test_revoking_a_sign_in_stops_its_refresh_token_and_is_audited(
    admin, admin_membership, member, portal
):
    # given
    client, secret = portal
    grant, refresh_token = grant_of(member, client)
    _other, other_refresh_token = grant_of(member, client, sid="sid-2")

    # when
    response = admin.post(grants_url(member, grant.global_id, "revoke"), {"confirmed": "yes"})

    # then
    assert response.status_code == 302 and response.url == grants_url(member)
    refused = refresh(client.client_id, secret, refresh_token)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert refresh(client.client_id, secret, other_refresh_token).status_code == 200
    event = AuditEvent.objects.get(action="sign_in_grant.revoke")
    assert (event.actor_id, event.target_id) == (
        str(admin_membership.user.pk),
        str(grant.global_id),
    )
    assert f'id="grant-{grant.global_id}"' not in admin.get(grants_url(member)).content.decode()


def test_revoking_all_of_an_application_leaves_the_others(admin, member, portal):
    # given
    client, _secret = portal
    grant_of(member, client)
    grant_of(member, client, sid="sid-2")
    cli_grant, _ = grant_of(member)

    # when
    response = admin.post(
        grants_url(member, "revoke"), {"client_id": client.client_id, "confirmed": "yes"}
    )

    # then
    assert response.status_code == 302
    page = admin.get(grants_url(member)).content.decode()
    assert re.findall(r'<tr id="grant-([^"]+)"', page) == [str(cli_grant.global_id)]
    assert AuditEvent.objects.filter(action="sign_in_grant.revoke").count() == 2


def test_without_confirmation_nothing_is_revoked(admin, member, portal):
    grant, _ = grant_of(member, portal[0])

    page = admin.post(grants_url(member, grant.global_id, "revoke"))

    assert page.status_code == 200 and "Revoke this sign-in" in page.content.decode()
    assert not AuditEvent.objects.filter(action="sign_in_grant.revoke").exists()


def test_a_grant_of_another_member_or_organization_is_the_same_404(
    admin, admin_membership, member, portal, other_admin_membership
):
    # given
    mine, _ = grant_of(admin_membership, portal[0])
    theirs, _ = grant_of(other_admin_membership)

    # then: another member's grant under this member, another organization's grant, or member
    confirmed = {"confirmed": "yes"}
    assert admin.post(grants_url(member, mine.global_id, "revoke"), confirmed).status_code == 404
    assert admin.post(grants_url(member, theirs.global_id, "revoke"), confirmed).status_code == 404
    assert admin.get(grants_url(other_admin_membership)).status_code == 404
    assert admin.post(grants_url(member, "not-a-uuid", "revoke"), confirmed).status_code == 404
    assert not AuditEvent.objects.filter(action="sign_in_grant.revoke").exists()


def test_members_may_not_see_or_revoke_sign_ins(client, member, admin_membership, portal):
    grant, _ = grant_of(admin_membership, portal[0])
    client.force_login(member.user)

    assert client.get(grants_url(admin_membership)).status_code == 403
    revoke = grants_url(admin_membership, grant.global_id, "revoke")
    assert client.post(revoke, {"confirmed": "yes"}).status_code == 403
    services.sign_in_grant_revoke(grant=grant, actor=TEST_ACTOR)  # still active until now
