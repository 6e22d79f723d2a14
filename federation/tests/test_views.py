"""The admin site's pages of external applications, their secrets and federated credentials,
with the Django test client: each form's success and error paths, the API's messages word
for word (the page and the API are asked the same thing and their answers compared), the
roles, and another organization's objects. Issuers are the test identity provider's."""

import html
import re

import pytest
from django.test import Client

from federation.models import CREDENTIALS_PER_APP, ExternalApp, FederatedCredential
from federation.services import federated_credential_create
from federation.tests.factories import external_app, stored_credential
from federation.tests.issuer_causes import CAUSES
from identity_server.models import ClientSecret
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import Api, token_request
from tenants.models import AuditEvent
from tenants.tests.factories import MembershipFactory

API = "/identity_/api/ExternalClient"


# --- reading a page ------------------------------------------------------------------------


def field_errors(response, field: str) -> list[str]:
    """The messages shown beside a field (includes/field.html; the scopes' fieldset)."""
    element_id = f"{field}_error" if field in ("scopes", "userScopes") else f"id_{field}_error"
    match = re.search(
        rf'<div class="field-error" id="{element_id}">(.*?)</div>', _text(response), re.S
    )
    return _paragraphs(match.group(1)) if match else []


def form_errors(response) -> list[str]:
    """The messages at the top of the form (errors that belong to no field)."""
    match = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', _text(response), re.S)
    return _paragraphs(match.group(1)) if match else []


def _text(response) -> str:
    return response.content.decode()


