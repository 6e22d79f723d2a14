"""The ExternalClient API end to end: real tokens from the token endpoint, real database."""

import pytest

from federation.models import ExternalApp
from federation.tests.factories import external_app
from identity_server.models import ClientSecret, OAuthClient
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, token_request
from tenants.models import AuditEvent

BASE = "/identity_/api/ExternalClient"


def apps_url(organization) -> str:
    return f"{BASE}/{organization.global_id}"


def app_url(app) -> str:
    return f"{apps_url(app.organization)}/{app.client.client_id}"


@pytest.fixture
def other_organization(other_admin_membership):
    return other_admin_membership.organization


@pytest.fixture
def script(organization):
    """The caller: an application allowed to manage applications and their secrets."""
    return client_with_secret(
        organization=organization, scopes=("PM.OAuthApp", "PM.OAuthAppSecret"), name="Script"
    )


@pytest.fixture
def api(client, issue_token, script):
    return Api(client, issue_token(*script))


@pytest.fixture
def read_only_api(client, issue_token, organization):
    app, secret = client_with_secret(
        organization=organization, scopes=("PM.OAuthApp.Read",), name="Reader"
    )
    return Api(client, issue_token(app, secret))


def create_body(organization, **fields) -> dict:
    return {
        "partitionGlobalId": str(organization.global_id),
        "name": "Deployments",
        "isConfidential": True,
        "redirectUri": "https://example.com/callback",
        "scopes": [
            {"name": "OR.Machines.Read", "displayName": "OR.Machines.Read", "type": "application"},
            {"name": "PM.OAuthApp", "type": "application"},
        ],
        **fields,
    }


# --- create -------------------------------------------------------------------------------


def test_create_answers_201_with_the_first_secret_once_and_audits_it(
    client, api, script, organization
):
    # when
    response = api.post(BASE, create_body(organization))

    # then
    assert response.status_code == 201, response.content
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    app = ExternalApp.objects.get(organization=organization)
    assert body["id"] == app.client.client_id
    assert response.headers["Location"] == f"http://testserver{app_url(app)}"
    assert (body["name"], body["isConfidential"]) == ("Deployments", True)
    assert body["redirectUri"] == "https://example.com/callback"
    assert body["partitionGlobalId"] == str(organization.global_id)
    assert [s["name"] for s in body["scopes"]] == ["OR.Machines.Read", "PM.OAuthApp"]
    assert body["resources"] == [
        {"name": "Orchestrator", "scopes": [body["scopes"][0]]},
        {"name": "Platform management", "scopes": [body["scopes"][1]]},
    ]
    assert body["scopes"][0]["type"] == "application"
    [secret] = body["secrets"]
    assert set(secret) == {
        "id",
        "description",
        "creationTime",
        "expiryTime",
        "lastUsedTime",
        "prefix",
    }
    assert body["secret"].startswith("idsec_")
    # the secret works at once, and is never shown again
    assert token_request(client, body["id"], body["secret"]).status_code == 200
    listed = api.get(app_url(app)).json()
    assert "secret" not in listed and body["secret"] not in str(listed)
    event = AuditEvent.objects.get(action="external_app.create")
    assert (event.actor_kind, event.actor_id) == ("app", script[0].client_id)
    assert (event.organization, event.target_name) == (organization, "Deployments")
    assert body["secret"] not in str(event.details)


def test_create_also_answers_under_the_organization_prefix(api, organization):
    response = api.post(f"/{organization.slug}{BASE}", create_body(organization))

    assert response.status_code == 201, response.content


def test_a_public_application_has_no_secret(api, organization):
    user_scopes = [{"name": "OR.Robots.Read", "type": "user"}]
    response = api.post(BASE, create_body(organization, isConfidential=False, scopes=user_scopes))

    assert response.status_code == 201, response.content
    assert "secret" not in response.json()
    assert response.json()["secrets"] == []
    assert (
        not ClientSecret.objects.exists()
        or not ClientSecret.objects.filter(client__client_id=response.json()["id"]).exists()
    )


def test_scopes_may_be_plain_names(api, organization):
    response = api.post(BASE, create_body(organization, scopes=["OR.Robots"]))

    assert response.status_code == 201, response.content
    assert OAuthClient.objects.get(client_id=response.json()["id"]).scopes == ["OR.Robots"]


