"""The admin site's credential-store pages and the credential on the robot pages: list,
add, edit, test connection, default, delete; secrets never shown; members read only;
another organization's store not found."""

import pytest

from machines import credential_stores
from machines.models import CredentialStore, Robot
from machines.tests.factories import TEST_ACTOR, robot_create
from machines.tests.test_site import (  # the site's page helpers and fixtures
    admin,  # noqa: F401
    assert_audited_by,
    audited,
    field_errors,
    member,  # noqa: F401
    site,
    text,
    top_errors,
    user,  # noqa: F401
)
from tenants.models import AuditEvent

SECRET_ID = "site-secret-id-never-shown"
PASSWORD = "site-robot-password-never-shown"
DOWN = "https://127.0.0.1:9"


def hashicorp_form(**extra) -> dict:
    return {
        "name": "Corp Vault",
        "VaultUri": DOWN,
        "AuthenticationType": "AppRole",
        "RoleId": "role-1",
        "SecretId": SECRET_ID,
        "KvVersion": "2",
        **extra,
    }


def vault(tenant, name="Corp Vault", type="HashiCorpVault", **extra) -> CredentialStore:
    configuration = {
        "VaultUri": DOWN,
        "AuthenticationType": "AppRole",
        "RoleId": "r",
        "SecretId": SECRET_ID,
        **extra,
    }
    return credential_stores.credential_store_create(
        tenant=tenant, name=name, type=type, configuration=configuration, actor=TEST_ACTOR
    )


def test_the_list_shows_the_database_store_as_default(admin, tenant):  # noqa: F811
    response = admin.get(site(tenant, "credential-stores/"))

    assert response.status_code == 200
    page = text(response)
    assert "Orchestrator Database" in page and "Default" in page
    assert 'href="{}"'.format(site(tenant, "credential-stores/")) in page  # the tenant's nav


def test_an_admin_adds_a_store_of_a_chosen_kind(admin, user, tenant):  # noqa: F811
    # given
    kinds = text(admin.get(site(tenant, "credential-stores/new/")))
    assert "?type=HashiCorpVault" in kinds and "?type=Database" not in kinds
    form = text(admin.get(site(tenant, "credential-stores/new/?type=HashiCorpVault")))
    assert 'name="VaultUri"' in form and 'name="SecretId"' in form

    # when
    response = admin.post(
        site(tenant, "credential-stores/new/?type=HashiCorpVault"), hashicorp_form(), follow=True
    )

    # then
    store = CredentialStore.objects.get(type="HashiCorpVault")
    assert response.redirect_chain == [(site(tenant, f"credential-stores/{store.pk}/"), 302)]
    page = text(response)
    assert "Credential store “Corp Vault” created." in page
    assert "Secret ID" in page and SECRET_ID not in page
    assert credential_stores.store_secrets(store) == {"secret_id": SECRET_ID}
    [event] = [e for e in audited("credential_store.create") if e.target_id == str(store.pk)]
    assert_audited_by(event, user)


def test_a_refused_store_shows_the_apis_message(admin, tenant):  # noqa: F811
    response = admin.post(
        site(tenant, "credential-stores/new/?type=HashiCorpVault"),
        hashicorp_form(AuthenticationType="Token", SecretId=""),
    )

    assert response.status_code == 200
    assert top_errors(response) == ["A HashiCorpVault store needs Token."]
    assert not CredentialStore.objects.filter(type="HashiCorpVault").exists()


def test_editing_keeps_a_secret_left_empty_and_never_shows_it(admin, tenant):  # noqa: F811
    # given
    store = vault(tenant)
    edit = site(tenant, f"credential-stores/{store.pk}/edit/")
    assert SECRET_ID not in text(admin.get(edit))

    # when
    response = admin.post(edit, hashicorp_form(name="Renamed", SecretId="", DataPath="robots"))

    # then
    assert response.status_code == 302, field_errors(response, "name")
    store.refresh_from_db()
    assert (store.name, store.fields["data_path"]) == ("Renamed", "robots")
    assert credential_stores.store_secrets(store) == {"secret_id": SECRET_ID}


def test_test_connection_says_connected_or_names_the_store_that_failed(admin, tenant):  # noqa: F811
    database = credential_stores.credential_store_database(tenant=tenant)
    down = vault(tenant)

    ok = admin.post(site(tenant, f"credential-stores/{database.pk}/test/"), follow=True)
    failed = admin.post(site(tenant, f"credential-stores/{down.pk}/test/"), follow=True)

    assert "Connected to the credential store “Orchestrator Database”." in text(ok)
    assert "Credential store “Corp Vault”:" in text(failed)
    assert [e.outcome for e in audited("credential_store.test")] == ["success", "failure"]


def test_make_default_then_delete_a_store_robots_use(admin, tenant):  # noqa: F811
    # given
    store = vault(tenant, type="HashiCorpVaultReadOnly")
    admin.post(site(tenant, f"credential-stores/{store.pk}/default/"))
    robot = robot_create(tenant=tenant)  # in the default store now
    credential_stores.robot_credential_set(robot=robot, actor=TEST_ACTOR, external_name="corp-r")
    delete = site(tenant, f"credential-stores/{store.pk}/delete/")

    # when
    asked = admin.post(delete)
    done = admin.post(delete, {"confirmed": "yes"})

    # then
    assert robot.credential_store == store
    assert "1 robot(s) use it" in text(asked)
    assert done.url == site(tenant, "credential-stores/")
    robot.refresh_from_db()
    assert (robot.credential_store, robot.external_name) == (None, "")
    default = credential_stores.credential_store_default(tenant=tenant)
    assert default.type == "Database"


