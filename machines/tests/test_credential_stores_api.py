"""The CredentialStores OData API and robots' credentials through the Robots API (SPEC §12),
end to end with the database store; a vault store that cannot be reached stands for every
vault down (machines.vaults' own tests and fakes cover each vault's protocol)."""

import json
import logging

import pytest

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from machines import credential_stores
from machines.models import CredentialStore, Robot, StoredSecret
from machines.tests.factories import TEST_ACTOR, robot_create
from tenants.models import AuditEvent
from tenants.odata import ERROR_DUPLICATE_NAME

PASSWORD = "Robot-Pa55word!unique"
SECRET_ID = "approle-secret-id-unique-4711"
ACTIONS = "UiPath.Server.Configuration.OData"
# A closed port on loopback: a vault that is down.
DOWN = "https://127.0.0.1:9"


def odata(tenant, entity_set: str) -> str:
    return f"/{tenant.organization.slug}/{tenant.name}/orchestrator_/odata/{entity_set}"


def store_url(tenant, store_id, action: str = "") -> str:
    suffix = f"/{ACTIONS}.{action}" if action else ""
    return odata(tenant, f"CredentialStores({store_id})") + suffix


def hashicorp(**extra) -> dict:
    return {
        "VaultUri": DOWN,
        "AuthenticationType": "AppRole",
        "RoleId": "role-1",
        "SecretId": SECRET_ID,
        "DataPath": "robots",
        **extra,
    }


def cyberark(**extra) -> dict:
    return {
        "CentralCredentialProviderUrl": DOWN,
        "AppId": "Orchestrator",
        "Safe": "Robots",
        "Folder": "Root",
        **extra,
    }


@pytest.fixture
def token_for(client, issue_token):
    def make(tenant, *scopes):
        app, secret = client_with_secret(
            organization=tenant.organization, scopes=scopes, name=" ".join(scopes)
        )
        return Api(client, issue_token(app, secret))

    return make


@pytest.fixture
def api(token_for, tenant):
    return token_for(tenant, "OR.Settings", "OR.Robots", "OR.Audit")


def database_store(tenant) -> CredentialStore:
    return credential_stores.credential_store_database(tenant=tenant)


def create_store(api, tenant, name="Vault", type="HashiCorpVault", configuration=None):
    body = {"Name": name, "Type": type, "AdditionalConfiguration": configuration or hashicorp()}
    response = api.post(odata(tenant, "CredentialStores"), body)
    assert response.status_code == 201, response.content
    return response.json()


# --- stores -------------------------------------------------------------------------------


def test_available_types_are_uipaths(api, tenant):
    response = api.get(
        odata(tenant, f"CredentialStores/{ACTIONS}.GetAvailableCredentialStoreTypes()")
    )

    assert response.status_code == 200
    assert response.json()["value"] == [
        "Database",
        "HashiCorpVault",
        "HashiCorpVaultReadOnly",
        "AWSSecretsManager",
        "AWSSecretsManagerReadOnly",
        "AzureKeyVault",
        "AzureKeyVaultReadOnly",
        "CyberArkCCP",
    ]


def test_every_tenant_has_its_database_store_as_default(api, tenant):
    # when
    listed = api.get(odata(tenant, "CredentialStores"))
    default = api.get(
        odata(
            tenant,
            f"CredentialStores/{ACTIONS}.GetDefaultStoreForResourceType"
            "(resourceType='RobotCredentials')",
        )
    )

    # then
    [store] = listed.json()["value"]
    assert store == {
        "Id": store["Id"],
        "Name": "Orchestrator Database",
        "Type": "Database",
        "IsReadOnly": False,
        "IsDefault": True,
        "AdditionalConfiguration": {},
        "SecretsSet": [],
    }
    assert default.json() == {"value": store["Id"]}


def test_default_store_of_an_unknown_resource_type_is_a_400(api, tenant):
    response = api.get(
        odata(
            tenant, f"CredentialStores/{ACTIONS}.GetDefaultStoreForResourceType(resourceType='X')"
        )
    )

    assert response.status_code == 400
    assert "RobotCredentials" in response.json()["message"]


