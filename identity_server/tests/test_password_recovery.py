"""Password recovery (SPEC §9, identity_server.recovery) against a real SMTP server on
loopback (tests/smtp.py): the link is read out of the mail that server received and used
once; the same answer for an address with or without an account; throttling; every session
of the account ended after a reset.

The database is committed as requests commit it (transaction=True): mail leaves only once
the request's transaction has committed (tenants.mail)."""

from datetime import timedelta

import jwt
import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from federation.tests.factories import external_app
from identity_server import login_throttle, services, tokens
from identity_server.models import SignInGrant
from identity_server.signin import SESSION_SID_KEY
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.smtp import message_link

pytestmark = pytest.mark.django_db(transaction=True)

RESET = "/accounts/password/reset/"
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def member():
    return MembershipFactory(user=UserFactory(email="ada@example.com"), role=Membership.Role.ADMIN)


def ask_reset(client, email: str, address: str = "192.0.2.10"):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=address)


def set_password(client, link: str, password: str = NEW_PASSWORD):
    """Opens the link as a browser does and submits the new password; the last answer."""
    opened = client.get(link)
    if opened.status_code != 302:
        return opened
    return client.post(opened["Location"], {"new_password1": password, "new_password2": password})


def can_sign_in(username: str, password: str) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


# --- the link ----------------------------------------------------------------------------


def test_the_mailed_link_sets_a_new_password_once(client, smtp_server, member, caplog):
    # given
    user = member.user

    # when
    asked = ask_reset(client, "ADA@example.com")
    [message] = smtp_server.wait_for(1)
    link = message_link(message)
    done = set_password(Client(), link)
    again = set_password(Client(), link, "yet another passphrase 43")

    # then
    assert asked.status_code == 302 and asked["Location"] == "/accounts/password/reset/sent/"
    assert smtp_server.recipients == [["ada@example.com"]]
    assert smtp_server.logins == [("mailer", "p@ss:w/rd")]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Reset your password on testserver"
    assert user.get_username() in message.get_content()
    assert link.startswith("http://testserver/accounts/password/reset/")
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/done/"
    assert again.status_code == 400
    assert "This link does not work" in again.content.decode()
    assert link.rstrip("/").rsplit("/", 1)[1] not in caplog.text  # no log holds the token
    assert can_sign_in(user.get_username(), NEW_PASSWORD)
    assert not can_sign_in(user.get_username(), PASSWORD)
    reset = AuditEvent.objects.get(action="user.password_reset", outcome="success")
    assert (reset.organization, reset.target_id) == (member.organization, str(user.pk))
    refused = AuditEvent.objects.get(action="user.password_reset", outcome="failure")
    assert refused.reason_code == "token_invalid" and refused.target_id == str(user.pk)


def test_a_link_works_for_an_hour_only(client, smtp_server, member, monkeypatch):
    # given: a link made an hour and a second ago (the generator's clock, Django's)
    real_now = default_token_generator._now()
    monkeypatch.setattr(default_token_generator, "_now", lambda: real_now - timedelta(seconds=3601))
    ask_reset(client, "ada@example.com")
    [message] = smtp_server.wait_for(1)
    monkeypatch.setattr(default_token_generator, "_now", lambda: real_now)

    # when
    response = set_password(Client(), message_link(message))

    # then
    assert response.status_code == 400
    assert can_sign_in(member.user.get_username(), PASSWORD)


def test_a_link_cut_short_or_for_another_account_is_refused(client, smtp_server, member):
    # given
    other = UserFactory(email="bob@example.com")
    ask_reset(client, "ada@example.com")
    link = message_link(smtp_server.wait_for(1)[0])
    uid, token = link.rstrip("/").split("/")[-2:]

    # when
    cut = Client().get(link.replace(token, token[:-3]))
    foreign = Client().get(link.replace(uid, urlsafe_base64_encode(force_bytes(other.pk))))
    unknown = Client().get(link.replace(uid, "x" + uid))

    # then
    assert [cut.status_code, foreign.status_code, unknown.status_code] == [400, 400, 400]
    assert can_sign_in(member.user.get_username(), PASSWORD)


# --- the same answer whatever the address ----------------------------------------------


