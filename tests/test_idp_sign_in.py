"""Signing in through the organization's own identity provider (SPEC §9), end to end: a
real OpenID Connect provider nobody here wrote (panva's oidc-provider, tests/openid_provider.py)
on loopback HTTPS, our live server, and `requests` as the browser following every
redirect between them. Each refusal signs no one in and is audited with its reason code."""

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from federation import services
from federation.models import ExternalIdentity, IdentityProvider
from identity_server import login_throttle, signin
from identity_server.tests.factories import TEST_ACTOR
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.usefixtures("transactional_db")

CORP = "corp.example"


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    # The live server speaks http; production cookies are Secure.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def registered_provider(oidc_provider, live_server, organization, *, issuer=None, **fields):
    """An identity provider of `organization`, registered as an administrator would: the
    provider first (its callback URL names it), then the client at the OpenID provider
    (dynamic registration) with that callback, then the client's ID and secret."""
    provider = services.identity_provider_create(
        organization=organization,
        actor=TEST_ACTOR,
        **{
            "name": "Corp SSO",
            "issuer": issuer or oidc_provider.issuer,
            "client_id": "to-be-registered",
            "client_secret": "to-be-registered",
            "allowed_email_domains": [CORP],
            **fields,
        },
    )
    callback = live_server.url + reverse("idp-callback", args=[provider.pk])
    at = oidc_provider.impostor if issuer == oidc_provider.impostor.issuer else oidc_provider
    client_id, secret = at.register_client(callback)
    return services.identity_provider_update(
        provider=provider, actor=TEST_ACTOR, client_id=client_id, client_secret=secret
    )


def browser(oidc_provider) -> requests.Session:
    """A browser that trusts the provider's CA."""
    return oidc_provider.http()


def start_url(live_server, provider, login_hint: str, **query) -> str:
    query = urlencode({"login_hint": login_hint, **query})
    return f"{live_server.url}{reverse('idp-start', args=[provider.pk])}?{query}"


def sign_in(oidc_provider, live_server, provider, login_hint, *, session=None):
    """The whole flow, every redirect followed: the last answer (the organization's page,
    or the page that says why not) and the browser."""
    session = session or browser(oidc_provider)
    answer = session.get(start_url(live_server, provider, login_hint), timeout=20)
    return answer, session


def to_callback(session, url: str) -> str:
    """Follows redirects from `url` until the provider sends the browser back to our
    callback; that URL (not yet followed)."""
    while True:
        answer = session.get(url, allow_redirects=False, timeout=20)
        assert answer.status_code in (302, 303), answer.text[:500]
        url = requests.compat.urljoin(url, answer.headers["Location"])
        if "/accounts/idp/" in url and "/callback" in url:
            return url


def failures(reason: str):
    return AuditEvent.objects.filter(
        action="user.sign_in", outcome=AuditEvent.Outcome.FAILURE, reason_code=reason
    )


def signed_in_user(live_server, session):
    """Who the browser's site session belongs to, as the site says."""
    from django.contrib.sessions.models import Session

    name = settings.SESSION_COOKIE_NAME
    key = next((c.value for c in session.cookies if c.name == name), None)
    if key is None:
        return None
    data = Session.objects.get(session_key=key).get_decoded()
    user_id = data.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


# --- success paths ------------------------------------------------------------------------


def test_first_sign_in_with_jit_member_creates_a_member_bound_to_issuer_and_subject(
    oidc_provider, live_server, admin_membership
):
    # given
    organization = admin_membership.organization
    provider = registered_provider(
        oidc_provider, live_server, organization, provisioning="jit_member"
    )
    oidc_provider.account("jit-alice", email=f"alice@{CORP}", email_verified=True, name="Alice")

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "jit-alice")

    # then: on the organization's page, signed in as a new member
    assert answer.status_code == 200, answer.text[:500]
    assert urlsplit(answer.url).path == reverse("organization", kwargs={"org": organization.slug})
    user = signed_in_user(live_server, session)
    assert user.email == f"alice@{CORP}" and user.first_name == "Alice"
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user, organization=organization).role == "member"
    binding = ExternalIdentity.objects.get(user=user)
    assert (binding.issuer, binding.subject) == (oidc_provider.issuer, "jit-alice")
    assert signin.email_verified(user)
    event = AuditEvent.objects.get(action="user.sign_in", outcome="success")
    assert event.details["method"] == "idp:Corp SSO" and event.organization == organization
    assert event.target_id == str(user.pk)

    # when: the second sign-in
    answer, session = sign_in(oidc_provider, live_server, provider, "jit-alice")

    # then: the same account, found by its binding
    assert answer.status_code == 200
    assert signed_in_user(live_server, session) == user
    assert get_user_model().objects.filter(email=f"alice@{CORP}").count() == 1