def test_a_store_is_created_with_its_secrets_write_only_and_encrypted(api, tenant):
    # when
    created = create_store(api, tenant)

    # then: no answer carries the secret; the row holds it encrypted; the audit redacts it
    assert created["AdditionalConfiguration"] == {
        "VaultUri": DOWN,
        "AuthenticationType": "AppRole",
        "RoleId": "role-1",
        "Username": "",
        "SecretsEngineMountPath": "secret",
        "KvVersion": "2",
        "DataPath": "robots",
        "Namespace": "",
        "CaCertificate": "",
    }
    assert created["SecretsSet"] == ["SecretId"]
    assert (created["IsReadOnly"], created["IsDefault"]) == (False, False)
    got = api.get(store_url(tenant, created["Id"]))
    listed = api.get(odata(tenant, "CredentialStores"))
    assert SECRET_ID not in got.content.decode() + listed.content.decode()
    row = CredentialStore.objects.get(pk=created["Id"])
    assert SECRET_ID not in json.dumps(row.fields) + row.secrets_encrypted
    assert credential_stores.store_secrets(row) == {"secret_id": SECRET_ID}
    event = AuditEvent.objects.get(action="credential_store.create", target_id=str(row.pk))
    assert event.details["write_only_changed"] == ["SecretId"]
    assert SECRET_ID not in json.dumps(event.details)


def test_additional_configuration_may_be_uipaths_json_text(api, tenant):
    body = {
        "Name": "V",
        "Type": "HashiCorpVault",
        "AdditionalConfiguration": json.dumps(hashicorp()),
    }

    response = api.post(odata(tenant, "CredentialStores"), body)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "V", "Type": "Nope"}, "Type: Unknown type"),
        ({"Name": "V", "Type": "Database"}, "Type: The database store is built in"),
        ({"Name": "V", "Type": "HashiCorpVault", "AdditionalConfiguration": {}}, "needs VaultUri"),
        (
            {"Name": "V", "Type": "HashiCorpVault", "AdditionalConfiguration": hashicorp(Oops="1")},
            "“Oops” is not a setting",
        ),
        (
            {
                "Name": "V",
                "Type": "HashiCorpVault",
                "AdditionalConfiguration": hashicorp(KvVersion="3"),
            },
            "KvVersion must be one of 1, 2",
        ),
        (
            {
                "Name": "V",
                "Type": "HashiCorpVault",
                "AdditionalConfiguration": hashicorp(AuthenticationType="Token"),
            },
            "needs Token",
        ),
        (
            {
                "Name": "V",
                "Type": "AWSSecretsManager",
                "AdditionalConfiguration": {"Region": "eu-west-1", "AccessKeyId": "AKIA"},
            },
            "AccessKeyId and SecretAccessKey",
        ),
        (
            {"Name": "V", "Type": "HashiCorpVault", "AdditionalConfiguration": "[1"},
            "AdditionalConfiguration: Must be a JSON object",
        ),
        (
            {
                "Name": "V",
                "Type": "CyberArkCCP",
                "AdditionalConfiguration": cyberark(ClientCertificate="not pem"),
            },
            "ClientCertificate must be PEM text",
        ),
    ],
    ids=[
        "unknown-type",
        "second-database",
        "missing-required",
        "unknown-setting",
        "bad-choice",
        "token-auth-without-token",
        "aws-half-keys",
        "malformed-json-text",
        "certificate-not-pem",
    ],
)
def test_invalid_stores_are_refused_with_uipaths_400(api, tenant, body, message):
    response = api.post(odata(tenant, "CredentialStores"), body)

    assert response.status_code == 400, response.content
    assert message in response.json()["message"]
    assert not CredentialStore.objects.exclude(type="Database").exists()


def test_a_name_is_unique_in_the_tenant(api, tenant):
    create_store(api, tenant, name="Vault")

    response = api.post(
        odata(tenant, "CredentialStores"),
        {"Name": "VAULT", "Type": "HashiCorpVault", "AdditionalConfiguration": hashicorp()},
    )

    assert response.status_code == 400
    assert response.json()["errorCode"] == ERROR_DUPLICATE_NAME


def test_patch_keeps_secrets_left_out_and_the_type_cannot_change(api, tenant):
    # given
    store_id = create_store(api, tenant)["Id"]

    # when
    renamed = api.patch(
        store_url(tenant, store_id),
        {"Name": "Renamed", "AdditionalConfiguration": {"DataPath": "other"}},
    )
    retyped = api.patch(store_url(tenant, store_id), {"Type": "AzureKeyVault"})

    # then
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["AdditionalConfiguration"]["DataPath"] == "other"
    store = CredentialStore.objects.get(pk=store_id)
    assert credential_stores.store_secrets(store) == {"secret_id": SECRET_ID}
    assert retyped.status_code == 400
    assert "cannot change" in retyped.json()["message"]
    update = AuditEvent.objects.get(action="credential_store.update")
    assert update.details["name"] == {"before": "Vault", "after": "Renamed"}


