"""federation's migrations on a database with data that came before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from federation.tests.factories import external_app
from tenants.tests.factories import OrganizationFactory

BEFORE = [("federation", "0001_initial")]
AFTER = [("federation", "0002_credential_claims_unique_and_display_safe_names")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _migrate_to_latest() -> None:
    """Every app back at its latest migration, as the other tests expect the schema."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_repeated_issuer_subject_and_audience_stop_the_migration_with_their_list():
    # given: two credentials of one application that grant the same trust, as 0001 allowed
    app, _ = external_app(organization=OrganizationFactory())
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            for name in ("first", "second"):
                cursor.execute(
                    "INSERT INTO federation_federatedcredential "
                    "(id, app_id, name, description, issuer, audience, subject, created_at, "
                    "updated_at) VALUES (%s, %s, %s, '', %s, %s, %s, %s, %s)",
                    [
                        f"00000000-0000-0000-0000-00000000000{len(name)}",
                        app.pk,
                        name,
                        "https://issuer.example",
                        "aud",
                        "repo:a/b:ref:refs/heads/main",
                        "2026-01-01 00:00:00",
                        "2026-01-01 00:00:00",
                    ],
                )

        # when / then: the operator is told which, not shown an IntegrityError
        with pytest.raises(RuntimeError) as stopped:
            _migrate(AFTER)
        assert "Delete all but one of each, then migrate again" in str(stopped.value)
        assert (
            f"application {app.client.client_id}: issuer 'https://issuer.example', "
            "subject 'repo:a/b:ref:refs/heads/main', audience 'aud' (2 times)"
        ) in str(stopped.value)

        # and once one is deleted, it migrates
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM federation_federatedcredential WHERE name = 'second'")
    finally:
        _migrate(AFTER)
        _migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_credentials_from_before_expressions_keep_their_subject_and_get_no_tests():
    # given: a credential as 0002 stored it
    from federation.models import FederatedCredential

    app, _ = external_app(organization=OrganizationFactory())
    _migrate(AFTER)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO federation_federatedcredential "
                "(id, app_id, name, description, issuer, audience, subject, created_at, "
                "updated_at) VALUES (%s, %s, 'main', '', %s, 'aud', %s, %s, %s)",
                [
                    "00000000-0000-0000-0000-000000000001",
                    app.pk,
                    "https://issuer.example",
                    "repo:a/b:ref:refs/heads/main",
                    "2026-01-01 00:00:00",
                    "2026-01-01 00:00:00",
                ],
            )
    finally:
        # when
        _migrate_to_latest()

    # then: an exact credential, as before, with empty trust-policy tests
    credential = FederatedCredential.objects.get(app=app)
    assert (credential.subject, credential.claims_matching_expression) == (
        "repo:a/b:ref:refs/heads/main",
        "",
    )
    assert (credential.must_match, credential.must_not_match, credential.matcher) == ([], [], None)


REDIRECT_BEFORE = [("federation", "0004_claims_matching_expressions")]
REDIRECT_AFTER = [("federation", "0005_redirect_uri_to_client")]


@pytest.mark.django_db(transaction=True)
def test_an_applications_redirect_uri_moves_to_its_client_and_back():
    # given: an application with a redirect URI where 0002 kept it, and one without
    app, _ = external_app(
        organization=OrganizationFactory(), redirect_uris=["https://app.example/first"]
    )
    other, _ = external_app(organization=app.organization, name="Other")
    _migrate(REDIRECT_BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT redirect_uri FROM federation_externalapp WHERE id = %s", [app.pk]
            )
            assert cursor.fetchone() == ("https://app.example/first",)  # moved back
            cursor.execute(
                "UPDATE federation_externalapp SET redirect_uri = %s WHERE id = %s",
                ["https://app.example/cb", app.pk],
            )
            cursor.execute("UPDATE identity_server_oauthclient SET redirect_uris = ''")

        # when
        _migrate(REDIRECT_AFTER)

        # then
        app.client.refresh_from_db()
        other.client.refresh_from_db()
        assert app.client.redirect_uris == "https://app.example/cb"
        assert other.client.redirect_uris == ""
    finally:
        _migrate_to_latest()