@pytest.mark.parametrize(
    ("fields", "error_key"),
    [
        pytest.param({"name": ""}, "name", id="empty name"),
        pytest.param({"name": "x" * 129}, "name", id="name too long"),
        pytest.param({"name": 12}, "name", id="name not a string"),
        pytest.param({"isConfidential": "maybe"}, "isConfidential", id="not a boolean"),
        pytest.param({"scopes": ["OR.Nothing"]}, "scopes", id="unknown scope"),
        pytest.param({"scopes": "OR.Machines"}, "scopes", id="scopes not a list"),
        pytest.param(
            {"scopes": [{"name": "OR.Nothing", "type": "user"}]}, "scopes", id="unknown user scope"
        ),
        pytest.param(
            {"scopes": [{"name": "OR.Machines", "type": "robot"}]}, "scopes", id="unknown type"
        ),
        pytest.param({"redirectUri": "x" * 2049}, "redirectUri", id="redirect too long"),
        pytest.param(
            {"redirectUri": "http://example.com/cb"}, "redirectUri", id="redirect not https"
        ),
        pytest.param(
            {"redirectUri": "https://example.com/cb#top"}, "redirectUri", id="redirect fragment"
        ),
        pytest.param({"redirectUri": "/callback"}, "redirectUri", id="redirect not absolute"),
        pytest.param(
            {"redirectUri": None, "redirectUris": ["https://a.example/cb", "app://cb"]},
            "redirectUris",
            id="one of several redirects bad",
        ),
        pytest.param(
            {"redirectUris": "https://a.example/cb"}, "redirectUris", id="redirects not a list"
        ),
        pytest.param(
            {"redirectUri": "https://b.example/cb", "redirectUris": ["https://a.example/cb"]},
            "redirectUri",
            id="redirect not among redirects",
        ),
        pytest.param(
            {
                "redirectUri": None,
                "scopes": [{"name": "openid", "type": "user"}],
            },
            "redirectUri",
            id="user scopes without redirect",
        ),
        pytest.param(
            {"postLogoutRedirectUris": ["http://example.com/bye"]},
            "postLogoutRedirectUris",
            id="post-logout not https",
        ),
        pytest.param(
            {"allowedCorsOrigins": ["https://spa.example/app"]},
            "allowedCorsOrigins",
            id="origin with a path",
        ),
        pytest.param({"allowedCorsOrigins": ["*"]}, "allowedCorsOrigins", id="origin wildcard"),
        pytest.param(
            {"allowedCorsOrigins": ["http://spa.example"]},
            "allowedCorsOrigins",
            id="origin not https",
        ),
        pytest.param(
            {"backchannelLogoutUri": "http://127.0.0.1:9/logout"},
            "backchannelLogoutUri",
            id="back-channel logout not https",
        ),
        pytest.param(
            {"backchannelLogoutUri": "https://rp.example/logout#x"},
            "backchannelLogoutUri",
            id="back-channel logout fragment",
        ),
        pytest.param(
            {"isConfidential": False},
            "scopes",
            id="public app with application scopes",
        ),
        pytest.param({"partitionGlobalId": None}, "partitionGlobalId", id="no organization"),
    ],
)
def test_create_refuses_bad_input_with_a_field_keyed_400(api, organization, fields, error_key):
    response = api.post(BASE, create_body(organization, **fields))

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [error_key]
    assert response.json()["status"] == 400
    assert not ExternalApp.objects.exists()
    assert not OAuthClient.objects.filter(kind="external_app").exclude(name="Script").exists()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{not json", id="malformed"),
        pytest.param("[1, 2]", id="not an object"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="nested deeper than the stack"),
        pytest.param('{"name": "' + "x" * 70_000 + '"}', id="larger than 64 KiB"),
    ],
)
def test_create_refuses_a_body_that_is_not_a_json_object(api, body):
    response = api.post(BASE, body)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [""]
    assert not ExternalApp.objects.exists()


def test_create_in_another_organization_is_a_404(api, other_organization):
    response = api.post(BASE, create_body(other_organization))

    assert response.status_code == 404
    assert not ExternalApp.objects.exists()


def test_a_read_scope_cannot_create(read_only_api, organization):
    response = read_only_api.post(BASE, create_body(organization))

    assert response.status_code == 403
    assert not ExternalApp.objects.exists()


def test_without_a_token_the_api_answers_401_with_a_challenge(client, organization):
    response = Api(client, None).get(apps_url(organization))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- read ---------------------------------------------------------------------------------