def _paragraphs(fragment: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", fragment, re.S)]


def input_value(response, name: str) -> str | None:
    """What the input (or textarea) called `name` holds; None when there is none."""
    text = _text(response)
    tag = re.search(rf'<input[^>]* name="{name}"[^>]*>', text)
    if tag is None:
        area = re.search(rf'<textarea[^>]* name="{name}"[^>]*>\n?(.*?)</textarea>', text, re.S)
        return html.unescape(area.group(1)) if area else None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else ""


def shown_secret(response) -> str:
    """The plaintext in the show-once box (includes/secret_once.html)."""
    return re.search(r'id="secret-once-value"[^>]*value="(idsec_[^"]+)"', _text(response))[1]


def checked_scopes(response) -> set[str]:
    return set(re.findall(r'name="scopes" value="([^"]+)"[^>]*checked', _text(response)))


def shown_like_the_api(page, api_errors: dict, *, form_keys=("",)) -> None:
    """Every message the API answered is on the page, beside the field of the same name
    (keys in `form_keys` at the top of the form), and nothing else is."""
    for key, messages in api_errors.items():
        shown = form_errors(page) if key in form_keys else field_errors(page, key)
        assert shown == messages, key


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def member(organization):
    reader = Client()
    reader.force_login(MembershipFactory(organization=organization, role="member").user)
    return reader


@pytest.fixture
def api(client, issue_token, organization):
    """A script with a token for the same APIs, asked the same things as the pages."""
    script, secret = client_with_secret(
        organization=organization, scopes=("PM.OAuthApp", "PM.OAuthAppSecret"), name="Script"
    )
    return Api(Client(), issue_token(script, secret))


@pytest.fixture
def app(organization):
    return external_app(organization=organization, scopes=("OR.Machines.Read",))[0]


@pytest.fixture
def github(identity_provider):
    return {
        "name": "GitHub Actions",
        "description": "Deploys from main",
        "issuer": identity_provider.issuer("github"),
        "audience": "https://id.example.com/acme",
        "subject": "repo:acme/deploy:ref:refs/heads/main",
    }


def apps_url(organization, *parts) -> str:
    return "/".join([f"/{organization.slug}/portal_/apps", *map(str, parts)]) + "/"


def app_url(app, *parts) -> str:
    return apps_url(app.organization, app.client.client_id, *parts)


def credentials_api(app) -> str:
    return f"{API}/{app.organization.global_id}/{app.client.client_id}/FederatedCredentials"


def new_app_form(**fields) -> dict:
    return {"name": "Deployments", "isConfidential": "on", "redirectUris": "", **fields}


# --- external applications ------------------------------------------------------------------


def test_the_list_shows_the_organizations_applications_and_an_empty_state(
    admin, organization, other_admin_membership
):
    # given: nothing yet
    empty = admin.get(apps_url(organization))
    assert "No external applications yet" in _text(empty)
    assert f'href="{apps_url(organization, "new")}"' in _text(empty)

    # given: one here, one elsewhere
    mine = external_app(organization=organization, name="Deployments")[0]
    external_app(organization=other_admin_membership.organization, name="Elsewhere")

    # when
    page = admin.get(apps_url(organization))

    # then
    assert page.status_code == 200
    assert "Deployments" in _text(page) and mine.client.client_id in _text(page)
    assert "Elsewhere" not in _text(page)


def test_creating_a_confidential_application_shows_its_first_secret_once(
    admin, admin_membership, organization
):
    # when
    response = admin.post(
        apps_url(organization, "new"), new_app_form(scopes=["OR.Machines.Read", "PM.OAuthApp"])
    )

    # then: a redirect (Post/Redirect/Get) to its page, which carries the secret, marked
    # never to be stored, and it works
    app = ExternalApp.objects.get(organization=organization)
    assert (response.status_code, response["Location"]) == (303, app_url(app))
    shown = admin.get(app_url(app))
    assert "no-store" in shown["Cache-Control"]
    assert app.client.scopes == ["OR.Machines.Read", "PM.OAuthApp"]
    assert app.client.is_confidential
    secret = shown_secret(shown)
    assert token_request(Client(), app.client.client_id, secret).status_code == 200
    assert "This is the only time it is shown" in _text(shown)
    # ...and the application's page, reloaded, never shows it again; no second application
    assert secret not in _text(admin.get(app_url(app)))
    assert ExternalApp.objects.filter(organization=organization).count() == 1
    event = AuditEvent.objects.get(action="external_app.create")
    assert (event.actor_kind, event.actor_name) == ("user", admin_membership.user.username)


def test_the_application_page_says_how_to_connect(admin, app):
    page = html.unescape(_text(admin.get(app_url(app))))

    for value in (
        "http://127.0.0.1:8000/identity_/connect/token",
        "http://127.0.0.1:8000/identity_/.well-known/openid-configuration/jwks",
        str(app.organization.global_id),
        app.client.client_id,
        '"client_secret": os.environ["CLIENT_SECRET"]',
        "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ):
        assert value in page


def test_creating_a_public_application_goes_to_its_page_without_secrets(admin, organization):
    response = admin.post(apps_url(organization, "new"), new_app_form(isConfidential=""))

    app = ExternalApp.objects.get(organization=organization)
    assert response.status_code == 302
    assert response.url == app_url(app)
    page = admin.get(response.url)
    assert not app.client.is_confidential
    assert "Public: has no client secrets" in _text(page)
    assert "Generate secret" not in _text(page)


def test_the_create_form_offers_the_catalogue_grouped_by_resource(admin, organization):
    page = _text(admin.get(apps_url(organization, "new")))

    for resource in ("Orchestrator", "Platform management", "Identity"):
        assert f"<legend>{resource}</legend>" in page
    assert 'value="OR.Machines.Read"' in page and 'value="PM.OAuthAppSecret.Write"' in page


@pytest.mark.parametrize(
    ("form", "body"),
    [
        pytest.param({"name": ""}, {"name": ""}, id="blank name"),
        pytest.param({"name": "n" * 129}, {"name": "n" * 129}, id="name too long"),
        pytest.param({"scopes": ["OR.Nope"]}, {"scopes": ["OR.Nope"]}, id="unknown scope"),
        pytest.param(
            {"redirectUris": "https://a.example/" + "r" * 2049},
            {"redirectUris": ["https://a.example/" + "r" * 2049]},
            id="redirect too long",
        ),
        pytest.param(
            {"redirectUris": "http://app.example/cb"},
            {"redirectUris": ["http://app.example/cb"]},
            id="redirect not https",
        ),
        pytest.param(
            {"allowedCorsOrigins": "https://spa.example/"},
            {"allowedCorsOrigins": ["https://spa.example/"]},
            id="origin with a path",
        ),
        pytest.param(
            {"backchannelLogoutUri": "http://rp.example/logout"},
            {"backchannelLogoutUri": "http://rp.example/logout"},
            id="back-channel logout not https",
        ),
        pytest.param(
            {"userScopes": ["OR.Robots.Read"]},
            {"scopes": [{"name": "OR.Robots.Read", "type": "user"}], "redirectUris": []},
            id="user scopes without a redirect URI",
        ),
    ],
)
def test_create_refuses_what_the_api_refuses_in_its_words_and_keeps_the_input(
    admin, api, organization, form, body
):
    # given
    api_answer = api.post(
        API, {"partitionGlobalId": str(organization.global_id), "name": "A", **body}
    )
    assert api_answer.status_code == 400

    # when
    fields = new_app_form(scopes=["OR.Robots.Read"])
    page = admin.post(apps_url(organization, "new"), {**fields, **form})

    # then
    assert page.status_code == 200
    shown_like_the_api(page, api_answer.json()["errors"])
    assert input_value(page, "name") == {**fields, **form}["name"]
    assert checked_scopes(page) == set({**fields, **form}["scopes"]) & {"OR.Robots.Read"}
    assert ExternalApp.objects.filter(organization=organization).count() == 0


def test_create_shows_the_exact_blank_name_message(admin, organization):
    page = admin.post(apps_url(organization, "new"), new_app_form(name="", scopes=["OR.Robots"]))

    assert field_errors(page, "name") == ["This field may not be blank."]
    assert checked_scopes(page) == {"OR.Robots"}
    assert 'aria-invalid="true"' in _text(page)


def test_editing_changes_name_and_scopes_and_keeps_the_type(admin, app):
    # given
    form = admin.get(app_url(app, "edit"))
    assert input_value(form, "name") == app.name
    assert checked_scopes(form) == {"OR.Machines.Read"}
    assert 'name="isConfidential"' not in _text(form)

    # when
    response = admin.post(
        app_url(app, "edit"), {"name": "Releases", "redirectUris": "", "scopes": ["OR.Robots"]}
    )

    # then
    assert response.status_code == 302 and response.url == app_url(app)
    app.refresh_from_db()
    app.client.refresh_from_db()
    assert (app.name, app.client.scopes, app.client.is_confidential) == (
        "Releases",
        ["OR.Robots"],
        True,
    )
    assert "The application was saved." in _text(admin.get(response.url))


def test_an_application_that_signs_users_in_is_created_edited_and_shown(admin, organization):
    # when
    response = admin.post(
        apps_url(organization, "new"),
        new_app_form(
            isConfidential="",
            userScopes=["openid", "OR.Robots.Read"],
            redirectUris="https://spa.example/signed-in\r\nhttp://localhost/cb\r\n",
            postLogoutRedirectUris="https://spa.example/",
            allowedCorsOrigins="https://spa.example",
            backchannelLogoutUri="https://spa.example/backchannel",
        ),
    )

    # then
    app = ExternalApp.objects.get(organization=organization)
    assert response.status_code == 302, _text(response)
    assert app.client.user_scopes == ["OR.Robots.Read", "openid"]
    assert app.client.redirect_uris == "https://spa.example/signed-in http://localhost/cb"
    assert app.client.backchannel_logout_uri == "https://spa.example/backchannel"
    page = _text(admin.get(app_url(app)))
    for shown in (
        "User scopes",
        "https://spa.example/signed-in",
        "https://spa.example/backchannel",
    ):
        assert shown in page
    form = admin.get(app_url(app, "edit"))
    assert input_value(form, "redirectUris") == "https://spa.example/signed-in\nhttp://localhost/cb"
    assert input_value(form, "allowedCorsOrigins") == "https://spa.example"
    assert set(re.findall(r'name="userScopes" value="([^"]+)"[^>]*checked', _text(form))) == {
        "openid",
        "OR.Robots.Read",
    }

    # when: the redirect URIs are emptied while user scopes remain
    refused = admin.post(
        app_url(app, "edit"),
        {"name": app.name, "userScopes": ["openid"], "redirectUris": ""},
    )

    # then
    assert refused.status_code == 200
    assert "needs at least one redirect URI" in field_errors(refused, "redirectUris")[0]


def test_editing_refuses_a_blank_name_like_the_api(admin, api, app):
    api_answer = api.put(
        f"{API}/{app.organization.global_id}/{app.client.client_id}", {"name": " "}
    )

    page = admin.post(app_url(app, "edit"), {"name": " ", "scopes": ["OR.Robots"]})

    assert page.status_code == 200
    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "name") == ["This field may not be blank."]
    assert checked_scopes(page) == {"OR.Robots"}
    app.refresh_from_db()
    assert app.name == "Deployments"


def test_deleting_an_application_asks_first_then_deletes_it_and_its_secrets(admin, organization):
    # given: the application and its secret, and an unrelated one
    app, plaintext = external_app(organization=organization)
    other = external_app(organization=organization, name="Other")[0]
    client_id = app.client.client_id

    # when: not confirmed (no JavaScript)
    asked = admin.post(app_url(app, "delete"))

    # then: a confirmation page, nothing deleted
    assert asked.status_code == 200
    assert "Delete the application “Deployments”?" in _text(asked)
    assert 'name="confirmed" value="yes"' in _text(asked)
    assert ExternalApp.objects.filter(pk=app.pk).exists()

    # when: confirmed
    done = admin.post(app_url(app, "delete"), {"confirmed": "yes"})

    # then
    assert done.status_code == 302 and done.url == apps_url(organization)
    assert not ExternalApp.objects.filter(pk=app.pk).exists()
    assert ExternalApp.objects.filter(pk=other.pk).exists()
    assert token_request(Client(), client_id, plaintext).status_code == 401
    assert "The application “Deployments” was deleted." in _text(admin.get(done.url))
    event = AuditEvent.objects.get(action="external_app.delete")
    assert event.actor_kind == "user" and event.details["client_id"] == client_id


# --- client secrets -------------------------------------------------------------------------


def test_the_detail_page_lists_secrets_without_their_plaintext(admin, organization):
    app, plaintext = external_app(organization=organization)

    page = _text(admin.get(app_url(app)))

    secret = app.client.secrets.get()
    assert app.client.client_id in page
    assert f"{secret.prefix}…" in page
    assert plaintext not in page
    assert "Platform management" in page and "PM.OAuthApp" in page
    assert "Never" in page  # not used yet, does not expire


def test_generating_a_secret_shows_it_once_and_it_works(admin, app):
    # when
    response = admin.post(app_url(app, "secrets"), {"description": "CI 2027", "expiryTime": ""})

    # then: shown once on the page the answer redirects to
    assert (response.status_code, response["Location"]) == (303, app_url(app))
    shown = admin.get(app_url(app))
    assert "no-store" in shown["Cache-Control"]
    plaintext = shown_secret(shown)
    assert token_request(Client(), app.client.client_id, plaintext).status_code == 200
    secret = app.client.secrets.get(description="CI 2027")
    assert plaintext.startswith(secret.prefix)
    assert plaintext not in _text(admin.get(app_url(app)))
    assert AuditEvent.objects.get(action="client_secret.create", details__secret_id=secret.pk)


def test_the_generated_secrets_address_reloaded_is_the_application_page(admin, app):
    # given: a new secret, shown
    url = app_url(app, "secrets")
    plaintext = shown_secret(admin.post(url, {"description": "CI", "expiryTime": ""}, follow=True))

    # when: that address is opened again (reloaded, bookmarked)
    response = admin.get(url, follow=True)

    # then: the application's page, without the secret, and nothing generated
    assert response.redirect_chain == [(app_url(app), 302)]
    assert plaintext not in _text(response)
    assert app.client.secrets.count() == 2  # the factory's and the one generated


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"expiryTime": "2020-01-01T00:00"}, id="expiry in the past"),
        pytest.param({"expiryTime": "next tuesday"}, id="expiry not a date"),
        pytest.param({"description": "d" * 513}, id="description too long"),
    ],
)
def test_generating_a_secret_refuses_what_the_api_refuses_in_its_words(admin, api, app, body):
    # given
    api_body = {
        "clientId": app.client.client_id,
        "partitionGlobalId": str(app.organization.global_id),
    }
    api_answer = api.post(f"{API}/GenerateSecret", {**api_body, **body})
    assert api_answer.status_code == 400

    # when
    page = admin.post(app_url(app, "secrets"), {"description": "", "expiryTime": "", **body})

    # then
    shown_like_the_api(page, api_answer.json()["errors"])
    assert "secret-once-value" not in _text(page)
    assert input_value(page, "expiryTime") == body.get("expiryTime", "")
    assert app.client.secrets.count() == 1