def test_first_sign_in_links_an_existing_account_by_verified_email_and_then_by_binding(
    oidc_provider, live_server, admin_membership
):
    # given: a member whose account has the provider's verified address
    organization = admin_membership.organization
    member = MembershipFactory(organization=organization, role="member").user
    member.email = f"Bob@{CORP}"
    member.save()
    provider = registered_provider(oidc_provider, live_server, organization)  # link_only
    oidc_provider.account("link-bob", email=f"bob@{CORP}", email_verified=True)

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "link-bob")

    # then
    assert answer.status_code == 200, answer.text[:500]
    assert signed_in_user(live_server, session) == member
    assert ExternalIdentity.objects.get(subject="link-bob").user == member

    # when: the provider's address changes to one of another account: the binding decides
    other = UserFactory(email=f"carol@{CORP}")
    oidc_provider.account("link-bob", email=f"carol@{CORP}", email_verified=True)
    answer, session = sign_in(oidc_provider, live_server, provider, "link-bob")

    # then
    assert signed_in_user(live_server, session) == member != other


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_first_sign_ins_at_once_make_one_account_and_one_binding(
    oidc_provider, live_server, admin_membership
):
    # given: the same person half-way through two first sign-ins, in two browsers
    provider = registered_provider(
        oidc_provider, live_server, admin_membership.organization, provisioning="jit_member"
    )
    oidc_provider.account("twice", email=f"twice@{CORP}", email_verified=True)
    browsers = [browser(oidc_provider) for _ in range(2)]
    callbacks = [to_callback(b, start_url(live_server, provider, "twice")) for b in browsers]

    # when: both come back at once
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda b, url: b.get(url, allow_redirects=False, timeout=20), browsers, callbacks
            )
        )

    # then
    assert [a.status_code for a in answers] == [302, 302]
    assert get_user_model().objects.filter(email=f"twice@{CORP}").count() == 1
    assert ExternalIdentity.objects.filter(subject="twice").count() == 1


# --- refusals -----------------------------------------------------------------------------


def test_an_email_reassigned_at_the_provider_does_not_link_to_the_first_owners_account(
    oidc_provider, live_server, admin_membership
):
    # given: a member bound to the provider; then the provider gives the address to a new
    # person (another subject)
    organization = admin_membership.organization
    provider = registered_provider(oidc_provider, live_server, organization)
    member = MembershipFactory(organization=organization, role="member").user
    member.email = f"pat@{CORP}"
    member.save()
    oidc_provider.account("pat-leaver", email=f"pat@{CORP}", email_verified=True)
    assert sign_in(oidc_provider, live_server, provider, "pat-leaver")[0].status_code == 200
    oidc_provider.account("pat-leaver", email=f"former@{CORP}", email_verified=True)
    oidc_provider.account("pat-new-hire", email=f"pat@{CORP}", email_verified=True)

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "pat-new-hire")

    # then
    assert answer.status_code == 403
    assert signed_in_user(live_server, session) is None
    assert failures("already_bound").get().target_id == str(member.pk)
    assert list(ExternalIdentity.objects.values_list("subject", flat=True)) == ["pat-leaver"]


def test_link_only_refuses_a_stranger(oidc_provider, live_server, admin_membership):
    # given
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)
    oidc_provider.account("stranger", email=f"stranger@{CORP}", email_verified=True)
    users = get_user_model().objects.count()

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "stranger")

    # then
    assert answer.status_code == 403
    assert "not a member of this organization" in answer.text
    assert signed_in_user(live_server, session) is None
    assert get_user_model().objects.count() == users
    assert not ExternalIdentity.objects.exists()
    event = failures("not_a_member").get()
    assert event.organization == admin_membership.organization
    assert event.details["method"] == "idp:Corp SSO"


