"""The credential-store service (machines.credential_stores): the database store every
tenant has, encryption at rest across a SECRET_KEY rotation, and the resolution service's
audit."""

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError

from machines import credential_stores
from machines.models import CredentialStore, StoredSecret
from machines.tests.factories import TEST_ACTOR, robot_create
from machines.vaults import BAD_FORMAT, SECRET_NOT_FOUND, VaultError
from tenants.models import AuditEvent
from tenants.services import tenant_create
from tenants.tests.factories import OrganizationFactory, TenantFactory

PASSWORD = "s3cret-robot-password"
OLD_KEY = "old-" + "k" * 60
NEW_KEY = "new-" + "n" * 60


def test_a_new_tenant_gets_its_database_store_as_default(db):
    tenant = tenant_create(organization=OrganizationFactory(), name="T", actor=TEST_ACTOR)

    store = credential_stores.credential_store_default(tenant=tenant)

    assert (store.type, store.name) == ("Database", "Orchestrator Database")
    assert list(tenant.credential_stores.all()) == [store]


def test_the_migration_gives_existing_tenants_their_database_store(db):
    # given: tenants made as rows, one of them with its store already
    bare, served = TenantFactory(), TenantFactory()
    credential_stores.credential_store_database(tenant=served)
    migration = importlib.import_module("machines.migrations.0003_credential_stores")

    # when
    migration.create_database_stores(apps, None)

    # then
    assert bare.credential_stores.get().type == "Database"
    assert served.credential_stores.count() == 1


def test_a_second_database_store_is_refused_by_the_database(db):
    tenant = TenantFactory()
    credential_stores.credential_store_database(tenant=tenant)

    with pytest.raises(IntegrityError):
        CredentialStore.objects.create(tenant=tenant, name="Another", type="Database")


def test_passwords_survive_a_secret_key_rotation_with_fallbacks(db, settings):
    # given: a password written under the old key
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    robot = robot_create(tenant=TenantFactory())
    credential_stores.robot_credential_set(robot=robot, actor=TEST_ACTOR, password=PASSWORD)

    # when: the key rotates, the old one kept as a fallback
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]

    # then
    assert credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR) == PASSWORD


def test_without_the_old_key_a_password_is_bad_format_and_audited(db, settings):
    # given
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    robot = robot_create(tenant=TenantFactory())
    credential_stores.robot_credential_set(robot=robot, actor=TEST_ACTOR, password=PASSWORD)
    settings.SECRET_KEY = NEW_KEY

    # when
    with pytest.raises(VaultError) as error:
        credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR)

    # then
    assert error.value.reason == BAD_FORMAT
    assert "SECRET_KEY_FALLBACKS" in error.value.message
    event = AuditEvent.objects.get(action="credential.resolve")
    assert (event.outcome, event.reason_code) == ("failure", BAD_FORMAT)


def test_resolving_a_robot_without_a_credential_is_secret_not_found(db):
    robot = robot_create(tenant=TenantFactory())

    with pytest.raises(VaultError) as error:
        credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR)

    assert error.value.reason == SECRET_NOT_FOUND
    event = AuditEvent.objects.get(action="credential.resolve")
    assert (event.outcome, event.reason_code, event.target_id) == (
        "failure",
        SECRET_NOT_FOUND,
        str(robot.pk),
    )


def test_a_resolution_reads_the_store_every_time(db):
    # given: resolved once
    robot = robot_create(tenant=TenantFactory())
    credential_stores.robot_credential_set(robot=robot, actor=TEST_ACTOR, password=PASSWORD)
    credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR)

    # when: the stored value goes away
    StoredSecret.objects.all().delete()

    # then: nothing kept it
    with pytest.raises(VaultError):
        credential_stores.robot_password_resolve(robot=robot, actor=TEST_ACTOR)
    outcomes = AuditEvent.objects.filter(action="credential.resolve").order_by("pk")
    assert [e.outcome for e in outcomes] == ["success", "failure"]


def test_store_settings_and_passwords_use_different_keys(db):
    # One purpose's ciphertext never decrypts as another's.
    from identity_server.encryption import InvalidToken, decrypt, encrypt

    token = encrypt(credential_stores.DATABASE_SECRET_PURPOSE, PASSWORD)

    with pytest.raises(InvalidToken):
        decrypt(credential_stores.STORE_SECRETS_PURPOSE, token)