def test_a_past_expiry_is_refused_beside_the_field(admin, app):
    page = admin.post(
        app_url(app, "secrets"), {"description": "x", "expiryTime": "2020-01-01T00:00"}
    )

    assert field_errors(page, "expiryTime") == ["Must be in the future."]


def test_deleting_a_secret_asks_first_then_it_stops_working(admin, organization):
    # given
    app, plaintext = external_app(organization=organization)
    secret = app.client.secrets.get()
    url = app_url(app, "secrets", secret.pk, "delete")

    # when / then: asked first
    assert "Delete the secret" in _text(admin.post(url))
    assert ClientSecret.objects.filter(pk=secret.pk).exists()

    # when / then: confirmed
    done = admin.post(url, {"confirmed": "yes"})
    assert done.status_code == 302 and done.url == app_url(app)
    assert not ClientSecret.objects.filter(pk=secret.pk).exists()
    assert token_request(Client(), app.client.client_id, plaintext).status_code == 401


def test_another_applications_secret_is_not_found_here(admin, organization):
    app = external_app(organization=organization)[0]
    other = external_app(organization=organization, name="Other")[0]
    foreign_secret = other.client.secrets.get()

    response = admin.post(
        app_url(app, "secrets", foreign_secret.pk, "delete"), {"confirmed": "yes"}
    )

    assert response.status_code == 404
    assert ClientSecret.objects.filter(pk=foreign_secret.pk).exists()