def test_link_only_refuses_an_account_that_is_not_a_member(
    oidc_provider, live_server, admin_membership
):
    # given: an account with the verified address, in no organization of the provider's
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)
    outsider = UserFactory(email=f"dave@{CORP}")
    oidc_provider.account("outsider", email=f"dave@{CORP}", email_verified=True)

    # when
    answer, _ = sign_in(oidc_provider, live_server, provider, "outsider")

    # then
    assert answer.status_code == 403
    assert failures("not_a_member").get().target_id == str(outsider.pk)
    assert not ExternalIdentity.objects.exists()


@pytest.mark.parametrize("provisioning", ["link_only", "jit_member"])
def test_an_unverified_email_links_nothing(
    oidc_provider, live_server, admin_membership, provisioning
):
    # given: a member with the address, which the provider did not verify
    organization = admin_membership.organization
    member = MembershipFactory(organization=organization, role="member").user
    member.email = f"erin@{CORP}"
    member.save()
    provider = registered_provider(
        oidc_provider, live_server, organization, provisioning=provisioning
    )
    oidc_provider.account("unverified-erin", email=f"erin@{CORP}", email_verified=False)

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "unverified-erin")

    # then
    assert answer.status_code == 403
    assert "has not verified your email address" in answer.text
    assert signed_in_user(live_server, session) is None
    assert not ExternalIdentity.objects.exists()
    assert failures("email_unverified").count() == 1


def test_an_unverified_email_is_not_linked_even_without_allowed_domains(
    oidc_provider, live_server, admin_membership
):
    # given
    organization = admin_membership.organization
    member = MembershipFactory(organization=organization, role="member").user
    member.email = "frank@anywhere.example"
    member.save()
    provider = registered_provider(
        oidc_provider, live_server, organization, allowed_email_domains=[]
    )
    oidc_provider.account("frank", email="frank@anywhere.example", email_verified=False)

    # when
    answer, _ = sign_in(oidc_provider, live_server, provider, "frank")

    # then
    assert answer.status_code == 403
    assert failures("email_unverified").get().target_id == str(member.pk)
    assert not ExternalIdentity.objects.exists()


def test_a_disabled_account_is_refused_even_when_bound(
    oidc_provider, live_server, admin_membership
):
    # given: a member bound to the provider, whose account is then disabled
    organization = admin_membership.organization
    provider = registered_provider(
        oidc_provider, live_server, organization, provisioning="jit_member"
    )
    oidc_provider.account("olga", email=f"olga@{CORP}", email_verified=True)
    assert sign_in(oidc_provider, live_server, provider, "olga")[0].status_code == 200
    user = ExternalIdentity.objects.get(subject="olga").user
    user.is_active = False
    user.save()

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "olga")

    # then
    assert answer.status_code == 403
    assert signed_in_user(live_server, session) is None
    assert failures("account_disabled").get().target_id == str(user.pk)


def test_a_domain_that_is_not_allowed_is_refused(oidc_provider, live_server, admin_membership):
    # given
    provider = registered_provider(
        oidc_provider, live_server, admin_membership.organization, provisioning="jit_member"
    )
    oidc_provider.account("grace", email="grace@elsewhere.example", email_verified=True)

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "grace")

    # then
    assert answer.status_code == 403
    assert signed_in_user(live_server, session) is None
    assert failures("domain_not_allowed").count() == 1
    assert not get_user_model().objects.filter(email="grace@elsewhere.example").exists()


def test_a_replayed_state_is_refused(oidc_provider, live_server, admin_membership):
    # given: a sign-in that went through
    provider = registered_provider(
        oidc_provider, live_server, admin_membership.organization, provisioning="jit_member"
    )
    oidc_provider.account("heidi", email=f"heidi@{CORP}", email_verified=True)
    session = browser(oidc_provider)
    callback = to_callback(session, start_url(live_server, provider, "heidi"))
    first = session.get(callback, allow_redirects=False, timeout=20)
    assert first.status_code == 302
    user = signed_in_user(live_server, session)

    # when: the same answer again, in the same browser and in another one
    again = session.get(callback, allow_redirects=False, timeout=20)
    elsewhere = browser(oidc_provider).get(callback, allow_redirects=False, timeout=20)

    # then
    assert again.status_code == elsewhere.status_code == 400
    assert "expired or was already used" in again.text
    assert failures("idp_state_mismatch").count() == 2
    assert AuditEvent.objects.filter(action="user.sign_in", outcome="success").count() == 1
    assert user is not None


