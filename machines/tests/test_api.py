"""The machines APIs end to end: real tokens from the token endpoint, real database."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from identity_server.models import ClientSecret, OAuthClient
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, token_request
from machines.models import Machine
from machines.tests.factories import machine_create, machine_with_secret
from tenants.models import AuditEvent
from tenants.odata import ERROR_DUPLICATE_NAME, ERROR_INVALID_INPUT
from tenants.tests.factories import TenantFactory


def machines_url(tenant) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/Machines"


def machine_url(machine, tenant=None) -> str:
    return f"{machines_url(tenant or machine.tenant)}({machine.pk})"


def secrets_url(machine, tenant=None) -> str:
    tenant = tenant or machine.tenant
    return (
        f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/api/Machines/{machine.pk}"
        "/ClientSecrets"
    )


@pytest.fixture
def script(tenant):
    """An external application of the organization allowed to manage machines."""
    return client_with_secret(organization=tenant.organization, scopes=("OR.Machines",))


@pytest.fixture
def api(client, issue_token, script):
    return Api(client, issue_token(*script))


@pytest.fixture
def read_only_api(client, issue_token, tenant):
    app, secret = client_with_secret(
        organization=tenant.organization, scopes=("OR.Machines.Read",), name="Reader"
    )
    return Api(client, issue_token(app, secret))


# --- CRUD ---------------------------------------------------------------------------------


def test_create_answers_201_with_the_odata_entity_and_audits_it(api, script, tenant):
    # when
    response = api.post(
        machines_url(tenant),
        {"Name": "Build agents", "Description": "CI", "Type": "Template", "Extra": 1},
    )

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    machine = Machine.objects.get(tenant=tenant)
    assert body == {
        "@odata.context": f"http://testserver{machines_url(tenant)[:-8]}$metadata#Machines/$entity",
        "Id": machine.pk,
        "Name": "Build agents",
        "Description": "CI",
        "Type": "Template",
        "LicenseKey": machine.client.client_id,
        "ClientId": machine.client.client_id,
        "TokenQuotaPerHour": None,
        "TokenQuotaPerDay": None,
        "TokenQuotaEnforced": True,
    }
    assert response.headers["Location"] == f"http://testserver{machine_url(machine)}"
    event = AuditEvent.objects.get(action="machine.create")
    assert (event.actor_kind, event.actor_id) == ("app", script[0].client_id)
    assert (event.tenant, event.target_id) == (tenant, str(machine.pk))


def test_create_accepts_camel_case_and_defaults_to_a_standard_machine(api, tenant):
    response = api.post(machines_url(tenant), {"name": "Laptop", "description": None})

    assert response.status_code == 201, response.content
    assert (response.json()["Type"], response.json()["Description"]) == ("Standard", "")


def test_list_answers_the_tenants_machines_in_odata_shape(api, tenant, other_tenant):
    # given
    first = machine_create(tenant=tenant, name="First")
    second = machine_create(tenant=tenant, name="Second")
    machine_create(tenant=TenantFactory(organization=tenant.organization), name="Elsewhere")
    machine_create(tenant=other_tenant, name="Foreign")

    # when
    response = api.get(machines_url(tenant))

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/orchestrator_/odata/$metadata#Machines")
    assert body["@odata.count"] == 2
    assert [m["Id"] for m in body["value"]] == [first.pk, second.pk]
    assert body["value"][0]["LicenseKey"] == first.client.client_id


def test_the_tenant_in_the_url_is_matched_in_any_case(api, tenant):
    machine_create(tenant=tenant)
    url = f"/{tenant.organization.slug.upper()}/{tenant.name.lower()}/orchestrator_/odata/Machines"

    assert api.get(url).json()["@odata.count"] == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("$top=2", ["Alpha", "Beta"], id="top"),
        pytest.param("$skip=1&$top=1", ["Beta"], id="skip"),
        pytest.param("$filter=Name%20eq%20'beta'", ["Beta"], id="eq"),
        pytest.param("$filter=contains(Name,'ph')", ["Alpha"], id="contains"),
        pytest.param("$filter=startswith(Name,'g')", ["Gamma"], id="startswith"),
        pytest.param("$filter=Type%20eq%20'Standard'", ["Gamma"], id="type"),
        pytest.param("$orderby=Name%20desc&$top=1", ["Gamma"], id="orderby"),
    ],
)
def test_list_query_options(api, tenant, query, expected):
    # given
    for name in ["Alpha", "Beta"]:
        machine_create(tenant=tenant, name=name)
    machine_create(tenant=tenant, name="Gamma", type="Standard")

    # when
    response = api.get(f"{machines_url(tenant)}?{query}")

    # then
    assert response.status_code == 200
    assert [m["Name"] for m in response.json()["value"]] == expected
    if "$filter" in query:
        assert response.json()["@odata.count"] == len(expected)


@pytest.mark.parametrize("query", ["$top=5000", "$top=x", "$filter=Name%20gt%20'a'", "$expand=X"])
def test_an_unsupported_query_is_a_400(api, tenant, query):
    response = api.get(f"{machines_url(tenant)}?{query}")

    assert response.status_code == 400
    assert response.json()["errorCode"] == ERROR_INVALID_INPUT
    assert response.json()["message"]


def test_get_answers_one_machine(api, tenant):
    machine = machine_create(tenant=tenant, name="One")

    response = api.get(machine_url(machine))

    assert response.status_code == 200
    assert response.json()["@odata.context"].endswith("$metadata#Machines/$entity")
    assert (response.json()["Id"], response.json()["Name"]) == (machine.pk, "One")


def test_put_replaces_the_fields_and_renames_the_client(api, tenant):
    # given
    machine = machine_create(tenant=tenant, name="Old", description="old", type="Template")

    # when: a whole entity back, as OData clients send it, without Description
    response = api.put(machine_url(machine), {"Id": machine.pk, "Name": "New", "Type": "Template"})

    # then
    assert response.status_code == 200, response.content
    assert (response.json()["Name"], response.json()["Description"]) == ("New", "")
    machine.refresh_from_db()
    assert (machine.name, machine.description, machine.client.name) == ("New", "", "New")
    event = AuditEvent.objects.get(action="machine.update")
    assert event.details == {
        "name": {"before": "Old", "after": "New"},
        "description": {"before": "old", "after": ""},
    }


def test_put_needs_the_name(api, tenant):
    machine = machine_create(tenant=tenant)

    response = api.put(machine_url(machine), {"Description": "x"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["Name"]


def test_patch_changes_only_the_fields_sent(api, tenant):
    machine = machine_create(tenant=tenant, name="Same", description="old")

    response = api.patch(machine_url(machine), {"Description": "new"})

    assert response.status_code == 200, response.content
    assert (response.json()["Name"], response.json()["Description"]) == ("Same", "new")


def test_delete_answers_204_and_removes_the_machine_its_client_and_its_tokens(
    client, api, issue_token, tenant
):
    # given: a robot's token of the machine, which may not manage machines (403)
    machine, secret = machine_with_secret(tenant=tenant)
    robot = Api(client, issue_token(machine.client, secret))
    assert robot.get(machines_url(tenant)).status_code == 403
    client_id = machine.client.client_id

    # when
    response = api.delete(machine_url(machine))

    # then
    assert response.status_code == 204
    assert not Machine.objects.filter(pk=machine.pk).exists()
    assert not OAuthClient.objects.filter(client_id=client_id).exists()
    assert robot.get(machines_url(tenant)).status_code == 401
    assert token_request(client, client_id, secret).status_code == 401
    assert api.get(machine_url(machine)).status_code == 404
    assert {"machine.delete", "client.delete"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


# --- invalid input ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Robots", "robots", " ROBOTS "], ids=["same", "lower", "upper"])
def test_a_duplicate_name_in_the_tenant_is_a_400_with_error_code_1001(api, tenant, name):
    # given
    machine_create(tenant=tenant, name="Robots")

    # when
    response = api.post(machines_url(tenant), {"Name": name})

    # then
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == ERROR_DUPLICATE_NAME == 1001
    assert list(body["errors"]) == ["Name"]
    assert "already exists" in body["message"]
    assert Machine.objects.filter(tenant=tenant).count() == 1


def test_renaming_to_a_taken_name_is_a_400_with_error_code_1001(api, tenant):
    machine_create(tenant=tenant, name="Taken")
    machine = machine_create(tenant=tenant, name="Mine")

    response = api.patch(machine_url(machine), {"Name": "TAKEN"})

    assert response.status_code == 400
    assert response.json()["errorCode"] == 1001


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"Description": "no name"}, "Name", id="missing-name"),
        pytest.param({"Name": ""}, "Name", id="blank-name"),
        pytest.param({"Name": "x" * 129}, "Name", id="long-name"),
        pytest.param({"Name": ["x"]}, "Name", id="name-not-a-string"),
        pytest.param({"Name": "M", "Description": "x" * 513}, "Description", id="long-description"),
        pytest.param({"Name": "M", "Type": "Serverless"}, "Type", id="unknown-type"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(api, tenant, body, field):
    response = api.post(machines_url(tenant), body)

    assert response.status_code == 400
    assert response.json()["errorCode"] == ERROR_INVALID_INPUT
    assert list(response.json()["errors"]) == [field]
    assert response.json()["message"].startswith(f"{field}: ")
    assert not Machine.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", "{not json"], ids=["not-an-object", "malformed"])
def test_a_body_that_is_not_a_json_object_is_a_400(api, tenant, body):
    response = api.post(machines_url(tenant), body)

    assert response.status_code == 400
    assert response.json()["errorCode"] == ERROR_INVALID_INPUT


# --- who may do what ------------------------------------------------------------------------


def _routes(machine, secret_id, tenant=None):
    """Every route with a method and body, as (method, path, body)."""
    return {
        "list": ("get", machines_url(tenant or machine.tenant), None),
        "create": ("post", machines_url(tenant or machine.tenant), {"Name": "New"}),
        "get": ("get", machine_url(machine, tenant), None),
        "put": ("put", machine_url(machine, tenant), {"Name": "Renamed"}),
        "patch": ("patch", machine_url(machine, tenant), {"Name": "Renamed"}),
        "delete": ("delete", machine_url(machine, tenant), None),
        "secrets-list": ("get", secrets_url(machine, tenant), None),
        "secrets-create": ("post", secrets_url(machine, tenant), {"description": "x"}),
        "secrets-delete": ("delete", f"{secrets_url(machine, tenant)}/{secret_id}", None),
    }


ROUTES = [
    "list",
    "create",
    "get",
    "put",
    "patch",
    "delete",
    "secrets-list",
    "secrets-create",
    "secrets-delete",
]
READS = {"list", "get", "secrets-list"}
FOREIGN_MACHINE_ROUTES = [r for r in ROUTES if r not in {"list", "create"}]


def _call(api, method, path, body):
    return getattr(api, method)(path) if body is None else getattr(api, method)(path, body)


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_token_every_route_is_a_401_with_a_challenge(client, tenant, route):
    machine, _ = machine_with_secret(tenant=tenant)
    secret = ClientSecret.objects.get(client=machine.client)

    response = _call(Api(client, None), *_routes(machine, secret.pk)[route])

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("route", ROUTES)
def test_a_read_token_reads_but_may_not_write(read_only_api, tenant, route):
    machine, _ = machine_with_secret(tenant=tenant)
    secret = ClientSecret.objects.get(client=machine.client)

    response = _call(read_only_api, *_routes(machine, secret.pk)[route])

    assert response.status_code == (200 if route in READS else 403)


@pytest.mark.parametrize("route", ROUTES)
def test_another_organizations_routes_are_a_404(api, other_tenant, route):
    # given: a machine of another organization, under that organization's URL
    machine, _ = machine_with_secret(tenant=other_tenant)
    secret = ClientSecret.objects.get(client=machine.client)

    # when
    response = _call(api, *_routes(machine, secret.pk)[route])

    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert Machine.objects.filter(pk=machine.pk, name=machine.name).exists()
    assert ClientSecret.objects.filter(pk=secret.pk).exists()


@pytest.mark.parametrize("route", FOREIGN_MACHINE_ROUTES)
@pytest.mark.parametrize("where", ["other-organization", "other-tenant", "missing"])
def test_a_machine_id_not_of_this_tenant_is_the_same_404_as_a_missing_one(
    api, tenant, other_tenant, route, where
):
    # given: our tenant's URL with the id of a machine elsewhere, or of none
    elsewhere = {
        "other-organization": other_tenant,
        "other-tenant": TenantFactory(organization=tenant.organization),
    }
    if where == "missing":
        machine, secret_id = Machine(pk=2**62), 2**62
    else:
        machine, _ = machine_with_secret(tenant=elsewhere[where])
        secret_id = ClientSecret.objects.get(client=machine.client).pk

    # when
    response = _call(api, *_routes(machine, secret_id, tenant=tenant)[route])

    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_missing_machine_is_a_404_before_its_body_is_read(api, tenant, method):
    response = getattr(api, method)(f"{machines_url(tenant)}(12345)", {"Name": ""})

    assert response.status_code == 404


def test_a_machine_token_reaches_its_own_tenant_only(client, issue_token, tenant):
    # given
    machine, secret = machine_with_secret(tenant=tenant)
    other = TenantFactory(organization=tenant.organization)
    robot = Api(client, issue_token(machine.client, secret))

    # then: its own tenant answers 403 (no machines scope), another one 404
    assert robot.get(machines_url(tenant)).status_code == 403
    assert robot.get(machines_url(other)).status_code == 404


def test_an_unknown_route_under_machines_is_a_json_404(api, tenant):
    response = api.get(f"{machines_url(tenant)}(abc)")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- client secrets -------------------------------------------------------------------------


def test_a_new_secret_is_shown_once_and_works_at_the_token_endpoint(client, api, tenant):
    # given
    machine = machine_create(tenant=tenant)
    expiry = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)

    # when
    response = api.post(
        secrets_url(machine), {"description": "robot 1", "expiryTime": expiry.isoformat()}
    )

    # then: the plaintext once, never again
    assert response.status_code == 201, response.content
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    assert set(created) == {"id", "description", "secret", "creationTime", "expiryTime"}
    assert created["description"] == "robot 1"
    assert created["expiryTime"] == expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    listed = api.get(secrets_url(machine))
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == [created["id"]]
    assert set(listed.json()[0]) == {
        "id", "description", "creationTime", "expiryTime", "lastUsedTime", "prefix"
    }  # fmt: skip
    assert created["secret"] not in listed.content.decode()
    assert created["secret"].startswith(listed.json()[0]["prefix"])
    # and the robot authenticates with LicenseKey + secret
    license_key = api.get(machine_url(machine)).json()["LicenseKey"]
    token = token_request(client, license_key, created["secret"])
    assert token.status_code == 200, token.content
    assert token.json()["scope"] == "OrchestratorApiUserAccess"


def test_a_deleted_secret_stops_working_and_so_do_its_tokens(client, api, issue_token, tenant):
    # given: a machine with two secrets and a robot token issued with the first
    machine, secret = machine_with_secret(tenant=tenant)
    kept = api.post(secrets_url(machine), {"description": "kept"}).json()
    robot = Api(client, issue_token(machine.client, secret))
    assert robot.get(machines_url(tenant)).status_code == 403
    secret_id = ClientSecret.objects.exclude(pk=kept["id"]).get(client=machine.client).pk

    # when
    response = api.delete(f"{secrets_url(machine)}/{secret_id}")

    # then
    assert response.status_code == 204
    refused = token_request(client, machine.client.client_id, secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert robot.get(machines_url(tenant)).status_code == 401
    assert token_request(client, machine.client.client_id, kept["secret"]).status_code == 200
    assert [s["id"] for s in api.get(secrets_url(machine)).json()] == [kept["id"]]


def test_a_secret_of_another_machine_is_a_404(api, tenant):
    mine = machine_create(tenant=tenant)
    theirs, _ = machine_with_secret(tenant=tenant)
    secret_id = ClientSecret.objects.get(client=theirs.client).pk

    response = api.delete(f"{secrets_url(mine)}/{secret_id}")

    assert response.status_code == 404
    assert ClientSecret.objects.filter(pk=secret_id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"description": "x" * 513}, "description", id="long-description"),
        pytest.param({"expiryTime": "2001-01-01T00:00:00Z"}, "expiryTime", id="past-expiry"),
        pytest.param({"expiryTime": "next week"}, "expiryTime", id="not-a-time"),
    ],
)
def test_invalid_secret_input_is_a_400(api, tenant, body, field):
    machine = machine_create(tenant=tenant)

    response = api.post(secrets_url(machine), body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not ClientSecret.objects.filter(client=machine.client).exists()


def test_a_client_has_at_most_twenty_secrets(api, tenant):
    # given
    machine = machine_create(tenant=tenant)
    for _ in range(20):
        assert api.post(secrets_url(machine), {}).status_code == 201

    # when
    response = api.post(secrets_url(machine), {"description": "one too many"})

    # then
    assert response.status_code == 400
    assert "at most 20 secrets" in response.json()["message"]
    assert ClientSecret.objects.filter(client=machine.client).count() == 20


def test_head_needs_what_get_needs(client, tenant, issue_token):
    reader, secret = client_with_secret(
        organization=tenant.organization, scopes=["OR.Machines.Read"]
    )
    token = issue_token(reader, secret)

    response = client.head(machines_url(tenant), headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


# --- audit ---------------------------------------------------------------------------------


def test_every_change_is_audited_and_no_secret_reaches_the_audit_log(api, tenant):
    # given
    start = AuditEvent.objects.count()

    # when: the whole life of a machine
    machine_id = api.post(machines_url(tenant), {"Name": "M"}).json()["Id"]
    machine = Machine.objects.get(pk=machine_id)
    api.patch(machine_url(machine), {"Name": "Renamed"})
    created = api.post(secrets_url(machine), {"description": "d"}).json()
    api.delete(f"{secrets_url(machine)}/{created['id']}")
    api.delete(machine_url(machine))

    # then
    events = AuditEvent.objects.order_by("id")[start:]
    assert [e.action for e in events] == [
        "client.create",
        "machine.create",
        "client.update",
        "machine.update",
        "client_secret.create",
        "client_secret.delete",
        "machine.delete",
        "client.delete",
    ]
    assert all(e.tenant_id == tenant.pk for e in events)
    dumped = json.dumps([list(AuditEvent.objects.values())], default=str)
    assert created["secret"] not in dumped
    assert created["secret"][:12] not in dumped


@pytest.mark.parametrize("route", ["get", "secrets-list", "secrets-delete"])
def test_an_id_beyond_any_integer_column_is_a_404(api, tenant, route):
    response = _call(api, *_routes(Machine(pk=10**30), 10**30, tenant=tenant)[route])

    assert response.status_code == 404
