"""Invitations (SPEC §9, tenants.invitations): on a server that sends mail, a new member
gets a one-time link to set their password instead of a password shown to the admin. The
link is read out of the mail a real SMTP server on loopback received (tests/smtp.py).
Without mail, the show-once password stays (tenants/tests/test_site_pages.py).

The database is committed as requests commit it (transaction=True): mail leaves only once
the request's transaction has committed (tenants.mail)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tenants.invitations import invitation_tokens
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import PASSWORD, UserFactory
from tests.smtp import message_link

pytestmark = pytest.mark.django_db(transaction=True)

CHOSEN = "my own passphrase 2026"


@pytest.fixture
def org(admin_membership):
    return admin_membership.organization


def invite(admin, org, **fields):
    data = {"username": "bruno", "email": "bruno@example.com", "role": "member", **fields}
    return admin.post(reverse("org-members", args=[org.slug]), data)


def accept(link: str, password: str = CHOSEN):
    browser = Client()
    opened = browser.get(link)
    if opened.status_code != 302:
        return opened
    return browser.post(opened["Location"], {"new_password1": password, "new_password2": password})


def test_a_new_member_is_invited_and_sets_the_password_once(admin, org, smtp_server):
    # when
    added = invite(admin, org)
    page = admin.get(reverse("org-members", args=[org.slug])).content.decode()
    [message] = smtp_server.wait_for(1)
    link = message_link(message)
    accepted = accept(link)
    again = accept(link, "someone else's passphrase 7")

    # then: no password shown to the admin; the account had none until its owner set one
    assert added.status_code == 302
    assert "secret-once" not in page and "an invitation to set a password was sent" in page
    user = get_user_model().objects.get(username="bruno")
    assert user.email == "bruno@example.com"
    assert Membership.objects.get(organization=org, user=user).role == "member"
    assert smtp_server.recipients == [["bruno@example.com"]]
    assert message["Subject"] == f"You are invited to {org.name}"
    assert "bruno" in message.get_content() and "7 days" in message.get_content()
    assert link.startswith("http://testserver/accounts/invitation/")
    assert accepted.status_code == 302 and accepted["Location"] == "/accounts/invitation/done/"
    assert again.status_code == 400
    assert Client().login(username="bruno", password=CHOSEN)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "outcome"))
    assert actions[:3] == [
        ("user.create", "success"),
        ("user.invited", "success"),
        ("membership.set", "success"),
    ]
    assert ("user.invitation_accept", "success") in actions
    assert ("user.invitation_accept", "failure") in actions
    invited = AuditEvent.objects.get(action="user.invited")
    assert invited.organization == org and invited.details == {"email": "bruno@example.com"}


def test_before_the_link_is_used_the_account_cannot_sign_in(admin, org, smtp_server):
    invite(admin, org)
    smtp_server.wait_for(1)

    user = get_user_model().objects.get(username="bruno")
    assert not user.has_usable_password()
    assert not Client().login(username="bruno", password="")


def test_with_mail_a_new_account_needs_an_email_address(admin, org, smtp_server):
    response = invite(admin, org, email="")

    assert response.status_code == 200
    page = response.content.decode()
    assert "A new account needs an email address" in page.split('id="id_email_error"')[1]
    assert not get_user_model().objects.filter(username="bruno").exists()
    assert smtp_server.received() == []


def test_an_existing_account_is_added_without_an_invitation(admin, org, smtp_server):
    # given
    UserFactory(username="ana", email="ana@example.com")

    # when
    other_address = invite(admin, org, username="ana", email="ana@elsewhere.example")
    added = invite(admin, org, username="ana", email="")

    # then
    assert added.status_code == 302
    assert "another email address" in other_address.content.decode()
    assert smtp_server.received() == []
    assert Client().login(username="ana", password=PASSWORD)


def test_an_invitation_expires_after_a_week(admin, org, smtp_server, monkeypatch):
    # given: a link made a week and a second ago (the generator's clock, Django's)
    real_now = invitation_tokens._now()
    monkeypatch.setattr(invitation_tokens, "_now", lambda: real_now - timedelta(days=7, seconds=1))
    invite(admin, org)
    [message] = smtp_server.wait_for(1)
    monkeypatch.setattr(invitation_tokens, "_now", lambda: real_now)

    # when
    response = accept(message_link(message))

    # then
    assert response.status_code == 400
    assert not get_user_model().objects.get(username="bruno").has_usable_password()


def test_an_invitation_link_is_no_password_reset_link(admin, org, smtp_server):
    # given
    invite(admin, org)
    link = message_link(smtp_server.wait_for(1)[0])

    # when
    response = accept(link.replace("/accounts/invitation/", "/accounts/password/reset/"))

    # then
    assert response.status_code == 400
    assert not get_user_model().objects.get(username="bruno").has_usable_password()


def test_without_mail_the_new_account_keeps_its_email_for_recovery(admin, org, settings):
    # given: no EMAIL_URL (the console backend of `make run`)
    assert settings.EMAIL_CONFIGURED is False

    # when
    response = invite(admin, org)

    # then: the show-once password, as before
    assert response.status_code == 303
    user = get_user_model().objects.get(username="bruno")
    assert user.email == "bruno@example.com" and user.has_usable_password()
    assert not AuditEvent.objects.filter(action="user.invited").exists()


def test_an_admin_invites_again_a_member_still_waiting(admin, org, smtp_server):
    # given
    invite(admin, org)
    smtp_server.wait_for(1)
    user = get_user_model().objects.get(username="bruno")
    members = admin.get(reverse("org-members", args=[org.slug])).content.decode()

    # when
    again = admin.post(reverse("org-members-invite", args=[org.slug, user.pk]), follow=True)
    second = smtp_server.wait_for(2)[1]
    accept(message_link(second))
    after = admin.post(reverse("org-members-invite", args=[org.slug, user.pk]), follow=True)

    # then
    assert "invited</span>" in members and "Invite again" in members
    assert "A new invitation was sent to “bruno”." in again.content.decode()
    assert Client().login(username="bruno", password=CHOSEN)
    assert "Only an account that has never signed in" in after.content.decode()
    assert len(smtp_server.received()) == 2
    assert AuditEvent.objects.filter(action="user.invited").count() == 2


def test_a_member_who_signed_in_elsewhere_is_not_invited(admin, org, smtp_server):
    # given: an account without a password that has signed in (an identity provider's)
    user = UserFactory(username="idp-user", email="idp@example.com", password=None)
    Membership.objects.create(organization=org, user=user, role="member")
    Client().force_login(user)

    # when
    response = admin.post(reverse("org-members-invite", args=[org.slug, user.pk]), follow=True)

    # then
    assert "Only an account that has never signed in" in response.content.decode()
    assert smtp_server.received() == []


def test_plain_members_may_not_invite(client, org, smtp_server):
    # given
    member = Membership.objects.create(
        organization=org, user=UserFactory(), role=Membership.Role.MEMBER
    )
    waiting = UserFactory(email="w@example.com", password=None)
    Membership.objects.create(organization=org, user=waiting, role="member")
    client.force_login(member.user)

    # when
    response = client.post(reverse("org-members-invite", args=[org.slug, waiting.pk]))

    # then
    assert response.status_code == 403
    assert smtp_server.received() == []