def test_the_database_store_cannot_be_deleted_from_the_site(admin, tenant):  # noqa: F811
    database = credential_stores.credential_store_database(tenant=tenant)

    response = admin.post(
        site(tenant, f"credential-stores/{database.pk}/delete/"), {"confirmed": "yes"}, follow=True
    )

    assert "built in" in text(response)
    assert CredentialStore.objects.filter(pk=database.pk).exists()


def test_a_member_reads_but_cannot_write_or_see_secrets(member, tenant):  # noqa: F811
    store = vault(tenant)

    detail = member.get(site(tenant, f"credential-stores/{store.pk}/"))

    assert detail.status_code == 200
    assert SECRET_ID not in text(detail) and "Test connection" not in text(detail)
    for path in ("new/?type=HashiCorpVault", f"{store.pk}/edit/"):
        assert member.get(site(tenant, f"credential-stores/{path}")).status_code == 403
    for path in (f"{store.pk}/test/", f"{store.pk}/default/", f"{store.pk}/delete/"):
        response = member.post(site(tenant, f"credential-stores/{path}"), {"confirmed": "yes"})
        assert response.status_code == 403
    assert CredentialStore.objects.filter(pk=store.pk).exists()
    assert not AuditEvent.objects.filter(action="credential_store.test").exists()


def test_another_organizations_store_is_not_found(admin, tenant, other_tenant):  # noqa: F811
    foreign = vault(other_tenant)

    for path in ("", "edit/"):
        assert admin.get(site(tenant, f"credential-stores/{foreign.pk}/{path}")).status_code == 404
    for path in ("test/", "default/", "delete/"):
        response = admin.post(site(tenant, f"credential-stores/{foreign.pk}/{path}"))
        assert response.status_code == 404


# --- the robot pages ----------------------------------------------------------------------


def test_a_robot_gets_a_password_on_its_form_and_the_list_says_it_has_one(admin, tenant):  # noqa: F811
    # given
    database = credential_stores.credential_store_database(tenant=tenant)
    form = text(admin.get(site(tenant, "robots/new/")))
    assert f'<option value="{database.pk}" selected>' in form

    # when
    admin.post(
        site(tenant, "robots/new/"),
        {
            "name": "Bot",
            "username": "corp\\bot",
            "credentialStoreId": database.pk,
            "password": PASSWORD,
        },
    )

    # then
    robot = Robot.objects.get()
    assert credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR) == PASSWORD
    listed = text(admin.get(site(tenant, "robots/")))
    assert "Has a credential" in listed
    edit = text(admin.get(site(tenant, f"robots/{robot.pk}/edit/")))
    assert PASSWORD not in edit and PASSWORD not in listed


def test_a_read_only_store_refuses_a_password_on_the_robot_form(admin, tenant):  # noqa: F811
    store = vault(tenant, name="RO", type="HashiCorpVaultReadOnly")

    response = admin.post(
        site(tenant, "robots/new/"),
        {"name": "Bot", "username": "u", "credentialStoreId": store.pk, "password": PASSWORD},
    )

    assert field_errors(response, "password")[0].startswith("The store “RO” is read-only")
    assert PASSWORD not in text(response)
    assert not Robot.objects.exists()


@pytest.mark.parametrize("external_name", ["corp-bot"])
def test_a_robot_of_a_read_only_store_names_its_secret(admin, tenant, external_name):  # noqa: F811
    store = vault(tenant, name="RO", type="HashiCorpVaultReadOnly")

    admin.post(
        site(tenant, "robots/new/"),
        {
            "name": "Bot",
            "username": "u",
            "credentialStoreId": store.pk,
            "externalName": external_name,
        },
    )

    robot = Robot.objects.get()
    assert (robot.credential_store, robot.external_name) == (store, external_name)
    assert external_name in text(admin.get(site(tenant, f"robots/{robot.pk}/")))


def test_a_robot_without_a_store_keeps_none_until_given_a_password(admin, tenant):  # noqa: F811
    # given: a robot whose store was deleted
    robot = robot_create(tenant=tenant, name="Bot", username="u")
    credential_stores.robot_credential_set(robot=robot, actor=TEST_ACTOR, store=None)
    edit = site(tenant, f"robots/{robot.pk}/edit/")
    assert '<option value="" selected>None' in text(admin.get(edit))

    # when: saved as it is, then with a password
    admin.post(edit, {"name": "Bot", "username": "u", "credentialStoreId": ""})
    robot.refresh_from_db()
    store_after_save = robot.credential_store
    admin.post(
        edit, {"name": "Bot", "username": "u", "credentialStoreId": "", "password": PASSWORD}
    )

    # then
    assert store_after_save is None
    robot.refresh_from_db()
    assert robot.credential_store == credential_stores.credential_store_default(tenant=tenant)
    assert credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR) == PASSWORD