def test_list_answers_the_organizations_applications_only(
    read_only_api, organization, other_organization
):
    # given
    mine, _ = external_app(organization=organization, name="Mine")
    external_app(organization=other_organization, name="Theirs")

    # when
    response = read_only_api.get(apps_url(organization))

    # then
    assert response.status_code == 200
    names = [app["name"] for app in response.json()]
    assert "Mine" in names and "Theirs" not in names
    assert read_only_api.get(app_url(mine)).json()["id"] == mine.client.client_id


def test_another_organizations_list_or_application_is_the_same_404(
    api, organization, other_organization
):
    theirs, _ = external_app(organization=other_organization)
    missing = api.get(f"{apps_url(organization)}/no-such-client")

    assert api.get(apps_url(other_organization)).status_code == 404
    foreign = api.get(f"{apps_url(organization)}/{theirs.client.client_id}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert api.get(f"{BASE}/not-a-uuid").status_code == 404
    # the organization prefix must name the same organization
    other_prefix = f"/{other_organization.slug}{apps_url(organization)}"
    assert api.get(other_prefix).status_code == 404


# --- update and delete --------------------------------------------------------------------


def test_update_changes_name_redirect_and_scopes_and_audits_the_difference(api, organization):
    # given
    app, _ = external_app(organization=organization, scopes=("OR.Machines",))

    # when
    response = api.put(
        app_url(app),
        {
            "name": "Renamed",
            "redirectUri": None,
            "scopes": ["OR.Robots.Read"],
            "isConfidential": True,
        },
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["redirectUri"], body["isConfidential"]) == ("Renamed", None, True)
    app.client.refresh_from_db()
    assert (app.client.name, app.client.scopes) == ("Renamed", ["OR.Robots.Read"])
    event = AuditEvent.objects.get(action="external_app.update")
    assert event.details["name"] == {"before": "Deployments", "after": "Renamed"}
    assert event.details["scopes"] == {"before": ["OR.Machines"], "after": ["OR.Robots.Read"]}


def test_update_cannot_change_whether_an_application_is_confidential(api, organization):
    app, _ = external_app(organization=organization)

    response = api.put(app_url(app), {"name": "Deployments", "isConfidential": False})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["isConfidential"]
    app.client.refresh_from_db()
    assert app.client.is_confidential


def test_delete_removes_the_application_its_client_and_secrets_and_revokes_its_tokens(
    client, api, issue_token, organization
):
    # given
    app, secret = external_app(organization=organization, scopes=("PM.OAuthApp.Read",))
    its_token = Api(client, issue_token(app.client, secret))
    assert its_token.get(apps_url(organization)).status_code == 200

    # when
    response = api.delete(app_url(app))

    # then
    assert response.status_code == 204
    assert not ExternalApp.objects.filter(pk=app.pk).exists()
    assert not OAuthClient.objects.filter(pk=app.client.pk).exists()
    assert not ClientSecret.objects.filter(client_id=app.client.pk).exists()
    assert its_token.get(apps_url(organization)).status_code == 401
    refused = token_request(client, app.client.client_id, secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert AuditEvent.objects.filter(action="external_app.delete").count() == 1


# --- secrets ------------------------------------------------------------------------------


def test_generate_secret_answers_the_plaintext_once_and_it_works(client, api, organization):
    # given
    app, _ = external_app(organization=organization)

    # when
    response = api.post(
        f"{BASE}/GenerateSecret",
        {
            "clientId": app.client.client_id,
            "description": "rotation 2026-11",
            "partitionGlobalId": str(organization.global_id),
            "expiryTime": "2099-01-01T00:00:00Z",
        },
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"id", "description", "secret", "creationTime", "expiryTime"}
    assert (body["description"], body["expiryTime"]) == (
        "rotation 2026-11",
        "2099-01-01T00:00:00.000Z",
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert token_request(client, app.client.client_id, body["secret"]).status_code == 200
    assert len(api.get(app_url(app)).json()["secrets"]) == 2


@pytest.mark.parametrize(
    ("fields", "status", "error_key"),
    [
        pytest.param({"clientId": "unknown"}, 404, None, id="unknown app"),
        pytest.param({"clientId": None}, 400, "clientId", id="no client id"),
        pytest.param({"expiryTime": "yesterday"}, 400, "expiryTime", id="bad expiry"),
        pytest.param({"expiryTime": "2000-01-01T00:00:00Z"}, 400, "expiryTime", id="past expiry"),
        pytest.param({"description": "x" * 513}, 400, "description", id="long description"),
    ],
)
def test_generate_secret_refuses_bad_input(api, organization, fields, status, error_key):
    app, _ = external_app(organization=organization)
    body = {"clientId": app.client.client_id, "partitionGlobalId": str(organization.global_id)}

    response = api.post(f"{BASE}/GenerateSecret", {**body, **fields})

    assert response.status_code == status, response.content
    if error_key:
        assert list(response.json()["errors"]) == [error_key]
    assert ClientSecret.objects.filter(client=app.client).count() == 1


def test_generate_secret_for_another_organizations_application_is_a_404(
    api, organization, other_organization
):
    theirs, _ = external_app(organization=other_organization)
    body = {"clientId": theirs.client.client_id, "partitionGlobalId": str(organization.global_id)}

    assert api.post(f"{BASE}/GenerateSecret", body).status_code == 404
    body["partitionGlobalId"] = str(other_organization.global_id)
    assert api.post(f"{BASE}/GenerateSecret", body).status_code == 404
    assert ClientSecret.objects.filter(client=theirs.client).count() == 1


def test_secret_routes_need_the_secret_scope(client, issue_token, organization):
    # given: an application that may manage applications, but not their secrets
    caller, caller_secret = client_with_secret(organization=organization, scopes=("PM.OAuthApp",))
    api = Api(client, issue_token(caller, caller_secret))
    app, _ = external_app(organization=organization)
    secret = ClientSecret.objects.get(client=app.client)
    body = {"clientId": app.client.client_id, "partitionGlobalId": str(organization.global_id)}

    # then
    assert api.post(f"{BASE}/GenerateSecret", body).status_code == 403
    assert api.delete(f"{apps_url(organization)}/secrets/{secret.pk}").status_code == 403
    assert ClientSecret.objects.filter(client=app.client).count() == 1


def test_deleting_a_secret_stops_it_at_once(client, api, organization):
    # given
    app, plaintext = external_app(organization=organization)
    secret = ClientSecret.objects.get(client=app.client)

    # when
    response = api.delete(f"{apps_url(organization)}/secrets/{secret.pk}")

    # then
    assert response.status_code == 204
    refused = token_request(client, app.client.client_id, plaintext)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert AuditEvent.objects.filter(action="client_secret.delete").count() == 1


def test_deleting_another_organizations_secret_is_a_404(api, organization, other_organization):
    theirs, _ = external_app(organization=other_organization)
    secret = ClientSecret.objects.get(client=theirs.client)

    response = api.delete(f"{apps_url(organization)}/secrets/{secret.pk}")

    assert response.status_code == 404
    assert ClientSecret.objects.filter(pk=secret.pk).exists()


# --- user sign-in (SPEC §8) ---------------------------------------------------------------


def sign_in_body(organization, **fields) -> dict:
    return create_body(
        organization,
        **{
            "redirectUri": None,
            "redirectUris": ["https://app.example/signed-in", "http://127.0.0.1/callback"],
            "postLogoutRedirectUris": ["https://app.example/bye"],
            "allowedCorsOrigins": ["HTTPS://SPA.Example:443", "http://localhost:5173"],
            "backchannelLogoutUri": "https://app.example/backchannel",
            "scopes": [
                {"name": "OR.Machines", "type": "application"},
                "OR.Robots",
                {"name": "openid", "type": "user"},
                {"name": "OR.Machines.Read", "type": "User"},
            ],
            **fields,
        },
    )


def test_create_takes_user_scopes_and_the_sign_in_fields_and_answers_them(api, organization):
    # when
    response = api.post(BASE, sign_in_body(organization))

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert [(s["name"], s["type"]) for s in body["scopes"]] == [
        ("OR.Machines", "application"),
        ("OR.Robots", "application"),
        ("OR.Machines.Read", "user"),
        ("openid", "user"),
    ]
    assert body["redirectUri"] == "https://app.example/signed-in"
    assert body["redirectUris"] == ["https://app.example/signed-in", "http://127.0.0.1/callback"]
    assert body["postLogoutRedirectUris"] == ["https://app.example/bye"]
    # as a browser sends them in Origin: lower case, no default port
    assert body["allowedCorsOrigins"] == ["https://spa.example", "http://localhost:5173"]
    assert body["backchannelLogoutUri"] == "https://app.example/backchannel"
    client = OAuthClient.objects.get(client_id=body["id"])
    assert client.scopes == ["OR.Machines", "OR.Robots"]
    assert client.user_scopes == ["OR.Machines.Read", "openid"]
    assert client.redirect_uris == "https://app.example/signed-in http://127.0.0.1/callback"
    assert client.allowed_origins == "https://spa.example http://localhost:5173"
    assert api.get(f"{apps_url(organization)}/{body['id']}").json() == {
        key: value for key, value in body.items() if key != "secret"
    }
    event = AuditEvent.objects.get(action="external_app.create")
    assert event.details["user_scopes"] == ["OR.Machines.Read", "openid"]
    assert event.details["redirect_uris"] == body["redirectUris"]
    assert event.details["backchannel_logout_uri"] == "https://app.example/backchannel"


def test_a_public_application_signs_users_in_with_user_scopes_only(api, organization):
    body = sign_in_body(
        organization, isConfidential=False, scopes=[{"name": "OR.Robots.Read", "type": "user"}]
    )

    response = api.post(BASE, body)

    assert response.status_code == 201, response.content
    assert response.json()["isConfidential"] is False
    assert [s["type"] for s in response.json()["scopes"]] == ["user"]


def test_uipaths_one_redirect_uri_still_works_alone(api, organization):
    body = create_body(organization, scopes=[{"name": "OR.Robots", "type": "user"}])

    response = api.post(BASE, body)

    assert response.status_code == 201, response.content
    assert response.json()["redirectUris"] == ["https://example.com/callback"]


def test_update_keeps_the_sign_in_fields_it_does_not_name_and_audits_each_change(api, organization):
    # given
    app_id = api.post(BASE, sign_in_body(organization)).json()["id"]
    url = f"{apps_url(organization)}/{app_id}"

    # when: a client that knows only UiPath's fields sends its PUT
    response = api.put(
        url,
        {
            "name": "Deployments",
            "redirectUri": "https://app.example/new",
            "scopes": [{"name": "openid", "type": "user"}, {"name": "OR.Robots", "type": "user"}],
        },
    )

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["redirectUris"] == ["https://app.example/new"]
    assert body["postLogoutRedirectUris"] == ["https://app.example/bye"]
    assert body["allowedCorsOrigins"] == ["https://spa.example", "http://localhost:5173"]
    assert body["backchannelLogoutUri"] == "https://app.example/backchannel"
    assert [(s["name"], s["type"]) for s in body["scopes"]] == [
        ("OR.Robots", "user"),
        ("openid", "user"),
    ]
    event = AuditEvent.objects.get(action="external_app.update")
    assert event.details["user_scopes"] == {
        "before": ["OR.Machines.Read", "openid"],
        "after": ["OR.Robots", "openid"],
    }
    assert event.details["redirect_uris"] == {
        "before": ["https://app.example/signed-in", "http://127.0.0.1/callback"],
        "after": ["https://app.example/new"],
    }
    assert event.details["scopes"] == {"before": ["OR.Machines", "OR.Robots"], "after": []}
    assert "allowed_origins" not in event.details

    # when: the new fields, named, are cleared
    cleared = api.put(
        url,
        {
            "name": "Deployments",
            "redirectUris": ["https://app.example/new"],
            "scopes": [{"name": "openid", "type": "user"}],
            "postLogoutRedirectUris": None,
            "allowedCorsOrigins": [],
            "backchannelLogoutUri": None,
        },
    ).json()

    # then
    assert cleared["postLogoutRedirectUris"] == cleared["allowedCorsOrigins"] == []
    assert cleared["backchannelLogoutUri"] is None
    last = AuditEvent.objects.filter(action="external_app.update").latest("pk")
    assert last.details["backchannel_logout_uri"] == {
        "before": "https://app.example/backchannel",
        "after": "",
    }


def test_an_update_refused_changes_nothing(api, organization):
    app_id = api.post(BASE, sign_in_body(organization)).json()["id"]
    url = f"{apps_url(organization)}/{app_id}"

    response = api.put(
        url,
        {
            "name": "Deployments",
            "allowedCorsOrigins": ["https://spa.example/"],
            "scopes": [{"name": "openid", "type": "user"}],
        },
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["allowedCorsOrigins"]
    assert "no path" in response.json()["errors"]["allowedCorsOrigins"][0]
    client = OAuthClient.objects.get(client_id=app_id)
    assert client.user_scopes == ["OR.Machines.Read", "openid"]
    assert not AuditEvent.objects.filter(action="external_app.update").exists()
