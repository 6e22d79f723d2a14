"""The OpenAPI schema lists every route of the external application and federated
credential APIs, with the scopes each operation needs."""

import pytest

PARTITION = "/identity_/api/ExternalClient/{partition_global_id}"
APP = f"{PARTITION}/{{client_id}}"
CREDENTIALS = f"{APP}/FederatedCredentials"
# (method, path, the scope it needs; the whole-resource scope also suffices)
OPERATIONS = [
    ("post", "/identity_/api/ExternalClient", "PM.OAuthApp.Write"),
    ("get", PARTITION, "PM.OAuthApp.Read"),
    ("get", APP, "PM.OAuthApp.Read"),
    ("put", APP, "PM.OAuthApp.Write"),
    ("delete", APP, "PM.OAuthApp.Write"),
    ("post", "/identity_/api/ExternalClient/GenerateSecret", "PM.OAuthAppSecret.Write"),
    ("delete", f"{PARTITION}/secrets/{{secret_id}}", "PM.OAuthAppSecret.Write"),
    ("get", CREDENTIALS, "PM.OAuthApp.Read"),
    ("post", CREDENTIALS, "PM.OAuthApp.Write"),
    ("get", f"{CREDENTIALS}/{{credential_id}}", "PM.OAuthApp.Read"),
    ("put", f"{CREDENTIALS}/{{credential_id}}", "PM.OAuthApp.Write"),
    ("delete", f"{CREDENTIALS}/{{credential_id}}", "PM.OAuthApp.Write"),
    ("post", f"{CREDENTIALS}/evaluate", "PM.OAuthApp.Write"),
]


@pytest.fixture
def schema(client, db):
    response = client.get("/identity_/api/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS)
def test_every_route_is_in_the_schema_with_its_scopes(schema, method, path, scope):
    for route in (path, "/{org}" + path):
        operation = schema["paths"][route][method]
        security = [scopes for entry in operation["security"] for scopes in entry.values()]
        assert security == [[scope], [scope.rsplit(".", 1)[0]]]


def test_the_credential_operations_describe_seed_004s_dto(schema):
    dto = schema["components"]["schemas"]["FederatedCredentialDto"]["properties"]

    assert set(dto) == {
        "id",
        "clientId",
        "name",
        "description",
        "issuer",
        "audience",
        "subject",
        # SPEC §11
        "claimsMatchingExpression",
        "mustMatch",
        "mustNotMatch",
        "createdAt",
        "updatedAt",
    }
    assert dto["subject"]["nullable"] and dto["claimsMatchingExpression"]["nullable"]
    create = schema["paths"][CREDENTIALS]["post"]
    assert "201" in create["responses"]


def test_the_scopes_are_those_of_the_token_endpoint(schema):
    scheme = schema["components"]["securitySchemes"]["clientCredentials"]
    flow = scheme["flows"]["clientCredentials"]

    assert flow["tokenUrl"] == "/identity_/connect/token"
    assert {"PM.OAuthApp", "PM.OAuthApp.Read", "PM.OAuthAppSecret.Write"} <= set(flow["scopes"])


def test_the_docs_page_loads_swagger_ui_from_this_server(client, db):
    response = client.get("/identity_/api/schema/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