# --- federated credentials ------------------------------------------------------------------


def test_adding_a_credential_checks_the_issuer_and_lists_it(admin, admin_membership, app, github):
    # when
    response = admin.post(app_url(app, "credentials", "new"), github)

    # then
    assert response.status_code == 302 and response.url == app_url(app, "credentials")
    credential = FederatedCredential.objects.get(app=app)
    assert (credential.issuer, credential.subject) == (github["issuer"], github["subject"])
    page = _text(admin.get(response.url))
    assert "The federated credential “GitHub Actions” was added." in page
    assert f'id="credential-{credential.pk}"' in page
    assert github["subject"] in page and github["issuer"] in page
    assert "1 of at most 20" in page
    event = AuditEvent.objects.get(action="federated_credential.create")
    assert (event.actor_kind, event.actor_name) == ("user", admin_membership.user.username)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": ""}, "name", id="blank name"),
        pytest.param({"name": "n" * 129}, "name", id="name too long"),
        pytest.param({"description": "d" * 513}, "description", id="description too long"),
        pytest.param({"issuer": "http://token.example"}, "issuer", id="http issuer"),
        pytest.param({"issuer": "token.example"}, "issuer", id="issuer without scheme"),
        pytest.param({"issuer": "https://token.example/?a=1"}, "issuer", id="issuer with query"),
        pytest.param({"audience": ""}, "audience", id="blank audience"),
        pytest.param({"subject": " repo:acme/deploy "}, "subject", id="subject with blanks"),
    ],
)
def test_adding_refuses_what_the_api_refuses_in_its_words_and_keeps_the_input(
    admin, api, app, github, changes, field
):
    # given
    body = {**github, **changes}
    api_answer = api.post(credentials_api(app), body)
    assert api_answer.status_code == 400
    assert field in api_answer.json()["errors"]

    # when
    page = admin.post(app_url(app, "credentials", "new"), body)

    # then
    assert page.status_code == 200
    shown_like_the_api(page, api_answer.json()["errors"])
    for name in ("name", "issuer", "audience", "subject"):
        assert input_value(page, name) == body[name], name
    assert not FederatedCredential.objects.filter(app=app).exists()