def test_set_default_store_for_robot_credentials(api, tenant):
    # given
    store_id = create_store(api, tenant, type="HashiCorpVaultReadOnly")["Id"]

    # when
    response = api.post(
        store_url(tenant, store_id, "SetDefaultStoreForResourceType"),
        {"resourceType": "RobotCredentials"},
    )
    robot = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "corp\\r", "ExternalName": "r-pass"}
    )

    # then: the new robot's credential is looked up in the default store by its name
    assert response.status_code == 204, response.content
    default = api.get(
        odata(
            tenant,
            f"CredentialStores/{ACTIONS}.GetDefaultStoreForResourceType"
            "(resourceType='RobotCredentials')",
        )
    )
    assert default.json()["value"] == store_id
    assert robot.status_code == 201, robot.content
    assert (robot.json()["CredentialStoreId"], robot.json()["HasCredential"]) == (store_id, True)
    assert AuditEvent.objects.filter(action="credential_store.set_default").exists()
    refused = api.post(
        store_url(tenant, store_id, "SetDefaultStoreForResourceType"), {"resourceType": "Assets"}
    )
    assert refused.status_code == 400


def test_the_database_store_cannot_be_deleted(api, tenant):
    response = api.delete(store_url(tenant, database_store(tenant).pk))

    assert response.status_code == 400
    assert "built in" in response.json()["message"]


def test_a_store_robots_use_is_deleted_only_with_force_delete(api, tenant):
    # given
    store_id = create_store(api, tenant, type="HashiCorpVaultReadOnly")["Id"]
    robot = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store_id, "ExternalName": "r"},
    ).json()

    # when
    refused = api.delete(store_url(tenant, store_id))
    bad_flag = api.delete(store_url(tenant, store_id) + "?forceDelete=maybe")
    forced = api.delete(store_url(tenant, store_id) + "?forceDelete=true")

    # then
    assert refused.status_code == 400
    assert "forceDelete" in refused.json()["message"]
    assert bad_flag.status_code == 400
    assert forced.status_code == 204
    after = api.get(odata(tenant, f"Robots({robot['Id']})")).json()
    assert (after["CredentialStoreId"], after["HasCredential"]) == (None, False)
    event = AuditEvent.objects.get(action="credential_store.delete")
    assert event.details["robots"] == [robot["Id"]]


def test_an_unused_store_is_deleted_without_force(api, tenant):
    store_id = create_store(api, tenant)["Id"]

    assert api.delete(store_url(tenant, store_id)).status_code == 204
    assert api.get(store_url(tenant, store_id)).status_code == 404


def test_another_organizations_store_is_a_404(api, tenant, other_tenant, token_for):
    # given
    foreign = credential_stores.credential_store_create(
        tenant=other_tenant,
        name="Theirs",
        type="HashiCorpVault",
        configuration=hashicorp(),
        actor=TEST_ACTOR,
    )

    # when / then: by our tenant's URL, and by theirs with our token
    for url in (store_url(tenant, foreign.pk), store_url(other_tenant, foreign.pk)):
        assert api.get(url).status_code == 404
        assert api.patch(url, {"Name": "Mine"}).status_code == 404
        assert api.delete(url + "?forceDelete=true").status_code == 404
        assert api.post(f"{url}/{ACTIONS}.TestConnection", {}).status_code == 404
    assert CredentialStore.objects.get(pk=foreign.pk).name == "Theirs"


def test_read_scope_reads_and_cannot_write(token_for, tenant):
    reader = token_for(tenant, "OR.Settings.Read")

    assert reader.get(odata(tenant, "CredentialStores")).status_code == 200
    body = {"Name": "V", "Type": "HashiCorpVault", "AdditionalConfiguration": hashicorp()}
    assert reader.post(odata(tenant, "CredentialStores"), body).status_code == 403
    store_id = database_store(tenant).pk
    assert reader.post(store_url(tenant, store_id, "TestConnection"), {}).status_code == 403
    robots_only = token_for(tenant, "OR.Robots")
    assert robots_only.get(odata(tenant, "CredentialStores")).status_code == 403