def test_a_callback_without_a_pending_sign_in_is_refused(
    oidc_provider, live_server, admin_membership
):
    # given: an answer this browser never asked for (login CSRF, RFC 6749 §10.12)
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)
    callback = live_server.url + reverse("idp-callback", args=[provider.pk])

    # when
    answer = browser(oidc_provider).get(f"{callback}?code=abc&state=forged", timeout=20)

    # then
    assert answer.status_code == 400
    assert failures("idp_state_mismatch").count() == 1


def test_refused_callbacks_from_one_address_are_throttled_and_audited_once(
    oidc_provider, live_server, admin_membership
):
    # given: an address that sent as many forged answers as the window allows
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)
    callback = live_server.url + reverse("idp-callback", args=[provider.pk])
    session = browser(oidc_provider)
    for number in range(login_throttle.CALLBACK_ADDRESS_LIMIT):
        answer = session.get(f"{callback}?code=abc&state=forged-{number}", timeout=20)
        assert answer.status_code == 400

    # when: it goes on
    more = [session.get(f"{callback}?code=abc&state=more", timeout=20) for _ in range(3)]

    # then: refused unchecked, and the audit log holds one refusal for the lot
    assert [answer.status_code for answer in more] == [429, 429, 429]
    assert "Too many failed sign-ins" in more[0].text
    assert failures("idp_state_mismatch").count() == login_throttle.CALLBACK_ADDRESS_LIMIT
    assert failures("throttled").count() == 1


def test_a_wrong_nonce_is_refused(oidc_provider, live_server, admin_membership):
    # given: the authorization request's nonce replaced on its way to the provider (the
    # front channel is the browser's), state and PKCE left as they were
    provider = registered_provider(
        oidc_provider, live_server, admin_membership.organization, provisioning="jit_member"
    )
    oidc_provider.account("ivan", email=f"ivan@{CORP}", email_verified=True)
    session = browser(oidc_provider)
    start = session.get(start_url(live_server, provider, "ivan"), allow_redirects=False)
    parts = urlsplit(start.headers["Location"])
    query = dict(parse_qsl(parts.query))
    assert query["nonce"] and query["code_challenge_method"] == "S256"
    query["nonce"] = "a-nonce-of-the-attackers-choice"
    tampered = urlunsplit(parts._replace(query=urlencode(query)))

    # when
    callback = to_callback(session, tampered)
    answer = session.get(callback, timeout=20)

    # then
    assert answer.status_code == 403
    assert "could not be verified" in answer.text
    event = failures("idp_token_invalid").get()
    assert "nonce" in event.details["detail"]
    assert signed_in_user(live_server, session) is None
    assert not ExternalIdentity.objects.exists()


def test_an_id_token_signed_by_another_key_is_refused(oidc_provider, live_server, admin_membership):
    # given: a provider whose published keys (the real provider's) did not sign its id_tokens
    provider = registered_provider(
        oidc_provider,
        live_server,
        admin_membership.organization,
        issuer=oidc_provider.impostor.issuer,
        provisioning="jit_member",
    )
    oidc_provider.impostor.account("judy", email=f"judy@{CORP}", email_verified=True)

    # when
    answer, session = sign_in(oidc_provider, live_server, provider, "judy")

    # then
    assert answer.status_code == 403
    event = failures("idp_token_invalid").get()
    assert "signature" in event.details["detail"]
    assert signed_in_user(live_server, session) is None
    assert not get_user_model().objects.filter(email=f"judy@{CORP}").exists()


def test_the_provider_answering_an_error_is_refused(oidc_provider, live_server, admin_membership):
    # given: a login_hint the provider knows no account of (it answers access_denied)
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)

    # when
    answer, _ = sign_in(oidc_provider, live_server, provider, "nobody-at-all")

    # then
    assert answer.status_code == 403
    assert failures("idp_denied").count() == 1