def test_a_taken_name_is_refused_like_the_api(admin, api, app, github):
    federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    body = {**github, "name": "github actions"}
    api_answer = api.post(credentials_api(app), body)

    page = admin.post(app_url(app, "credentials", "new"), body)

    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "name") == [
        "A federated credential with this name already exists in this application."
    ]


@pytest.mark.parametrize("cause", CAUSES)
def test_a_refused_issuer_shows_its_precise_cause_beside_the_field(
    admin, api, app, github, identity_provider, settings, cause
):
    # given
    body = {**github, "issuer": cause.provoke(identity_provider, settings) or github["issuer"]}
    api_answer = api.post(credentials_api(app), body)

    # when
    page = admin.post(app_url(app, "credentials", "new"), body)

    # then: the API's precise message beside the field, word for word, the input kept
    assert api_answer.json()["errors"] == {"issuer": [cause.message(identity_provider)]}
    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "issuer") == [cause.message(identity_provider)]
    assert input_value(page, "issuer") == body["issuer"]
    failure = AuditEvent.objects.get(
        action="federated_credential.create", outcome="failure", actor_kind="user"
    )
    assert failure.reason_code == cause.reason


def test_the_page_says_which_address_it_read(admin, app, github, identity_provider):
    identity_provider.discovery_issuer("github", "https://elsewhere.example")

    page = admin.post(app_url(app, "credentials", "new"), github)

    text = html.unescape(_text(page))
    guidance = text[text.index('id="issuer-guidance"') :]
    assert f"{github['issuer']}/.well-known/openid-configuration" in guidance


