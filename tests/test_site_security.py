"""Security of the admin site: headers, CSRF, no inline script or style, sign-in throttling."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from identity_server import login_throttle
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.test_site_isolation import PAGES, PLATFORM_PAGES, World

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _policy(response) -> dict[str, list[str]]:
    directives = response["Content-Security-Policy"].split(";")
    return {d.split()[0]: d.split()[1:] for d in (d.strip() for d in directives) if d}


@pytest.mark.parametrize("path", ["/accounts/login/", "/no/such/page"])
@pytest.mark.django_db
def test_pages_carry_a_strict_policy_and_refuse_framing(client, path):
    response = client.get(path)

    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_template_has_inline_script_style_or_event_handlers(template):
    html = template.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html, "inline <style>"
    assert not re.search(r"\sstyle=", html), "style attribute"
    assert not re.search(r"\son[a-z]+=", html), "event handler attribute"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_every_post_form_carries_the_csrf_token(template):
    forms = re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.DOTALL)

    for form in forms:
        if re.search(r'method="post"', form, re.IGNORECASE):
            assert "{% csrf_token %}" in form, form[:120]


@pytest.mark.django_db
def test_the_swagger_ui_page_loads_its_start_up_script_from_a_file(client):
    page = client.get("/identity_/api/schema/docs").content.decode()

    script = re.search(r'<script src="([^"]*script=[^"]*)"', page).group(1)
    assert "<style" not in page
    assert not re.search(r"<script>", page)
    served = client.get(script.replace("&amp;", "&"))
    assert served.status_code == 200
    assert served["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in served.content.decode()


@pytest.mark.django_db
def test_forms_without_the_csrf_token_are_refused(admin_membership):
    client = Client(enforce_csrf_checks=True)

    sign_in = client.post(
        reverse("login"), {"username": admin_membership.user.username, "password": PASSWORD}
    )

    assert sign_in.status_code == 403
    assert "The form has expired" in sign_in.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("page", PAGES + PLATFORM_PAGES)
@pytest.mark.django_db
def test_every_page_refuses_a_post_without_the_csrf_token(admin_membership, page):
    # given: the organization's admin, signed in, also a platform operator (for the
    # operators' pages), and a page of the site (every one: test_site_isolation checks
    # that its lists name them all)
    admin_membership.user.is_superuser = True
    admin_membership.user.save(update_fields=["is_superuser"])
    organization = admin_membership.organization
    url = page(World(organization, organization.tenants.get(), admin_membership.user))
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_membership.user)
    audited = AuditEvent.objects.count()

    # when
    response = client.post(url, {"confirmed": "yes"})

    # then
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()
    assert AuditEvent.objects.count() == audited


@pytest.mark.django_db
def test_the_session_cookie_is_https_only_and_hidden_from_scripts(client, admin_membership):
    response = client.post(
        reverse("login"), {"username": admin_membership.user.username, "password": PASSWORD}
    )

    cookie = response.cookies["sessionid"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- sign-in throttling ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sign_in_and_a_failed_one_are_audited_in_each_of_the_users_organizations(client):
    # given: an administrator of one organization and a member of another
    first = MembershipFactory(role=Membership.Role.ADMIN)
    second = MembershipFactory(user=first.user, role=Membership.Role.MEMBER)
    user = first.user

    # when
    _sign_in(client, user.username, "wrong")
    _sign_in(client, user.username, PASSWORD)

    # then: each organization sees both, with who tried and from where
    for organization in (first.organization, second.organization):
        events = AuditEvent.objects.filter(organization=organization, action="user.sign_in")
        assert sorted(
            (e.outcome, e.reason_code, e.actor_name, e.target_name, e.client_address)
            for e in events
        ) == [
            ("failure", "wrong_credentials", "", user.username, "203.0.113.7"),
            ("success", "", user.username, user.username, "203.0.113.7"),
        ]
    assert "_auth_user_id" in client.session


def _sign_in(client, username, password, address="203.0.113.7"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


@pytest.mark.django_db
def test_after_five_failures_even_the_right_password_is_refused_with_a_clear_message(client):
    # given
    user = UserFactory()
    for _ in range(login_throttle.USERNAME_LIMIT):
        assert (
            "enter a correct username" in _sign_in(client, user.username, "wrong").content.decode()
        )

    # when
    refused = _sign_in(client, user.username, PASSWORD)
    again = _sign_in(client, user.username, PASSWORD)

    # then
    assert "Too many failed sign-in attempts. Wait 15 minutes" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert again.status_code == 200
    events = AuditEvent.objects.filter(action="user.sign_in").order_by("id")
    assert [e.reason_code for e in events] == ["wrong_credentials"] * 5 + ["throttled"]
    assert {(e.outcome, e.target_name, e.client_address) for e in events} == {
        ("failure", user.username, "203.0.113.7")
    }


@pytest.mark.django_db
def test_the_username_limit_holds_from_every_address(client):
    user = UserFactory()
    for n in range(login_throttle.USERNAME_LIMIT):
        _sign_in(client, user.username, "wrong", address=f"198.51.100.{n}")

    refused = _sign_in(client, user.username, PASSWORD, address="192.0.2.200")

    assert "Too many failed sign-in attempts" in refused.content.decode()


@pytest.mark.django_db
def test_the_address_limit_stops_guessing_across_usernames(client):
    # given: one failure each for many usernames from one address
    for n in range(login_throttle.ADDRESS_LIMIT):
        _sign_in(client, f"nobody{n}", "wrong")
    user = UserFactory()

    # when
    from_there = _sign_in(client, user.username, PASSWORD)
    from_elsewhere = _sign_in(client, user.username, PASSWORD, address="192.0.2.9")

    # then
    assert "Too many failed sign-in attempts" in from_there.content.decode()
    assert from_elsewhere.status_code == 302
    unknown = AuditEvent.objects.filter(reason_code="wrong_credentials").first()
    assert unknown.target_name == ""
    assert unknown.details == {"known_user": False, "method": "password"}


@pytest.mark.django_db
def test_signing_in_clears_the_usernames_failures(client):
    user = UserFactory()
    for _ in range(login_throttle.USERNAME_LIMIT - 1):
        _sign_in(client, user.username, "wrong")

    assert _sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(login_throttle.USERNAME_LIMIT - 1):
        _sign_in(client, user.username, "wrong")

    assert _sign_in(client, user.username, PASSWORD).status_code == 302