# --- "sign-in through this provider only" and the break-glass administrator --------------


def password_sign_in(live_server, username: str) -> requests.Response:
    session = requests.Session()
    login = session.get(live_server.url + "/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    return session.post(
        live_server.url + "/accounts/login/",
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD},
        headers={"Referer": login.url},
        allow_redirects=False,
        timeout=10,
    )


def test_an_enforced_provider_refuses_local_passwords_but_the_break_glass_admin(
    oidc_provider, live_server, admin_membership
):
    # given
    organization = admin_membership.organization
    break_glass = admin_membership.user
    other_admin = MembershipFactory(organization=organization, role="admin").user
    member = MembershipFactory(organization=organization, role="member").user
    provider = registered_provider(oidc_provider, live_server, organization)
    services.identity_provider_update(
        provider=provider, actor=TEST_ACTOR, enforced=True, break_glass_user=break_glass
    )

    # when / then: the member and the other admin are refused, with the way in shown
    for user in (member, other_admin):
        refused = password_sign_in(live_server, user.username)
        assert refused.status_code == 200
        assert "signs in through Corp SSO only" in refused.text
        assert "Sign in with Corp SSO" in refused.text
    assert failures("sso_enforced").count() == 2
    assert failures("sso_enforced").first().details["method"] == "password"

    # when: the break-glass administrator
    allowed = password_sign_in(live_server, break_glass.username)

    # then: signed in, and the sign-in flagged for the other administrators
    assert allowed.status_code == 302
    event = AuditEvent.objects.get(action="user.sign_in", outcome="success")
    assert event.details == {"known_user": True, "method": "password", "break_glass": True}
    page = Client()
    page.force_login(other_admin)
    overview = page.get(reverse("organization", kwargs={"org": organization.slug}))
    assert "Break-glass sign-ins" in overview.content.decode()
    assert break_glass.username in overview.content.decode()

    # and a member without the provider's say is still not refused elsewhere: turning the
    # enforcement off lets passwords in again
    services.identity_provider_update(provider=provider, actor=TEST_ACTOR, enforced=False)
    assert password_sign_in(live_server, member.username).status_code == 302


def test_password_sign_ins_are_audited_with_their_method(live_server, admin_membership):
    # when
    answer = password_sign_in(live_server, admin_membership.user.username)

    # then
    assert answer.status_code == 302
    event = AuditEvent.objects.get(action="user.sign_in")
    assert event.details == {"known_user": True, "method": "password"}


# --- the sign-in page and the test sign-in ------------------------------------------------


def test_the_sign_in_page_offers_the_provider_for_org_and_for_an_email_domain(
    oidc_provider, live_server, admin_membership
):
    # given
    organization = admin_membership.organization
    provider = registered_provider(oidc_provider, live_server, organization)
    start = reverse("idp-start", args=[provider.pk])
    page = Client()

    # when / then
    by_org = page.get(f"/accounts/login/?org={organization.slug}").content.decode()
    assert "Sign in with Corp SSO" in by_org and start in by_org
    by_email = page.get(f"/accounts/login/?email=kim@{CORP.upper()}").content.decode()
    assert "Sign in with Corp SSO" in by_email and "login_hint=kim%40" in by_email
    other = page.get("/accounts/login/?email=kim@elsewhere.example").content.decode()
    assert "Sign in with" not in other and "No identity provider signs in" in other
    services.identity_provider_update(provider=provider, actor=TEST_ACTOR, enabled=False)
    assert (
        "Sign in with" not in page.get(f"/accounts/login/?org={organization.slug}").content.decode()
    )