def test_a_hostile_issuer_value_cannot_inject_markup(admin, app, github, identity_provider):
    identity_provider.discovery_issuer("github", "<script>alert(1)</script>\u202e")

    page = admin.post(app_url(app, "credentials", "new"), github)

    assert "<script>alert(1)" not in _text(page)
    assert field_errors(page, "issuer") == [
        "The discovery document's issuer is `<script>alert(1)</script>\\u202e`, not "
        f"`{github['issuer']}`."
    ]


def test_the_guidance_appears_only_when_the_issuer_check_failed(admin, app, github):
    page = admin.post(app_url(app, "credentials", "new"), {**github, "issuer": "http://x.example"})

    assert field_errors(page, "issuer") == ["The issuer must be an https:// URI."]
    assert 'id="issuer-guidance"' not in _text(page)


def test_the_twenty_first_credential_is_refused_with_the_limit_message(
    admin, api, app, github, identity_provider
):
    # given
    for number in range(CREDENTIALS_PER_APP):
        stored_credential(app=app, name=f"Credential {number}", subject=f"repo:a/b:env:{number}")
    api_answer = api.post(credentials_api(app), github)
    assert api_answer.status_code == 400

    # when
    page = admin.post(app_url(app, "credentials", "new"), github)
    listing = _text(admin.get(app_url(app, "credentials")))

    # then: on top of the form, as the API says it, and no issuer fetched for either; the
    # list says so and offers no "Add"
    message = "An application has at most 20 federated credentials; delete one first."
    shown_like_the_api(page, api_answer.json()["errors"], form_keys=("federatedCredentials",))
    assert form_errors(page) == [message]
    assert identity_provider.requests_served == 0
    assert message in listing
    assert app_url(app, "credentials", "new") not in listing
    assert FederatedCredential.objects.filter(app=app).count() == CREDENTIALS_PER_APP


def test_a_public_application_is_refused_a_credential_on_top_of_the_form(
    admin, api, organization, github, identity_provider
):
    # given
    public, _ = external_app(organization=organization, confidential=False, name="SPA")
    api_answer = api.post(credentials_api(public), github)

    # when
    page = admin.post(app_url(public, "credentials", "new"), github)
    listing = _text(admin.get(app_url(public, "credentials")))

    # then
    message = (
        "A public (non-confidential) application cannot have federated credentials: only a "
        "confidential client may use the client credentials grant (RFC 6749 §4.4). Use a "
        "confidential application."
    )
    assert api_answer.json()["errors"] == {"federatedCredentials": [message]}
    assert form_errors(page) == [message]
    assert html.unescape(listing).count(message) == 1
    assert app_url(public, "credentials", "new") not in listing
    assert identity_provider.requests_served == 0
    assert not FederatedCredential.objects.exists()


def test_the_same_issuer_subject_and_audience_are_refused_beside_the_subject(
    admin, api, app, github
):
    federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    body = {**github, "name": "Again"}
    api_answer = api.post(credentials_api(app), body)

    page = admin.post(app_url(app, "credentials", "new"), body)

    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "subject") == [
        "Another federated credential of this application already has this issuer, subject "
        "and audience."
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param(
            "name",
            "Deploy\u202egnp.exe",
            "Must not contain Unicode bidirectional formatting characters; found U+202E "
            "RIGHT-TO-LEFT OVERRIDE.",
            id="name with a right-to-left override",
        ),
        pytest.param(
            "name",
            "Deploy\u2066prod",
            "Must not contain Unicode bidirectional formatting characters; found U+2066 "
            "LEFT-TO-RIGHT ISOLATE.",
            id="name with an isolate",
        ),
        pytest.param(
            "description",
            "Deploys\x1b[31m red",
            "Must not contain control characters other than line breaks and tabs; found U+001B.",
            id="description with an escape sequence",
        ),
    ],
)
def test_unsafe_characters_are_refused_beside_the_field_like_the_api(
    admin, api, app, github, field, value, message
):
    body = {**github, field: value}
    api_answer = api.post(credentials_api(app), body)

    page = admin.post(app_url(app, "credentials", "new"), body)

    assert api_answer.json()["errors"] == {field: [message]}
    assert field_errors(page, field) == [message]
    assert not FederatedCredential.objects.exists()