def test_two_tenants_cyberark_stores_may_not_share_app_id_safe_and_folder(
    api, tenant, other_tenant
):
    # given
    credential_stores.credential_store_create(
        tenant=other_tenant,
        name="CA",
        type="CyberArkCCP",
        configuration=cyberark(),
        actor=TEST_ACTOR,
    )

    # when
    shared = api.post(
        odata(tenant, "CredentialStores"),
        {
            "Name": "CA",
            "Type": "CyberArkCCP",
            "AdditionalConfiguration": cyberark(AppId="ORCHESTRATOR", Safe="robots"),
        },
    )
    own_folder = api.post(
        odata(tenant, "CredentialStores"),
        {"Name": "CA", "Type": "CyberArkCCP", "AdditionalConfiguration": cyberark(Folder="T1")},
    )

    # then
    assert shared.status_code == 400
    assert "Another tenant's CyberArk store" in shared.json()["message"]
    assert own_folder.status_code == 201, own_folder.content
    assert own_folder.json()["IsReadOnly"] is True
    moved = api.patch(
        store_url(tenant, own_folder.json()["Id"]), {"AdditionalConfiguration": {"Folder": "Root"}}
    )
    assert moved.status_code == 400


# --- test connection ----------------------------------------------------------------------


def test_test_connection_of_the_database_store_and_its_robots(api, tenant):
    # given
    store = database_store(tenant)
    with_password = api.post(
        odata(tenant, "Robots"), {"Name": "A", "Username": "u", "Password": PASSWORD}
    ).json()
    without = api.post(odata(tenant, "Robots"), {"Name": "B", "Username": "u"}).json()

    # when
    plain = api.post(store_url(tenant, store.pk, "TestConnection"), {})
    found = api.post(
        store_url(tenant, store.pk, "TestConnection"), {"robotId": with_password["Id"]}
    )
    missing = api.post(store_url(tenant, store.pk, "TestConnection"), {"RobotId": without["Id"]})

    # then
    assert plain.json() == {"Id": store.pk, "Name": store.name, "Connected": True}
    assert found.json()["Robot"] == {"Id": with_password["Id"], "Name": "A", "Credential": "Found"}
    assert missing.json()["Robot"]["Credential"] == "NotFound"
    assert PASSWORD not in found.content.decode()
    resolutions = AuditEvent.objects.filter(action="credential.resolve").order_by("pk")
    assert [(e.outcome, e.reason_code) for e in resolutions] == [
        ("success", ""),
        ("failure", "secret_not_found"),
    ]
    assert AuditEvent.objects.filter(action="credential_store.test").count() == 3


def test_test_connection_refuses_a_robot_of_another_store(api, tenant, other_tenant):
    store_id = create_store(api, tenant, type="HashiCorpVaultReadOnly")["Id"]
    robot = robot_create(tenant=tenant)  # in the database store
    foreign = robot_create(tenant=other_tenant)

    for robot_id in (robot.pk, foreign.pk, 999999):
        response = api.post(store_url(tenant, store_id, "TestConnection"), {"robotId": robot_id})
        assert response.status_code == 400
        assert response.json()["errors"] == {
            "RobotId": ["Unknown robot, or not a robot of this store."]
        }


def test_a_vault_down_is_a_400_naming_the_store_never_a_500(api, tenant, settings):
    # given
    settings.CREDENTIAL_STORE_TIMEOUT_SECONDS = 1
    store_id = create_store(api, tenant, name="Corp Vault")["Id"]

    # when
    tested = api.post(store_url(tenant, store_id, "TestConnection"), {})
    robot = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": store_id, "Password": PASSWORD},
    )

    # then
    assert tested.status_code == 400
    assert tested.json()["message"].startswith("Credential store “Corp Vault”:")
    assert robot.status_code == 400
    assert robot.json()["message"].startswith("Password: Credential store “Corp Vault”:")
    assert not Robot.objects.exists()
    event = AuditEvent.objects.get(action="credential_store.test")
    assert (event.outcome, event.reason_code) == ("failure", "vault_unreachable")


# --- robots' credentials --------------------------------------------------------------------