def test_an_address_without_an_account_gets_the_same_answer_and_no_mail(smtp_server, member):
    # given
    UserFactory(email="inactive@example.com", is_active=False)
    UserFactory(email="idp-only@example.com", password=None)  # no usable password

    # when
    answers = {
        email: ask_reset(Client(), email, address=f"192.0.2.{n}")
        for n, email in enumerate(
            [
                "ada@example.com",
                "nobody@example.com",
                "inactive@example.com",
                "idp-only@example.com",
            ]
        )
    }
    pages = {email: Client().get(answer["Location"]) for email, answer in answers.items()}

    # then
    assert {(a.status_code, a["Location"]) for a in answers.values()} == {
        (302, "/accounts/password/reset/sent/")
    }
    assert len({page.content for page in pages.values()}) == 1
    assert smtp_server.wait_for(1) and smtp_server.received() == smtp_server.messages[:1]
    assert smtp_server.recipients == [["ada@example.com"]]
    requested = AuditEvent.objects.filter(action="user.password_reset_requested")
    known = requested.get(details__known_user=True)
    assert (known.organization, known.target_id) == (member.organization, str(member.user.pk))
    assert known.request_id == answers["ada@example.com"]["X-Request-Id"]
    unknown = requested.filter(details__known_user=False)
    assert unknown.count() == 3
    assert all(event.organization is None and event.target_id == "" for event in unknown)
    assert not any("nobody@example.com" in str(event.details) for event in requested)


def test_the_page_links_from_sign_in_and_asks_for_an_address(client):
    sign_in = client.get("/accounts/login/")
    page = client.get(RESET)

    assert f'href="{RESET}"' in sign_in.content.decode()
    assert page.status_code == 200
    assert 'name="email"' in page.content.decode()


# --- throttling --------------------------------------------------------------------------


def test_requests_for_one_address_are_throttled(smtp_server, member):
    # given
    limit = login_throttle.RESET_EMAIL_LIMIT

    # when: from several client addresses, as someone flooding a mailbox would
    answers = [
        ask_reset(Client(), "ada@example.com", address=f"198.51.100.{n}") for n in range(limit)
    ] + [ask_reset(Client(), "ada@example.com", address="198.51.100.99") for _ in range(2)]
    other = ask_reset(Client(), "nobody@example.com", address="198.51.100.1")

    # then
    assert [a.status_code for a in answers] == [302] * limit + [429, 429]
    assert "Too many password reset requests" in answers[-1].content.decode()
    assert other.status_code == 302
    assert len(smtp_server.wait_for(limit)) == limit
    assert len(smtp_server.received()) == limit
    throttled = AuditEvent.objects.filter(
        action="user.password_reset_requested", reason_code="throttled"
    )
    assert throttled.count() == 1  # once per address and window


def test_requests_from_one_client_address_are_throttled(smtp_server):
    limit = login_throttle.RESET_ADDRESS_LIMIT

    answers = [ask_reset(Client(), f"user{n}@example.com") for n in range(limit + 1)]

    assert [a.status_code for a in answers] == [302] * limit + [429]


def test_throttling_fails_open_when_the_shared_cache_is_gone(
    smtp_server, member, shared_cache_down
):
    answers = [
        ask_reset(Client(), "ada@example.com") for _ in range(login_throttle.RESET_EMAIL_LIMIT + 1)
    ]

    assert {a.status_code for a in answers} == {302}
    assert len(smtp_server.wait_for(len(answers))) == len(answers)


# --- every session ended -------------------------------------------------------------------


def test_a_reset_signs_the_account_out_everywhere(smtp_server, member, logout_receiver):
    # given: the account signed in to the site in one browser, and from that session to an
    # application that registered a back-channel logout endpoint
    user = member.user
    browser = Client()
    assert browser.login(username=user.get_username(), password=PASSWORD)
    session = browser.session
    session[SESSION_SID_KEY] = "sid-1"
    session.save()
    app, _secret = external_app(
        organization=member.organization,
        user_scopes=["openid"],
        redirect_uris=["https://app.example/cb"],
        backchannel_logout_uri=logout_receiver.url(),
    )
    refresh_token = tokens.refresh_token_generator(None)
    grant = services.sign_in_grant_create(
        client_id=app.client.client_id,
        application=app.client,
        user=user,
        organization=member.organization,
        sid="sid-1",
        scopes=["openid", "offline_access"],
        auth_time=timezone.now(),
        amr=["pwd"],
        refresh_token=refresh_token,
    )
    assert browser.get("/").status_code == 200

    # when: the password is reset from another browser
    ask_reset(Client(), "ada@example.com")
    set_password(Client(), message_link(smtp_server.wait_for(1)[0]))

    # then: the site session is over, the grant revoked, the application told
    page = browser.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    grant = SignInGrant.objects.get(pk=grant.pk)
    assert grant.revoked_at is not None and grant.revoked_reason == "password_reset"
    assert AuditEvent.objects.filter(
        action="sign_in_grant.revoke", reason_code="password_reset"
    ).exists()
    [notification] = logout_receiver.received(1)
    claims = jwt.decode(notification.form["logout_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["sid"]) == (str(user.pk), "sid-1")