def test_a_description_typed_on_several_lines_is_kept(admin, app, github):
    response = admin.post(
        app_url(app, "credentials", "new"), {**github, "description": "Deploys main.\r\nOwner: ops"}
    )

    assert response.status_code == 302
    assert FederatedCredential.objects.get().description == "Deploys main.\r\nOwner: ops"


def test_an_application_name_with_a_line_break_is_refused_like_the_api(admin, api, organization):
    body = new_app_form(name="Deploy\r\nprod")

    page = admin.post(apps_url(organization, "new"), body)

    assert field_errors(page, "name") == [
        "Must not contain control characters (line breaks, tabs, NUL and the like); found "
        "U+000D CARRIAGE RETURN."
    ]
    assert not ExternalApp.objects.filter(organization=organization).exists()


def test_editing_a_credential_saves_every_field(admin, app, github, identity_provider):
    credential = federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    url = app_url(app, "credentials", credential.pk, "edit")
    form = admin.get(url)
    for field in ("name", "issuer", "audience", "subject"):
        assert input_value(form, field) == github[field], field
    assert input_value(form, "description") == github["description"]

    changed = {
        "name": "Cluster runner",
        "description": "",
        "issuer": identity_provider.issuer("k8s"),
        "audience": "https://id.example.com/cluster",
        "subject": "system:serviceaccount:ci:runner",
    }
    response = admin.post(url, changed)

    assert response.status_code == 302
    credential.refresh_from_db()
    assert {field: getattr(credential, field) for field in changed} == changed
    event = AuditEvent.objects.get(action="federated_credential.update")
    assert event.actor_kind == "user"
    assert set(event.details) >= set(changed)


def test_editing_refuses_like_the_api_and_keeps_the_input(admin, api, app, github):
    credential = federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    body = {**github, "audience": "", "subject": "changed"}
    api_answer = api.put(f"{credentials_api(app)}/{credential.pk}", body)

    page = admin.post(app_url(app, "credentials", credential.pk, "edit"), body)

    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "audience") == ["This field may not be blank."]
    assert input_value(page, "subject") == "changed"
    credential.refresh_from_db()
    assert credential.subject == github["subject"]


def test_deleting_a_credential_asks_first(admin, app):
    credential = stored_credential(app=app)
    url = app_url(app, "credentials", credential.pk, "delete")

    asked = admin.post(url)
    assert "Delete the federated credential “GitHub Actions”?" in _text(asked)
    assert FederatedCredential.objects.filter(pk=credential.pk).exists()

    done = admin.post(url, {"confirmed": "yes"})
    assert done.status_code == 302 and done.url == app_url(app, "credentials")
    assert not FederatedCredential.objects.filter(pk=credential.pk).exists()
    assert AuditEvent.objects.get(action="federated_credential.delete").actor_kind == "user"


def test_another_applications_credential_is_not_found_under_this_one(admin, organization):
    app = external_app(organization=organization)[0]
    other = external_app(organization=organization, name="Other")[0]
    credential = stored_credential(app=other)

    for suffix in ("edit", "delete"):
        response = admin.post(
            app_url(app, "credentials", credential.pk, suffix), {"confirmed": "yes"}
        )
        assert response.status_code == 404
    assert FederatedCredential.objects.filter(pk=credential.pk).exists()


# --- evaluate --------------------------------------------------------------------------------


def test_evaluate_shows_each_check_with_the_near_miss_hint_and_writes_nothing(
    admin, app, github, identity_provider
):
    # given: a credential, and a token whose subject differs only in case
    credential = federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    token = identity_provider.mint(
        "github", claims={"sub": github["subject"].upper(), "aud": github["audience"]}
    )
    events = AuditEvent.objects.count()

    # when
    page = admin.post(app_url(app, "credentials", "evaluate"), {"assertion": token})

    # then
    text = html.unescape(_text(page))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "No credential accepts this token" in text
    row = re.search(r'<tr class="check-failed">(.*?)</tr>', text, re.S).group(1)
    assert "Subject" in row and "Failed" in row
    assert "They differ only in upper/lower case; the comparison is exact." in row
    assert text.count('<tr class="check-passed">') == 3 + 4  # size, format, algorithm; the rest
    assert AuditEvent.objects.count() == events
    credential.refresh_from_db()
    assert credential.last_used_at is None