def test_the_test_sign_in_shows_the_claims_and_signs_no_one_in(
    oidc_provider, live_server, admin_membership
):
    # given: an administrator's browser
    organization = admin_membership.organization
    provider = registered_provider(
        oidc_provider, live_server, organization, provisioning="jit_member"
    )
    oidc_provider.account("tester", email=f"tester@{CORP}", email_verified=True, name="T")
    session = browser(oidc_provider)
    django_client = Client()
    django_client.force_login(admin_membership.user)
    session.cookies.set(
        settings.SESSION_COOKIE_NAME,
        django_client.cookies[settings.SESSION_COOKIE_NAME].value,
    )
    test_url = live_server.url + reverse("idp-test", args=[provider.pk]) + "?login_hint=tester"

    # when
    answer = session.get(test_url, timeout=20)

    # then
    assert answer.status_code == 200, answer.text[:500]
    assert f"tester@{CORP}" in answer.text and "email_verified" in answer.text
    assert (
        "<strong>The sign-in would succeed</strong>:\n  it creates an account for this "
        f"person, made a member of {organization.name}."
    ) in answer.text
    assert signed_in_user(live_server, session) == admin_membership.user
    assert not ExternalIdentity.objects.exists()
    assert not get_user_model().objects.filter(email=f"tester@{CORP}").exists()
    assert AuditEvent.objects.get(action="identity_provider.tested").outcome == "success"
    assert not AuditEvent.objects.filter(action="user.sign_in").exists()

    # and it is not for anyone but the organization's administrators
    stranger = browser(oidc_provider)
    assert stranger.get(test_url, allow_redirects=False, timeout=20).status_code == 302  # login
    member = MembershipFactory(organization=organization, role="member").user
    django_client.force_login(member)
    member_browser = browser(oidc_provider)
    member_browser.cookies.set(
        settings.SESSION_COOKIE_NAME,
        django_client.cookies[settings.SESSION_COOKIE_NAME].value,
    )
    assert member_browser.get(test_url, allow_redirects=False, timeout=20).status_code == 404


def test_a_disabled_provider_does_not_start_a_sign_in(oidc_provider, live_server, admin_membership):
    # given
    provider = registered_provider(oidc_provider, live_server, admin_membership.organization)
    services.identity_provider_update(provider=provider, actor=TEST_ACTOR, enabled=False)

    # when
    answer = browser(oidc_provider).get(start_url(live_server, provider, "x"), timeout=20)

    # then
    assert answer.status_code == 404
    assert IdentityProvider.objects.get().enabled is False


# --- an application's sign-in through the organization's provider (SPEC §8 + §9) ----------


def test_an_application_sign_in_goes_through_the_provider_and_back(
    oidc_provider, live_server, admin_membership
):
    # given: an application of the organization, and a person only its provider knows
    from tests.test_sign_in_flow import (
        REDIRECT,
        TOKEN,
        authorize,
        oauth_session,
        user_app,
        verified_id_token,
    )

    organization = admin_membership.organization
    registered_provider(oidc_provider, live_server, organization, provisioning="jit_member")
    oidc_provider.account("app-user", email=f"lena@{CORP}", email_verified=True)
    app, secret = user_app(organization)
    session = oauth_session(app, secret, scope="openid PM.OAuthApp")
    person = browser(oidc_provider)

    # when: the application sends the browser to authorize; it is sent to the sign-in page,
    # which offers the organization's provider
    to_login, verifier, nonce, _ = authorize(live_server, person, session)
    assert to_login.status_code == 302
    login = person.get(live_server.url + to_login.headers["Location"], timeout=10)
    link = re.search(r'href="([^"]+)">Sign in with Corp SSO', login.text)
    assert link, login.text
    url = live_server.url + link.group(1).replace("&amp;", "&") + "&login_hint=app-user"
    # and the browser goes through the provider, back to authorize, and to the application
    while not url.startswith(REDIRECT):
        step = person.get(url, allow_redirects=False, timeout=20)
        assert step.status_code in (302, 303), step.text[:500]
        url = requests.compat.urljoin(url, step.headers["Location"])
    token = session.fetch_token(
        live_server.url + TOKEN, authorization_response=url, code_verifier=verifier
    )

    # then: the application's id_token is of the new member, signed in by an external provider
    claims = verified_id_token(live_server, token, app.client_id)
    user = get_user_model().objects.get(email=f"lena@{CORP}")
    assert claims["sub"] == str(user.pk) and claims["nonce"] == nonce
    assert claims["amr"] == ["external"]
    assert claims["email"] == f"lena@{CORP}" and claims["email_verified"] is True
    userinfo = requests.get(
        live_server.url + "/identity_/connect/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo["email_verified"] is True
