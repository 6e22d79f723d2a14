"""The IdentityProvider API (SPEC §9) end to end: real tokens from the token endpoint (an
application's and a signed-in user's), the real database, and the test identity provider on
loopback HTTPS for the issuers' discovery and keys."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from federation import services
from federation.models import IdentityProvider
from federation.serializers import IdentityProviderDto
from federation.tests.identity_providers import CLIENT_SECRET, oidc_issuer, registered_provider
from identity_server.clients import client_changed
from identity_server.models import OAuthClient
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from tenants.models import AuditEvent, Membership
from tenants.tests.factories import MembershipFactory

NEW_SECRET = "a-new-provider-secret"


def providers_url(organization) -> str:
    return f"/{organization.slug}/identity_/api/IdentityProvider"


def provider_url(provider) -> str:
    return f"{providers_url(provider.organization)}/{provider.pk}"


@pytest.fixture
def issuer(identity_provider):
    return oidc_issuer(identity_provider)


@pytest.fixture
def script(organization):
    return client_with_secret(
        organization=organization, scopes=("PM.IdentityProviders",), name="SSO script"
    )


@pytest.fixture
def api(client, issue_token, script):
    return Api(client, issue_token(*script))


def app_api(issue_token, organization, *scopes) -> Api:
    app, secret = client_with_secret(organization=organization, scopes=scopes, name="Other")
    return Api(Client(), issue_token(app, secret))


def create_body(issuer, **fields) -> dict:
    return {
        "name": "Google Workspace",
        "kind": "google",
        "issuer": issuer,
        "clientId": "1234.apps.googleusercontent.com",
        "clientSecret": CLIENT_SECRET,
        "allowedEmailDomains": ["example.com"],
        "provisioning": "jit_member",
        **fields,
    }


# --- a user's token (SPEC §8: the authorization code flow, then the API) -------------------

REDIRECT = "https://app.example.com/callback"
VERIFIER = "v" * 43


def user_api(user, organization) -> Api:
    """An API client with the access token `user` gets by signing in to a public app that
    holds `PM.IdentityProviders` as a user scope (the role cuts it: `.Read` for members)."""
    app, _ = client_with_secret(organization=organization, confidential=False, name="Portal")
    OAuthClient.objects.filter(pk=app.pk).update(
        user_scopes=["PM.IdentityProviders"], redirect_uris=REDIRECT
    )
    client_changed(app.client_id)
    browser = Client()
    browser.force_login(user)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")
    authorized = browser.get(
        "/identity_/connect/authorize",
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT,
            "scope": "PM.IdentityProviders",
            "state": "st",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
    )
    assert authorized.status_code == 302, authorized.content
    code = parse_qs(urlsplit(authorized["Location"]).query)["code"][0]
    tokens = Client().post(
        "/identity_/connect/token",
        {
            "grant_type": "authorization_code",
            "client_id": app.client_id,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        },
    )
    assert tokens.status_code == 200, tokens.content
    return Api(Client(), tokens.json()["access_token"])


# --- create ---------------------------------------------------------------------------------


def test_create_answers_201_without_the_secret_and_audits_it(api, script, organization, issuer):
    # when
    response = api.post(providers_url(organization), create_body(issuer))

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    provider = IdentityProvider.objects.get(organization=organization)
    assert body["id"] == str(provider.pk)
    assert response.headers["Location"] == f"http://testserver{provider_url(provider)}"
    assert body == {
        "id": str(provider.pk),
        "partitionGlobalId": str(organization.global_id),
        "name": "Google Workspace",
        "kind": "google",
        "issuer": issuer,
        "clientId": "1234.apps.googleusercontent.com",
        "hasClientSecret": True,
        "scopes": ["openid", "email", "profile"],
        "allowedEmailDomains": ["example.com"],
        "subjectClaim": "sub",
        "emailClaim": "email",
        "nameClaim": "name",
        "provisioning": "jit_member",
        "enforced": False,
        "breakGlassUserName": None,
        "enabled": True,
        "redirectUri": f"http://testserver/accounts/idp/{provider.pk}/callback",
        "createdAt": body["createdAt"],
        "updatedAt": body["updatedAt"],
    }
    assert set(body) == set(IdentityProviderDto().fields)  # the schema describes it
    assert CLIENT_SECRET not in response.content.decode()
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert (event.actor_kind, event.actor_id) == ("app", script[0].client_id)
    assert CLIENT_SECRET not in str(event.details)


def test_an_entra_provider_gets_the_oid_subject_claim(api, organization, identity_provider):
    # given: the test provider's Entra-shaped issuer, one tenant's
    issuer = oidc_issuer(identity_provider, "entra")

    # when
    response = api.post(providers_url(organization), create_body(issuer, kind="entra"))

    # then
    assert response.status_code == 201, response.content
    assert response.json()["subjectClaim"] == "oid"


@pytest.mark.parametrize(
    ("fields", "error_key", "message"),
    [
        pytest.param({"clientId": None}, "clientId", "This field may not be null.", id="client"),
        pytest.param({"name": ""}, "name", "This field may not be blank.", id="empty name"),
        pytest.param(
            {"clientSecret": None},
            "clientSecret",
            services.IDP_SECRET_REQUIRED,
            id="no secret",
        ),
        pytest.param(
            {"scopes": ["email", "profile"]}, "scopes", services.IDP_SCOPES_OPENID, id="openid"
        ),
        pytest.param(
            {"scopes": "email"}, "scopes", services.IDP_SCOPES_OPENID, id="scopes as a string"
        ),
        pytest.param(
            {"scopes": [1]},
            "scopes",
            "Must be a list of scope names (or one string of them).",
            id="scopes not names",
        ),
        pytest.param(
            {"allowedEmailDomains": "example.com"},
            "allowedEmailDomains",
            "Must be a list of strings.",
            id="domains not a list",
        ),
        pytest.param(
            {"enforced": True},
            "breakGlassUserName",
            services.IDP_BREAK_GLASS_REQUIRED,
            id="enforced without break-glass",
        ),
        pytest.param(
            {"enforced": True, "breakGlassUserName": "nobody-here"},
            "breakGlassUserName",
            "No member of this organization has this username.",
            id="break-glass not a member",
        ),
        pytest.param(
            {"issuer": "https://login.microsoftonline.com/common/v2.0", "kind": "entra"},
            "issuer",
            services.IDP_ENTRA_MULTITENANT,
            id="entra common",
        ),
        pytest.param(
            {"subjectClaim": "a b"},
            "subjectClaim",
            "A claim name: letters, digits and _ . : / -",
            id="claim name",
        ),
    ],
)
def test_invalid_bodies_answer_400_keyed_by_the_apis_field_names(
    api, organization, issuer, fields, error_key, message
):
    # when
    response = api.post(providers_url(organization), {**create_body(issuer), **fields})

    # then
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["errors"] == {error_key: [message]}
    assert not IdentityProvider.objects.exists()


def test_a_member_cannot_be_the_break_glass_account(api, organization, issuer):
    # given
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user

    # when
    body = create_body(issuer, enforced=True, breakGlassUserName=member.username.upper())
    response = api.post(providers_url(organization), body)

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {"breakGlassUserName": [services.IDP_BREAK_GLASS_NOT_ADMIN]}


def test_an_issuer_that_does_not_answer_as_an_openid_provider_is_refused(
    api, organization, identity_provider
):
    # given: the github issuer's discovery names no authorization endpoint
    issuer = identity_provider.issuer("github")

    # when
    response = api.post(providers_url(organization), create_body(issuer))

    # then
    assert response.status_code == 400
    [message] = response.json()["errors"]["issuer"]
    assert "authorization_endpoint" in message
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert (event.outcome, event.reason_code) == ("failure", "endpoint_missing")


# --- read, update, delete -------------------------------------------------------------------


def test_list_and_get(api, organization, issuer):
    # given
    assert api.get(providers_url(organization)).json() == []
    provider = registered_provider(organization=organization, issuer=issuer)

    # when
    listed = api.get(providers_url(organization))
    one = api.get(provider_url(provider))

    # then
    assert listed.status_code == 200 and one.status_code == 200
    assert [item["id"] for item in listed.json()] == [str(provider.pk)]
    assert one.json() == listed.json()[0]
    assert one.json()["hasClientSecret"] is True
    assert CLIENT_SECRET not in listed.content.decode() + one.content.decode()


def test_patch_changes_only_what_it_names_and_keeps_the_secret(
    api, admin_membership, organization, issuer
):
    # given
    provider = registered_provider(
        organization=organization, issuer=issuer, allowed_email_domains=["example.com"]
    )

    # when: "this provider only", with the admin as break-glass; no secret sent
    response = api.patch(
        provider_url(provider),
        {"enforced": True, "breakGlassUserName": admin_membership.user.username},
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["enforced"], body["breakGlassUserName"]) == (
        True,
        admin_membership.user.username,
    )
    assert body["allowedEmailDomains"] == ["example.com"] and body["name"] == "Corp SSO"
    provider.refresh_from_db()
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET
    event = AuditEvent.objects.get(action="identity_provider.updated")
    assert sorted(event.details["changed"]) == ["break_glass_user", "enforced"]


def test_put_replaces_every_field_but_keeps_the_secret_unless_one_is_sent(
    api, organization, issuer
):
    # given
    provider = registered_provider(
        organization=organization,
        issuer=issuer,
        allowed_email_domains=["example.com"],
        provisioning="jit_member",
    )
    body = {"name": "Renamed", "issuer": issuer, "clientId": "identity-server"}

    # when: the fields left out take their defaults
    response = api.put(provider_url(provider), body)

    # then
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["name"], answer["kind"], answer["provisioning"]) == (
        "Renamed",
        "generic",
        "link_only",
    )
    assert answer["allowedEmailDomains"] == [] and answer["hasClientSecret"] is True
    provider.refresh_from_db()
    assert services.identity_provider_client_secret(provider) == CLIENT_SECRET

    # when: with a new secret
    response = api.put(provider_url(provider), {**body, "clientSecret": NEW_SECRET})

    # then
    assert response.status_code == 200, response.content
    assert NEW_SECRET not in response.content.decode()
    provider.refresh_from_db()
    assert services.identity_provider_client_secret(provider) == NEW_SECRET


def test_put_refuses_a_body_without_the_required_fields(api, organization, issuer):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)

    # when
    response = api.put(provider_url(provider), {"name": "Renamed"})

    # then
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"issuer", "clientId"}
    provider.refresh_from_db()
    assert provider.name == "Corp SSO"


def test_delete_answers_204_and_the_provider_is_gone(api, organization, issuer):
    # given
    provider = registered_provider(organization=organization, issuer=issuer)

    # when
    response = api.delete(provider_url(provider))

    # then
    assert response.status_code == 204
    assert api.get(provider_url(provider)).status_code == 404
    assert AuditEvent.objects.filter(action="identity_provider.deleted").count() == 1


# --- the organization boundary and scopes ---------------------------------------------------


def test_another_organizations_provider_is_the_same_404_as_a_missing_one(
    api, issue_token, organization, other_admin_membership, identity_provider
):
    # given: a provider of another organization
    issuer = oidc_issuer(identity_provider)
    other = other_admin_membership.organization
    foreign = registered_provider(organization=other, issuer=issuer)
    missing = f"{providers_url(organization)}/00000000-0000-4000-8000-000000000000"
    through_ours = f"{providers_url(organization)}/{foreign.pk}"

    # when / then: by its id under our organization, or under its own
    for response in (
        api.get(through_ours),
        api.patch(through_ours, {"name": "Mine now"}),
        api.delete(through_ours),
        api.get(provider_url(foreign)),
        api.get(providers_url(other)),
        api.get(missing),
        api.get(f"{providers_url(organization)}/not-a-uuid"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    foreign.refresh_from_db()
    assert foreign.name == "Corp SSO"


@pytest.mark.parametrize(
    ("scopes", "method", "status"),
    [
        pytest.param(("PM.IdentityProviders.Read",), "get", 200, id="read reads"),
        pytest.param(("PM.IdentityProviders.Read",), "post", 403, id="read cannot write"),
        pytest.param(("PM.IdentityProviders.Write",), "post", 201, id="write writes"),
        pytest.param(("PM.OAuthApp",), "get", 403, id="apps scope is not enough"),
    ],
)
def test_the_scope_decides(issue_token, organization, issuer, scopes, method, status):
    # given
    caller = app_api(issue_token, organization, *scopes)

    # when
    if method == "get":
        response = caller.get(providers_url(organization))
    else:
        response = caller.post(providers_url(organization), create_body(issuer))

    # then
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json()["detail"].startswith("The access token lacks the scope")
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_without_a_token_401(client, organization):
    response = client.get(providers_url(organization))

    assert response.status_code == 401


def test_an_admins_own_token_manages_providers_and_a_members_is_refused(
    admin_membership, organization, issuer
):
    # given
    admin = user_api(admin_membership.user, organization)
    member_user = MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user
    member = user_api(member_user, organization)

    # when
    created = admin.post(providers_url(organization), create_body(issuer))
    read_by_member = member.get(providers_url(organization))
    written_by_member = member.post(providers_url(organization), create_body(issuer, name="B"))

    # then
    assert created.status_code == 201, created.content
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert (event.actor_kind, event.actor_id) == ("user", str(admin_membership.user.pk))
    assert read_by_member.status_code == 403
    assert read_by_member.json()["detail"] == (
        "Only the organization's administrators may manage its identity providers."
    )
    assert written_by_member.status_code == 403
    assert IdentityProvider.objects.count() == 1


# --- the OpenAPI schema ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/{org}/identity_/api/IdentityProvider", "PM.IdentityProviders.Read"),
        ("post", "/{org}/identity_/api/IdentityProvider", "PM.IdentityProviders.Write"),
        ("get", "/{org}/identity_/api/IdentityProvider/{provider_id}", "PM.IdentityProviders.Read"),
        (
            "put",
            "/{org}/identity_/api/IdentityProvider/{provider_id}",
            "PM.IdentityProviders.Write",
        ),
        (
            "patch",
            "/{org}/identity_/api/IdentityProvider/{provider_id}",
            "PM.IdentityProviders.Write",
        ),
        (
            "delete",
            "/{org}/identity_/api/IdentityProvider/{provider_id}",
            "PM.IdentityProviders.Write",
        ),
    ],
)
def test_the_schema_lists_each_operation_with_its_scopes(client, db, method, path, scope):
    # when
    schema = client.get("/identity_/api/schema", {"format": "json"}).json()

    # then
    operation = schema["paths"][path][method]
    security = [scopes for entry in operation["security"] for scopes in entry.values()]
    assert security == [[scope], ["PM.IdentityProviders"]]
    components = schema["components"]["schemas"]
    assert "clientSecret" in components["IdentityProviderInput"]["properties"]
    answer = components["IdentityProviderDto"]["properties"]
    assert "hasClientSecret" in answer and "clientSecret" not in answer
    flow = schema["components"]["securitySchemes"]["clientCredentials"]["flows"]
    assert "PM.IdentityProviders" in flow["clientCredentials"]["scopes"]
