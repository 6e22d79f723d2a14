"""The application's own keys over REST (SPEC §11): `…/ExternalClient/{partitionGlobalId}/
{clientId}/Keys`, with real tokens, the real database, and JWKS URLs served by the test
identity provider through the guarded fetcher."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from federation.models import KEYS_PER_APP, AppKey
from federation.tests.app_keys import SigningKey, registered_key, serve_app_jwks
from federation.tests.factories import external_app
from federation.tests.test_federated_credentials_api import _fire, postgres_only
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api
from tenants.models import AuditEvent

BASE = "/identity_/api/ExternalClient"


def keys_url(app) -> str:
    return f"{BASE}/{app.organization.global_id}/{app.client.client_id}/Keys"


@pytest.fixture
def app(organization):
    return external_app(organization=organization, scopes=("OR.Machines.Read",))[0]


@pytest.fixture
def script(organization):
    return client_with_secret(organization=organization, scopes=("PM.OAuthApp",), name="Script")


@pytest.fixture
def api(client, issue_token, script):
    return Api(client, issue_token(*script))


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey.rsa()


def errors(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["errors"]


# --- list, create, delete --------------------------------------------------------------------


def test_list_answers_an_empty_array_when_there_are_none(api, app):
    response = api.get(keys_url(app))

    assert response.status_code == 200
    assert response.json() == []


def test_a_pem_public_key_is_registered_listed_and_audited(api, app, rsa_key, script):
    # when
    response = api.post(keys_url(app), {"name": "CI signer", "publicKeyPem": rsa_key.public_pem})

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    key = AppKey.objects.get(app=app)
    assert body["id"] == str(key.pk)
    assert (body["name"], body["type"], body["keyType"]) == ("CI signer", "publicKey", "RSA 2048")
    assert body["publicKeyPem"] == rsa_key.public_pem.strip()
    assert body["thumbprint"] == key.jwk["kid"] and len(body["thumbprint"]) == 43
    assert (body["certificatePem"], body["jwksUri"], body["lastUsedAt"]) == (None, None, None)
    assert api.get(keys_url(app)).json() == [body]
    event = AuditEvent.objects.get(action="app_key.create")
    assert (event.actor_id, event.target_id) == (script[0].client_id, str(key.pk))
    assert event.details["thumbprint"] == body["thumbprint"]


def test_a_certificate_and_an_ec_key_are_registered(api, app):
    ec_key = SigningKey.ec()

    certificate = api.post(
        keys_url(app), {"name": "Cert", "certificatePem": SigningKey.rsa().certificate_pem()}
    )
    elliptic = api.post(keys_url(app), {"name": "EC", "publicKeyPem": ec_key.public_pem})

    assert certificate.status_code == 201, certificate.content
    assert certificate.json()["type"] == "certificate"
    assert certificate.json()["expiresAt"].endswith("Z")
    assert elliptic.status_code == 201, elliptic.content
    assert elliptic.json()["keyType"] == "EC P-256"


def test_a_jwks_url_is_fetched_through_the_guarded_fetcher(api, app, identity_provider):
    uri = serve_app_jwks(identity_provider, {"keys": [SigningKey.rsa().public_jwk()]})

    response = api.post(keys_url(app), {"name": "JWKS", "jwksUri": uri})

    assert response.status_code == 201, response.content
    assert (response.json()["type"], response.json()["jwksUri"]) == ("jwksUri", uri)
    assert identity_provider.requests_for("/apps/deployments/jwks.json") == 1


def test_delete_answers_204_and_audits(api, app, rsa_key):
    key = registered_key(app, rsa_key)

    response = api.delete(f"{keys_url(app)}/{key.pk}")

    assert response.status_code == 204
    assert not AppKey.objects.exists()
    assert AuditEvent.objects.filter(action="app_key.delete", target_id=str(key.pk)).exists()


# --- refusals, keyed by field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param(
            {"publicKeyPem": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"},
            "publicKeyPem",
            "Not a PEM public key",
            id="bad PEM",
        ),
        pytest.param(
            {"certificatePem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
            "certificatePem",
            "Not a PEM certificate",
            id="bad certificate",
        ),
        pytest.param(
            {"publicKeyPem": SigningKey.rsa(bits=1024).public_pem},
            "publicKeyPem",
            "The RSA key has 1024 bits; at least 2048 are required.",
            id="weak RSA",
        ),
        pytest.param(
            {"publicKeyPem": SigningKey.ed25519().public_pem},
            "publicKeyPem",
            "Unsupported key type (Ed25519)",
            id="Ed25519",
        ),
        pytest.param(
            {"publicKeyPem": SigningKey.ec(ec.SECP384R1()).public_pem},
            "publicKeyPem",
            "Unsupported key type (EC secp384r1)",
            id="EC P-384",
        ),
        pytest.param(
            {"certificatePem": SigningKey.rsa().certificate_pem(expired=True)},
            "certificatePem",
            "The certificate expired on",
            id="expired certificate",
        ),
        pytest.param({}, "key", "Give exactly one of", id="no key"),
        pytest.param(
            {"publicKeyPem": "x", "jwksUri": "https://keys.example/jwks"},
            "key",
            "Give exactly one of",
            id="two sources",
        ),
        pytest.param(
            {"jwksUri": "http://keys.example/jwks"},
            "jwksUri",
            "The JWKS URL must be an https:// URI.",
            id="plain HTTP",
        ),
    ],
)
def test_a_key_that_cannot_be_used_is_refused_with_its_field(api, app, body, field, message):
    response = api.post(keys_url(app), {"name": "Refused", **body})

    assert list(errors(response)) == [field]
    assert errors(response)[field][0].startswith(message)
    assert not AppKey.objects.exists()


@pytest.mark.parametrize("field", ["publicKeyPem", "certificatePem"])
def test_a_private_key_is_refused_and_not_echoed(api, app, rsa_key, field):
    response = api.post(keys_url(app), {"name": "Oops", field: rsa_key.private_pem})

    assert errors(response) == {
        field: [
            "This is a private key: register only its public key. It was not stored; treat "
            "the private key as exposed and replace it."
        ]
    }
    assert b"PRIVATE" not in response.content
    assert not AppKey.objects.exists()
    assert "PRIVATE" not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_a_jwks_url_publishing_private_members_is_refused_and_audited(
    api, app, rsa_key, identity_provider
):
    leaked = {**rsa_key.public_jwk(), "d": "AQAB"}
    uri = serve_app_jwks(identity_provider, {"keys": [leaked]})

    response = api.post(keys_url(app), {"name": "Leaky", "jwksUri": uri})

    assert errors(response)["jwksUri"][0].startswith(f"The key set at `{uri}` contains a private")
    event = AuditEvent.objects.get(action="app_key.create")
    assert (event.outcome, event.reason_code) == ("failure", "private_key_published")


@pytest.mark.parametrize(
    "extra",
    [{"key_ops": ["encrypt"]}, {"use": "enc"}, {"alg": "RS512"}],
    ids=["key_ops encrypt", "use enc", "alg RS512"],
)
def test_a_jwks_url_whose_keys_forbid_verifying_is_refused(
    api, app, rsa_key, identity_provider, extra
):
    uri = serve_app_jwks(identity_provider, {"keys": [rsa_key.public_jwk(**extra)]})

    response = api.post(keys_url(app), {"name": "Unusable", "jwksUri": uri})

    assert errors(response)["jwksUri"][0].startswith(f"The JWKS URL `{uri}` serves no usable")


def test_a_jwks_url_on_a_private_address_is_refused(api, app, settings, identity_provider):
    settings.FEDERATION_OUTBOUND_ALLOWLIST = []
    uri = serve_app_jwks(identity_provider, {"keys": [SigningKey.rsa().public_jwk()]})

    response = api.post(keys_url(app), {"name": "Internal", "jwksUri": uri})

    assert errors(response)["jwksUri"][0].startswith("Address not allowed")
    assert identity_provider.requests_for("/apps/deployments/jwks.json") == 0


def test_names_and_keys_are_unique_in_the_application(api, app, rsa_key):
    registered_key(app, rsa_key, name="Signer")

    same_name = api.post(
        keys_url(app), {"name": "SIGNER", "publicKeyPem": SigningKey.ec().public_pem}
    )
    same_key = api.post(keys_url(app), {"name": "Again", "publicKeyPem": rsa_key.public_pem})

    assert list(errors(same_name)) == ["name"]
    assert errors(same_key) == {
        "publicKeyPem": ["This public key is already registered as 'Signer'."]
    }


def test_at_most_five_keys(api, app):
    for number in range(KEYS_PER_APP):
        registered_key(app, SigningKey.ec(), name=f"Key {number}")

    response = api.post(
        keys_url(app), {"name": "Sixth", "publicKeyPem": SigningKey.ec().public_pem}
    )

    assert errors(response) == {"keys": ["An application has at most 5 keys; delete one first."]}
    assert AppKey.objects.filter(app=app).count() == KEYS_PER_APP


def test_a_public_application_cannot_have_keys(api, organization, rsa_key):
    public, _ = external_app(organization=organization, confidential=False, name="SPA")

    response = api.post(keys_url(public), {"name": "Key", "publicKeyPem": rsa_key.public_pem})

    assert list(errors(response)) == ["keys"]


# --- organizations and scopes -------------------------------------------------------------


def test_another_organizations_app_and_key_are_one_identical_404(
    api, app, rsa_key, organization, other_admin_membership
):
    foreign_app, _ = external_app(organization=other_admin_membership.organization)
    foreign_key = registered_key(foreign_app, rsa_key)
    own_key = registered_key(app, SigningKey.ec())
    sibling, _ = external_app(organization=organization, name="Sibling")
    org = organization.global_id
    body = {"name": "Mine now", "publicKeyPem": SigningKey.ec().public_pem}

    responses = [
        api.get(keys_url(foreign_app)),
        api.get(f"{BASE}/{org}/{foreign_app.client.client_id}/Keys"),
        api.post(f"{BASE}/{org}/{foreign_app.client.client_id}/Keys", body),
        api.delete(f"{keys_url(app)}/{foreign_key.pk}"),
        api.delete(f"{keys_url(sibling)}/{own_key.pk}"),
        api.delete(f"{keys_url(app)}/not-a-uuid"),
        api.get(f"{BASE}/{org}/no-such-client/Keys"),
    ]

    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert AppKey.objects.count() == 2


def test_a_read_scope_lists_but_cannot_write(client, issue_token, organization, app, rsa_key):
    reader, secret = client_with_secret(
        organization=organization, scopes=("PM.OAuthApp.Read",), name="Reader"
    )
    api = Api(client, issue_token(reader, secret))
    key = registered_key(app, rsa_key)

    assert api.get(keys_url(app)).status_code == 200
    assert api.post(keys_url(app), {"name": "New", "publicKeyPem": "x"}).status_code == 403
    assert api.delete(f"{keys_url(app)}/{key.pk}").status_code == 403
    assert AppKey.objects.count() == 1


def test_without_a_token_the_answer_is_401(client, app):
    assert Api(client, None).get(keys_url(app)).status_code == 401


# --- concurrency (PostgreSQL: SQLite serializes every write anyway) ---------------------------


@pytest.fixture
def committed(admin_membership, issue_token):
    """An application and a token, committed for the threads' own connections to see."""
    organization = admin_membership.organization
    app, _ = external_app(organization=organization)
    caller, secret = client_with_secret(organization=organization, scopes=("PM.OAuthApp",))
    return app, issue_token(caller, secret)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_twelve_concurrent_creates_end_with_exactly_five(committed):
    # given
    app, token = committed
    pems = [SigningKey.ec().public_pem for _ in range(12)]

    # when
    statuses = _fire(12, keys_url(app), token, lambda n: {"name": f"K{n}", "publicKeyPem": pems[n]})

    # then
    assert sorted(status for status, _ in statuses) == [201] * KEYS_PER_APP + [400] * 7
    assert AppKey.objects.filter(app=app).count() == KEYS_PER_APP


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_name_end_with_one_row(committed):
    app, token = committed
    pems = [SigningKey.ec().public_pem for _ in range(5)]

    statuses = _fire(5, keys_url(app), token, lambda n: {"name": "Same", "publicKeyPem": pems[n]})

    assert sorted(status for status, _ in statuses) == [201] + [400] * 4
    assert AppKey.objects.filter(app=app).count() == 1