def test_a_robots_password_is_write_only_and_encrypted_in_the_database_store(api, tenant):
    # when
    created = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "corp\\r", "Password": PASSWORD}
    )

    # then
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["HasCredential"] is True
    assert body["CredentialStoreId"] == database_store(tenant).pk
    assert "Password" not in body and PASSWORD not in created.content.decode()
    robot = Robot.objects.get()
    secret = StoredSecret.objects.get()
    assert secret.name == robot.secret_name == f"uipath-robot-{robot.key}"
    assert PASSWORD not in secret.value_encrypted
    assert credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR) == PASSWORD
    event = AuditEvent.objects.get(action="robot.create")
    assert event.details["credential"] == "written"
    assert PASSWORD not in json.dumps([e.details for e in AuditEvent.objects.all()])


def test_a_new_password_replaces_the_old_and_null_keeps_it(api, tenant):
    robot_id = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "u", "Password": "first"}
    ).json()["Id"]

    kept = api.patch(odata(tenant, f"Robots({robot_id})"), {"Password": None, "Description": "d"})
    changed = api.patch(odata(tenant, f"Robots({robot_id})"), {"Password": PASSWORD})

    assert (kept.status_code, changed.status_code) == (200, 200)
    robot = Robot.objects.get()
    assert StoredSecret.objects.count() == 1
    assert credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR) == PASSWORD


def test_a_read_only_store_refuses_a_password_and_a_read_write_one_an_external_name(api, tenant):
    read_only = create_store(api, tenant, name="RO", type="HashiCorpVaultReadOnly")["Id"]

    with_password = api.post(
        odata(tenant, "Robots"),
        {"Name": "R", "Username": "u", "CredentialStoreId": read_only, "Password": PASSWORD},
    )
    with_name = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "u", "ExternalName": "robot-r"}
    )

    assert with_password.status_code == 400
    assert with_password.json()["errors"]["Password"][0].startswith("The store “RO” is read-only")
    assert with_name.status_code == 400
    assert "ExternalName" in with_name.json()["errors"]
    assert not Robot.objects.exists()


def test_moving_a_robot_to_another_store_deletes_the_password_we_wrote(api, tenant):
    robot_id = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "u", "Password": PASSWORD}
    ).json()["Id"]
    read_only = create_store(api, tenant, name="RO", type="HashiCorpVaultReadOnly")["Id"]

    moved = api.patch(
        odata(tenant, f"Robots({robot_id})"),
        {"CredentialStoreId": read_only, "ExternalName": "corp-r"},
    )

    assert moved.status_code == 200, moved.content
    assert (moved.json()["CredentialStoreId"], moved.json()["ExternalName"]) == (
        read_only,
        "corp-r",
    )
    assert not StoredSecret.objects.exists()
    robot = Robot.objects.get()
    assert robot.secret_name == ""


def test_an_unknown_or_foreign_store_is_refused_for_a_robot(api, tenant, other_tenant):
    foreign = credential_stores.credential_store_database(tenant=other_tenant)

    for store_id in (foreign.pk, 999999):
        response = api.post(
            odata(tenant, "Robots"), {"Name": "R", "Username": "u", "CredentialStoreId": store_id}
        )
        assert response.status_code == 400
        assert response.json()["errors"] == {"CredentialStoreId": ["Unknown credential store."]}


def test_deleting_a_robot_deletes_its_password(api, tenant):
    robot_id = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "u", "Password": PASSWORD}
    ).json()["Id"]

    assert api.delete(odata(tenant, f"Robots({robot_id})")).status_code == 204

    assert not StoredSecret.objects.exists()


def test_no_password_or_store_secret_reaches_any_log(api, tenant, caplog, capsys):
    # given: every logger at DEBUG
    caplog.set_level(logging.DEBUG)
    store_id = database_store(tenant).pk

    # when: a store with a secret, a robot with a password, its resolution, failures
    create_store(api, tenant, name="V")
    robot_id = api.post(
        odata(tenant, "Robots"), {"Name": "R", "Username": "u", "Password": PASSWORD}
    ).json()["Id"]
    api.post(store_url(tenant, store_id, "TestConnection"), {"robotId": robot_id})
    api.patch(odata(tenant, f"Robots({robot_id})"), {"Password": PASSWORD + "2"})
    api.post(
        odata(tenant, "Robots"),
        {"Name": "R2", "Username": "u", "CredentialStoreId": 999999, "Password": PASSWORD},
    )

    # then
    captured = caplog.text + "".join(capsys.readouterr())
    assert captured  # the requests were logged
    assert PASSWORD not in captured
    assert SECRET_ID not in captured
    audit = json.dumps([e.details for e in AuditEvent.objects.all()])
    assert PASSWORD not in audit and SECRET_ID not in audit
