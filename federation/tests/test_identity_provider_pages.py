"""The admin site's identity provider pages (SPEC §9) with the Django test client: add, see,
edit and delete a provider through the API's parser and idp's services, the API's messages
beside the fields, the client secret never sent back to the browser, administrators only,
CSRF. Issuers are the test identity provider's (tests/idp.py) on loopback HTTPS."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from federation import services
from federation.forms import IdentityProviderForm
from federation.models import IdentityProvider
from federation.tests.identity_providers import CLIENT_SECRET, oidc_issuer, registered_provider
from federation.tests.test_views import input_value
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory

TYPED_SECRET = "typed-in-the-form-4Rt"


def field_errors(response, field: str) -> list[str]:
    """The messages beside a field (includes/field.html)."""
    text = response.content.decode()
    box = re.search(rf'<div class="field-error" id="id_{field}_error">(.*?)</div>', text, re.S)
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", box[1], re.S)] if box else []


@pytest.fixture
def issuer(identity_provider):
    return oidc_issuer(identity_provider)


def pages(organization) -> str:
    return f"/{organization.slug}/portal_/identity-providers/"


def page_of(provider, action: str = "") -> str:
    return f"{pages(provider.organization)}{provider.pk}/{action}{'/' if action else ''}"


def form(issuer, **fields) -> dict:
    return {
        "name": "Google Workspace",
        "kind": "google",
        "issuer": issuer,
        "clientId": "1234.apps.googleusercontent.com",
        "clientSecret": CLIENT_SECRET,
        "scopes": "openid email profile",
        "allowedEmailDomains": "example.com\nexample.org",
        "provisioning": "jit_member",
        "enabled": "on",
        **fields,
    }


def test_the_navigation_leads_admins_to_an_empty_list(admin, organization):
    # when
    overview = admin.get(f"/{organization.slug}/portal_/")
    listed = admin.get(pages(organization))

    # then
    assert f'href="{pages(organization)}"' in overview.content.decode()
    assert listed.status_code == 200
    assert "No identity providers yet" in listed.content.decode()


def test_add_a_provider_and_land_on_its_page_with_the_redirect_uri(
    admin, admin_membership, organization, issuer
):
    # when
    response = admin.post(f"{pages(organization)}new/", form(issuer))

    # then
    provider = IdentityProvider.objects.get(organization=organization)
    assert response.status_code == 302
    assert response["Location"] == page_of(provider)
    assert provider.allowed_email_domains == ["example.com", "example.org"]
    assert provider.provisioning == "jit_member" and provider.kind == "google"
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert (event.actor_kind, event.actor_id) == ("user", str(admin_membership.user.pk))

    # when: its page
    shown = admin.get(page_of(provider)).content.decode()

    # then: the redirect URI to register at the provider, and never the secret
    assert f'value="http://testserver/accounts/idp/{provider.pk}/callback"' in shown
    assert "Set (stored encrypted, never shown)" in shown
    assert f'href="/accounts/idp/{provider.pk}/test">Test sign-in</a>' in shown
    assert "was added" in shown
    assert CLIENT_SECRET not in shown


def test_a_refusal_shows_the_apis_message_beside_the_field_and_never_the_typed_secret(
    admin, organization, issuer
):
    # when: no openid scope, and a secret typed
    response = admin.post(
        f"{pages(organization)}new/",
        form(issuer, scopes="email profile", clientSecret=TYPED_SECRET),
    )

    # then
    assert response.status_code == 200
    assert field_errors(response, "scopes") == [services.IDP_SCOPES_OPENID]
    assert input_value(response, "name") == "Google Workspace"
    assert input_value(response, "clientSecret") == ""
    assert TYPED_SECRET not in response.content.decode()
    assert not IdentityProvider.objects.exists()


def test_an_unreachable_issuer_is_explained_beside_the_field(
    admin, organization, identity_provider
):
    # given: the github issuer's discovery names no authorization endpoint
    issuer = identity_provider.issuer("github")

    # when
    response = admin.post(f"{pages(organization)}new/", form(issuer))

    # then
    [message] = field_errors(response, "issuer")
    assert "authorization_endpoint" in message
    assert f"{issuer}/.well-known/openid-configuration" in response.content.decode()


def test_the_break_glass_account_is_chosen_among_the_administrators(
    admin, admin_membership, organization, issuer
):
    # given
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user
    other_admin = MembershipFactory(organization=organization, role=Membership.Role.ADMIN).user

    # when
    page = admin.get(f"{pages(organization)}new/").content.decode()

    # then
    select = re.search(r'name="breakGlassUserName".*?</select>', page, re.S)[0]
    choices = re.findall(r'<option value="([^"]*)"', select)
    assert sorted(choices) == sorted(["", admin_membership.user.username, other_admin.username])
    assert member.username not in choices

    # when: enforced without one
    response = admin.post(f"{pages(organization)}new/", form(issuer, enforced="on"))

    # then
    assert field_errors(response, "breakGlassUserName") == [services.IDP_BREAK_GLASS_REQUIRED]

    # when: with one
    response = admin.post(
        f"{pages(organization)}new/",
        form(issuer, enforced="on", breakGlassUserName=other_admin.username),
    )

    # then
    assert response.status_code == 302
    provider = IdentityProvider.objects.get()
    assert provider.enforced and provider.break_glass_user == other_admin


def test_the_members_page_explains_why_the_break_glass_admin_stays_one(admin, organization, issuer):
    # given: another admin is the break-glass account of the enforced provider
    other_admin = MembershipFactory(organization=organization, role=Membership.Role.ADMIN).user
    admin.post(
        f"{pages(organization)}new/",
        form(issuer, enforced="on", breakGlassUserName=other_admin.username),
    )

    # when
    demoted = admin.post(
        reverse("org-members-role", args=[organization.slug, other_admin.pk]),
        {"role": "member"},
        follow=True,
    )
    removed = admin.post(
        reverse("org-members-remove", args=[organization.slug, other_admin.pk]),
        {"confirmed": "yes"},
        follow=True,
    )

    # then
    message = (
        f"“{other_admin.username}” is the break-glass administrator of the identity provider "
        "“Google Workspace”: name another one there first."
    )
    for response in (demoted, removed):
        assert message in html.unescape(response.content.decode())
    assert Membership.objects.get(organization=organization, user=other_admin).role == "admin"


def test_edit_keeps_the_secret_when_left_blank_and_replaces_it_when_typed(
    admin, organization, issuer
):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)

    # when: the edit form
    shown = admin.get(page_of(provider, "edit"))

    # then: every value but the secret
    assert input_value(shown, "issuer") == issuer
    assert input_value(shown, "clientSecret") == ""
    assert "Leave blank to keep the stored secret" in shown.content.decode()
    assert CLIENT_SECRET not in shown.content.decode()

    # when: saved with the secret left blank
    saved = admin.post(page_of(provider, "edit"), form(issuer, name="Renamed", clientSecret=""))

    # then
    assert saved.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Renamed"
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET

    # when: a new secret
    admin.post(page_of(provider, "edit"), form(issuer, clientSecret=TYPED_SECRET))

    # then
    provider.refresh_from_db()
    assert services.identity_provider_client_secret(provider) == TYPED_SECRET
    event = AuditEvent.objects.filter(action="identity_provider.updated").first()
    assert "client_secret" in event.details["changed"]
    assert TYPED_SECRET not in str(event.details)


def test_delete_asks_first_then_deletes(admin, organization, issuer):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)

    # when: not confirmed (no JavaScript)
    asked = admin.post(page_of(provider, "delete"))

    # then
    assert asked.status_code == 200
    assert 'name="confirmed" value="yes"' in asked.content.decode()
    assert IdentityProvider.objects.exists()

    # when: confirmed
    done = admin.post(page_of(provider, "delete"), {"confirmed": "yes"})

    # then
    assert done.status_code == 302 and done["Location"] == pages(organization)
    assert not IdentityProvider.objects.exists()
    assert AuditEvent.objects.filter(action="identity_provider.deleted").exists()


def test_members_are_refused_every_page_and_see_no_link(organization, issuer):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)
    member = Client()
    member.force_login(MembershipFactory(organization=organization, role="member").user)

    # when / then
    overview = member.get(f"/{organization.slug}/portal_/").content.decode()
    assert pages(organization) not in overview
    for url in (
        pages(organization),
        f"{pages(organization)}new/",
        page_of(provider),
        page_of(provider, "edit"),
    ):
        assert member.get(url).status_code == 403, url
        assert member.post(url, form(issuer)).status_code == 403, url
    assert member.post(page_of(provider, "delete"), {"confirmed": "yes"}).status_code == 403
    assert IdentityProvider.objects.count() == 1


def test_another_organizations_admin_and_visitors(
    client, organization, other_admin_membership, issuer
):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)
    stranger = Client()
    stranger.force_login(other_admin_membership.user)

    # when / then: the same 404 as a missing page; visitors are sent to sign in
    assert stranger.get(page_of(provider)).status_code == 404
    own_pages = f"/{other_admin_membership.organization.slug}/portal_/identity-providers/"
    assert stranger.get(f"{own_pages}{provider.pk}/").status_code == 404
    visitor = client.get(page_of(provider))
    assert visitor.status_code == 302 and visitor["Location"].startswith("/accounts/login/")


def test_a_post_without_the_csrf_token_is_refused(admin_membership, organization, issuer):
    # given
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_membership.user)

    # when
    response = browser.post(f"{pages(organization)}new/", form(issuer))

    # then
    assert response.status_code == 403
    assert not IdentityProvider.objects.exists()


@pytest.mark.parametrize(
    ("kind", "issuer", "sent"),
    [
        pytest.param("google", "", "https://accounts.google.com", id="google, left empty"),
        pytest.param("google", "https://x.example", "https://x.example", id="google, typed"),
        pytest.param("entra", "", None, id="entra has no one issuer"),
    ],
)
def test_the_form_sends_googles_issuer_when_left_empty(kind, issuer, sent):
    # given
    data = {"name": "SSO", "kind": kind, "issuer": issuer, "clientId": "c"}

    # when
    body = IdentityProviderForm(data).api_data()

    # then
    assert body.get("issuer") == sent
    assert body["allowedEmailDomains"] == [] and body["breakGlassUserName"] is None