def test_evaluate_accepts_a_matching_token(admin, app, github, identity_provider):
    federated_credential_create(app=app, actor=TEST_ACTOR, **github)
    token = identity_provider.mint(
        "github", claims={"sub": github["subject"], "aud": github["audience"]}
    )

    text = html.unescape(
        _text(admin.post(app_url(app, "credentials", "evaluate"), {"assertion": token}))
    )

    assert "through “GitHub Actions”" in text
    assert "check-failed" not in text


def test_evaluate_refuses_a_blank_token_like_the_api(admin, api, app):
    api_answer = api.post(f"{credentials_api(app)}/evaluate", {"assertion": ""})

    page = admin.post(app_url(app, "credentials", "evaluate"), {"assertion": ""})

    shown_like_the_api(page, api_answer.json()["errors"])
    assert field_errors(page, "assertion") == ["This field may not be blank."]


def test_evaluate_reports_a_token_that_is_not_a_jwt(admin, app):
    stored_credential(app=app)

    text = html.unescape(
        _text(admin.post(app_url(app, "credentials", "evaluate"), {"assertion": "not-a-jwt"}))
    )

    assert "A JWT has three dot-separated parts." in text
    assert "not-a-jwt" in text  # kept in the field, to correct it


# --- roles and organizations ----------------------------------------------------------------


def test_a_member_reads_every_page_without_write_controls(member, app):
    credential = stored_credential(app=app)

    pages = [apps_url(app.organization), app_url(app), app_url(app, "credentials")]
    texts = [_text(member.get(url)) for url in pages]

    assert "Deployments" in texts[0]
    assert app.client.client_id in texts[1]
    assert credential.subject in texts[2]
    for text in texts:
        assert text.count('method="post"') == 1  # signing out, in the header
        assert "Create an application" not in text
        assert "Generate secret" not in text and ">Edit" not in text
    assert "Administrators can paste a workload's token here" in html.unescape(texts[2])


def test_a_member_is_refused_every_write(member, app):
    credential = stored_credential(app=app)
    secret = app.client.secrets.get()
    writes = [
        apps_url(app.organization, "new"),
        app_url(app, "edit"),
        app_url(app, "delete"),
        app_url(app, "secrets"),
        app_url(app, "secrets", secret.pk, "delete"),
        app_url(app, "credentials", "new"),
        app_url(app, "credentials", "evaluate"),
        app_url(app, "credentials", credential.pk, "edit"),
        app_url(app, "credentials", credential.pk, "delete"),
    ]

    for url in writes:
        assert member.post(url, {"name": "x", "confirmed": "yes"}).status_code == 403, url
    assert ExternalApp.objects.filter(pk=app.pk).exists()
    assert FederatedCredential.objects.filter(pk=credential.pk).exists()
    assert ClientSecret.objects.filter(pk=secret.pk).exists()


def test_a_member_does_not_even_get_the_forms(member, app):
    credential = stored_credential(app=app)
    forms = [
        apps_url(app.organization, "new"),
        app_url(app, "edit"),
        app_url(app, "credentials", "new"),
        app_url(app, "credentials", credential.pk, "edit"),
    ]

    for url in forms:
        assert member.get(url).status_code == 403, url


def test_another_organizations_application_is_not_found_under_this_one(
    admin, organization, other_admin_membership
):
    theirs = external_app(organization=other_admin_membership.organization)[0]

    for suffix in ("", "edit", "credentials"):
        url = apps_url(organization, theirs.client.client_id, *([suffix] if suffix else []))
        assert admin.get(url).status_code == 404, url
    assert (
        admin.post(
            apps_url(organization, theirs.client.client_id, "delete"), {"confirmed": "yes"}
        ).status_code
        == 404
    )
    assert ExternalApp.objects.filter(pk=theirs.pk).exists()


def test_search_results_link_to_the_application_and_its_credentials(admin, app):
    credential = stored_credential(app=app, name="Deploy from main")

    page = _text(admin.get(f"/{app.organization.slug}/DefaultTenant/portal_/search/?q=deploy"))

    assert f'href="{app_url(app)}"' in page
    assert f'href="{app_url(app, "credentials")}#credential-{credential.pk}"' in page


def test_the_navigation_has_external_applications(admin, app):
    page = _text(admin.get(app_url(app, "credentials")))

    assert (
        f'<a href="{apps_url(app.organization)}" aria-current="page">External applications</a>'
        in page
    )
