"""The token endpoint end to end: form posts in, RFC 6749 answers and JWTs out."""

import base64
import json
from datetime import timedelta
from urllib.parse import quote

import jwt as pyjwt
import pytest
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter

from federation.tests.factories import external_app, stored_credential
from identity_server import services
from identity_server.models import ClientSecret, OAuthClient
from identity_server.tests.factories import TEST_ACTOR, client_with_secret
from identity_server.tests.http import TOKEN_URL, assert_refused, assertion_form, failure_reasons
from identity_server.tests.test_introspection import INTROSPECT_URL, REVOKE_URL
from identity_server.views import TokenView
from tenants.models import AuditEvent


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: each part is form-urlencoded before being joined.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def form(oauth_client, secret, **extra):
    return {
        "grant_type": "client_credentials",
        "client_id": oauth_client.client_id,
        "client_secret": secret,
        **extra,
    }


@pytest.fixture
def app(admin_membership):
    return client_with_secret(
        organization=admin_membership.organization, scopes=["OR.Machines", "PM.OAuthApp.Read"]
    )


def published_keys(client) -> pyjwt.PyJWKSet:
    return pyjwt.PyJWKSet.from_dict(
        client.get("/identity_/.well-known/openid-configuration/jwks").json()
    )


def verify_with_pyjwt(client, token: str, settings) -> dict:
    """Verifies a token as a third party would: PyJWT and our published JWKS only."""
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = published_keys(client)[kid]
    return pyjwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=settings.IDENTITY_AUDIENCE,
        issuer=settings.IDENTITY_ISSUER,
    )


# --- success --------------------------------------------------------------------------


def test_form_body_credentials_get_a_one_hour_bearer_token(client, app):
    # given
    oauth_client, secret = app

    # when
    response = client.post(TOKEN_URL, form(oauth_client, secret))

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "OR.Machines PM.OAuthApp.Read"
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scheme", ["Basic", "basic"])
def test_basic_credentials_get_a_token(client, app, scheme):
    oauth_client, secret = app
    header = basic(oauth_client.client_id, secret).replace("Basic", scheme)

    response = client.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header
    )

    assert response.status_code == 200
    assert response.json()["access_token"]


def test_malformed_basic_credentials_are_an_invalid_client(client, app):
    response = client.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION="Basic !!notbase64"
    )

    assert_refused(
        response,
        "invalid_client",
        401,
        "The HTTP Basic credentials are not the base64 of client_id:client_secret.",
    )
    assert failure_reasons() == ["malformed_basic_credentials"]


def test_the_token_verifies_with_pyjwt_and_carries_the_spec_claims(client, app, settings):
    # given
    oauth_client, secret = app
    secret_row = oauth_client.secrets.get()

    # when
    token = client.post(TOKEN_URL, form(oauth_client, secret)).json()["access_token"]

    # then
    claims = verify_with_pyjwt(client, token, settings)
    assert claims["client_id"] == claims["sub"] == oauth_client.client_id
    assert claims["sub_type"] == "service.external"
    assert claims["prt_id"] == str(oauth_client.organization.global_id)
    assert claims["scope"] == ["OR.Machines", "PM.OAuthApp.Read"]
    assert claims["secret_id"] == secret_row.pk
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) >= 32
    assert "tenant_id" not in claims
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_a_machine_token_is_a_robot_token_for_its_tenant(client, admin_membership, settings):
    tenant = admin_membership.organization.tenants.get()
    machine_client, secret = client_with_secret(
        organization=tenant.organization,
        tenant=tenant,
        kind=OAuthClient.Kind.MACHINE,
        scopes=["OrchestratorApiUserAccess"],
    )

    token = client.post(TOKEN_URL, form(machine_client, secret)).json()["access_token"]

    claims = verify_with_pyjwt(client, token, settings)
    assert claims["sub_type"] == "robot"
    assert claims["tenant_id"] == str(tenant.global_id)
    assert claims["tenant_name"] == tenant.name
    assert claims["scope"] == ["OrchestratorApiUserAccess"]


def test_every_active_secret_works(client, app):
    # given
    oauth_client, first = app
    _row, second = services.client_secret_create(client=oauth_client, actor=TEST_ACTOR)

    # then
    for secret in (first, second):
        assert client.post(TOKEN_URL, form(oauth_client, secret)).status_code == 200


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        pytest.param(None, "OR.Machines PM.OAuthApp.Read", id="missing scope: all granted"),
        pytest.param("", "OR.Machines PM.OAuthApp.Read", id="empty scope: all granted"),
        pytest.param("PM.OAuthApp.Read", "PM.OAuthApp.Read", id="a subset"),
    ],
)
def test_scope_defaults_to_every_grant_and_may_be_narrowed(client, app, requested, granted):
    oauth_client, secret = app
    extra = {} if requested is None else {"scope": requested}

    response = client.post(TOKEN_URL, form(oauth_client, secret, **extra))

    assert response.json()["scope"] == granted


def test_empty_form_fields_are_ignored(client, app):
    # Some clients send every field they know, empty.
    oauth_client, secret = app

    response = client.post(
        TOKEN_URL,
        form(oauth_client, secret, scope="", client_assertion="", client_assertion_type=""),
    )

    assert response.status_code == 200


def test_the_token_paths_under_an_organization_and_tenant_serve_its_clients(
    client, app, admin_membership, other_admin_membership
):
    # given
    oauth_client, secret = app
    org = admin_membership.organization.slug
    other = other_admin_membership.organization.slug

    # then
    ok = client.post(f"/{org}/identity_/connect/token", form(oauth_client, secret))
    ok_tenant = client.post(
        f"/{org}/DefaultTenant/identity_/connect/token", form(oauth_client, secret)
    )
    foreign = client.post(f"/{other}/identity_/connect/token", form(oauth_client, secret))
    assert ok.status_code == ok_tenant.status_code == 200
    assert_refused(
        foreign,
        "invalid_client",
        401,
        "This client belongs to another organization or tenant than the one in the "
        "token endpoint's path.",
    )
    assert failure_reasons() == ["other_organization"]


def test_a_warm_token_request_reads_and_writes_nothing_in_the_database(
    client, app, django_assert_num_queries
):
    # given a client that has already been served once (its secret's last use recorded)
    oauth_client, secret = app
    assert client.post(TOKEN_URL, form(oauth_client, secret)).status_code == 200

    # then
    with django_assert_num_queries(0):
        assert client.post(TOKEN_URL, form(oauth_client, secret)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, app):
    # given
    oauth_client, secret = app
    client.post(TOKEN_URL, form(oauth_client, secret))
    row = oauth_client.secrets.get()
    assert row.last_used_at is not None
    ClientSecret.objects.filter(pk=row.pk).update(last_used_at=None)

    # when
    client.post(TOKEN_URL, form(oauth_client, secret))

    # then
    assert oauth_client.secrets.get().last_used_at is None


# --- refusals ---------------------------------------------------------------------------


def test_a_deleted_secret_fails_at_once(client, app):
    # given
    oauth_client, secret = app
    assert client.post(TOKEN_URL, form(oauth_client, secret)).status_code == 200

    # when
    services.client_secret_delete(secret=oauth_client.secrets.get(), actor=TEST_ACTOR)

    # then
    assert_refused(client.post(TOKEN_URL, form(oauth_client, secret)), "invalid_client", 401)
    assert failure_reasons() == ["no_active_secret"]


def test_an_expired_secret_fails(client, app):
    oauth_client, secret = app
    ClientSecret.objects.filter(client=oauth_client).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.client_update(client=oauth_client, actor=TEST_ACTOR, name="renamed")

    assert_refused(client.post(TOKEN_URL, form(oauth_client, secret)), "invalid_client", 401)
    assert failure_reasons() == ["expired_secret"]


NOT_AUTHENTICATED = (
    "The client did not authenticate: send its client_id with a client_secret "
    "(HTTP Basic or the form body) or with a client_assertion."
)
WRONG_CREDENTIALS = (
    "Client authentication failed: the client ID or secret is wrong, or the secret has expired."
)
ASSERTION_REFUSED = (
    "Client authentication failed: the client_assertion is not accepted for this client_id; "
    "the application's administrators can see why in its audit log."
)


@pytest.mark.parametrize(
    ("change", "error", "status", "reason", "description"),
    [
        pytest.param(
            {"client_secret": ""},
            "invalid_client", 401, "missing_secret", NOT_AUTHENTICATED,
            id="blank secret",
        ),
        pytest.param(
            {"client_secret": "idsec_wrong"},
            "invalid_client", 401, "wrong_secret", WRONG_CREDENTIALS,
            id="wrong secret",
        ),
        pytest.param(
            {"client_id": "00000000-0000-0000-0000-000000000000"},
            "invalid_client", 401, "unknown_client", WRONG_CREDENTIALS,
            id="unknown client",
        ),
        pytest.param(
            {"client_id": "00000000-0000-0000-0000-000000000000", "client_secret": ""},
            "invalid_client", 401, "unknown_client", NOT_AUTHENTICATED,
            id="unknown client without a secret",
        ),
        pytest.param(
            {"grant_type": "password", "username": "u", "password": "p"},
            "unsupported_grant_type", 400, "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token.",
            id="wrong grant type",
        ),
        pytest.param(
            {"grant_type": ""},
            "invalid_request", 400, "invalid_request", "Request is missing grant type.",
            id="no grant type",
        ),
        pytest.param(
            {"scope": "OR.Machines OR.Robots"},
            "invalid_scope", 400, "scope_not_granted",
            "scope OR.Robots is not granted to this client.",
            id="scope outside the grants",
        ),
        pytest.param(
            {"scope": "OR.Foo OR.Robots PM.OAuthApp.Read"},
            "invalid_scope", 400, "scope_not_granted",
            "scope OR.Foo OR.Robots are not granted to this client.",
            id="unknown scopes",
        ),
        pytest.param(
            {"scope": "OR.Machines offline_access"},
            "invalid_scope", 400, "offline_access",
            "offline_access is not available with client credentials: they get no refresh token.",
            id="offline_access",
        ),
        pytest.param(
            {
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "a.b.c",
                "client_secret": "",
            },
            "invalid_client", 401, "malformed", ASSERTION_REFUSED,
            id="an assertion that is not a JWT",
        ),
        pytest.param(
            {
                "client_id": "no-such-client",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "a.b.c",
                "client_secret": "",
            },
            "invalid_client", 401, "unknown_client", ASSERTION_REFUSED,
            id="an assertion for an unknown client",
        ),
        pytest.param(
            {"client_assertion_type": "urn:x", "client_assertion": "a.b.c", "client_secret": ""},
            "invalid_request", 400, "assertion_type_unsupported",
            "Client authentication with an assertion: client_assertion_type must be "
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            id="another assertion type",
        ),
    ],
)  # fmt: skip
def test_each_refusal_gets_its_rfc6749_error_and_description_and_is_audited(
    client, app, change, error, status, reason, description
):
    # given
    oauth_client, secret = app

    # when
    response = client.post(TOKEN_URL, {**form(oauth_client, secret), **change})

    # then
    assert_refused(response, error, status, description)
    assert failure_reasons() == [reason]


def test_an_overlong_unknown_client_id_is_refused_and_audited(client, app):
    oauth_client, secret = app

    response = client.post(TOKEN_URL, form(oauth_client, secret, client_id="x" * 5000))

    assert_refused(response, "invalid_client", 401)
    event = AuditEvent.objects.get(action="token.request")
    assert event.reason_code == "unknown_client"
    assert event.actor_id == "x" * 64


@pytest.mark.parametrize("method", ["form", "basic"])
def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer(client, app, method):
    # given
    oauth_client, _secret = app
    wrong = "idsec_" + "x" * 43

    def attempt(client_id, secret):
        if method == "form":
            return client.post(TOKEN_URL, form(oauth_client, secret, client_id=client_id))
        return client.post(
            TOKEN_URL,
            {"grant_type": "client_credentials"},
            HTTP_AUTHORIZATION=basic(client_id, secret),
        )

    # when
    unknown = attempt("no-such-client", wrong)
    wrong_secret = attempt(oauth_client.client_id, wrong)

    # then
    for response in (unknown, wrong_secret):
        assert_refused(response, "invalid_client", 401, WRONG_CREDENTIALS)
    assert unknown.content == wrong_secret.content
    assert unknown.headers["WWW-Authenticate"] == wrong_secret.headers["WWW-Authenticate"]
    assert failure_reasons() == ["wrong_secret", "unknown_client"]


def test_a_public_client_cannot_use_client_credentials(client, admin_membership):
    public, _none = client_with_secret(
        organization=admin_membership.organization, confidential=False
    )

    with_secret = client.post(TOKEN_URL, form(public, "idsec_anything"))
    without = client.post(
        TOKEN_URL, {"grant_type": "client_credentials", "client_id": public.client_id}
    )

    assert_refused(with_secret, "invalid_client", 401, WRONG_CREDENTIALS)
    assert_refused(without, "invalid_client", 401, NOT_AUTHENTICATED)
    assert failure_reasons() == ["public_client", "public_client_secret"]


def test_two_authentication_methods_at_once_are_refused(client, app):
    oauth_client, secret = app

    response = client.post(
        TOKEN_URL,
        form(oauth_client, secret),
        HTTP_AUTHORIZATION=basic(oauth_client.client_id, secret),
    )

    assert_refused(
        response, "invalid_request", 400, "Authenticate the client with one method only."
    )
    assert failure_reasons() == ["multiple_authentication_methods"]


def test_a_flood_of_failures_writes_a_few_audit_events_with_counts(client, app, settings):
    # given (rate limits out of the way: identity_server/tests/test_rate_limits.py)
    oauth_client, _secret = app
    settings.TOKEN_FAILURES_PER_CLIENT_ADDRESS = 100

    # when
    for _ in range(25):
        client.post(TOKEN_URL, form(oauth_client, "idsec_wrong"))

    # then the 1st and the 10th are written; the rest are only counted
    events = AuditEvent.objects.filter(action="token.request").order_by("id")
    assert [e.details["count_in_window"] for e in events] == [1, 10]
    assert {e.reason_code for e in events} == {"wrong_secret"}
    assert events[0].organization == oauth_client.organization


def test_secrets_and_assertions_are_hidden_from_error_reports(rf, db):
    request = rf.post(
        TOKEN_URL, {"client_secret": "idsec_x", "client_assertion": "a.b.c", "grant_type": "x"}
    )

    TokenView.as_view()(request)

    hidden = SafeExceptionReporterFilter().get_post_parameters(request)
    assert hidden["client_secret"] == hidden["client_assertion"] != "a.b.c"
    assert hidden["grant_type"] == "x"


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
@pytest.mark.parametrize("url", [TOKEN_URL, INTROSPECT_URL, REVOKE_URL])
def test_other_methods_are_refused_with_json_never_cached(client, url, method):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response.json() == {"error": "invalid_request", "error_description": "Use POST."}
    assert response.headers["Allow"] == "POST"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- the form: each parameter once, none in the URL (RFC 6749 §3.1, §3.2) -------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param("grant_type=password&grant_type=client_credentials", "grant_type",
                     id="grant_type, the last one valid"),
        pytest.param("grant_type=client_credentials&grant_type=client_credentials", "grant_type",
                     id="grant_type, twice the same"),
        pytest.param("scope=OR.Machines&scope=PM.OAuthApp.Read", "scope", id="scope"),
        pytest.param("client_id={id}&client_id={id}", "client_id", id="client_id"),
        pytest.param("client_secret={secret}&client_secret={secret}", "client_secret",
                     id="client_secret"),
        pytest.param("audience=a&audience=b", "audience", id="audience"),
        pytest.param("scope=&scope=", "scope", id="empty values"),
    ],
)  # fmt: skip
def test_a_repeated_parameter_is_an_invalid_request_naming_it(client, app, body, named):
    # given a request that is right but for one parameter sent twice
    oauth_client, secret = app
    base = {"grant_type": "client_credentials", "client_id": "{id}", "client_secret": "{secret}"}
    repeated = {pair.split("=")[0] for pair in body.split("&")}
    rest = "&".join(f"{k}={v}" for k, v in base.items() if k not in repeated)
    raw = "&".join(part for part in (rest, body) if part)
    raw = raw.format(id=oauth_client.client_id, secret=quote(secret, safe=""))

    # when
    response = client.post(TOKEN_URL, raw, content_type="application/x-www-form-urlencoded")

    # then
    assert_refused(
        response, "invalid_request", 400, f"Each parameter may be sent once: {named} is repeated."
    )
    assert failure_reasons() == ["duplicate_parameter"]


def test_every_repeated_parameter_is_named(client, app):
    oauth_client, secret = app
    raw = (
        f"grant_type=client_credentials&client_id={oauth_client.client_id}"
        f"&client_secret={quote(secret, safe='')}&scope=a&audience=x&scope=b&audience=y"
    )

    response = client.post(TOKEN_URL, raw, content_type="application/x-www-form-urlencoded")

    assert_refused(
        response,
        "invalid_request",
        400,
        "Each parameter may be sent once: scope audience are repeated.",
    )


@pytest.mark.parametrize("url", [INTROSPECT_URL, REVOKE_URL])
def test_a_repeated_token_is_refused_at_introspection_and_revocation(client, app, url):
    oauth_client, secret = app
    raw = f"client_id={oauth_client.client_id}&client_secret={quote(secret, safe='')}"

    response = client.post(
        url, raw + "&token=a&token=b", content_type="application/x-www-form-urlencoded"
    )

    assert_refused(
        response, "invalid_request", 400, "Each parameter may be sent once: token is repeated."
    )
    assert failure_reasons() == ["duplicate_parameter"]


@pytest.mark.parametrize("url", [TOKEN_URL, INTROSPECT_URL, REVOKE_URL])
def test_credentials_in_the_url_query_are_refused_and_never_cached(client, app, url):
    # given
    oauth_client, secret = app

    # when
    response = client.post(
        f"{url}?client_id={oauth_client.client_id}&client_secret={quote(secret, safe='')}",
        {"grant_type": "client_credentials", "token": "x"},
    )

    # then
    assert_refused(
        response,
        "invalid_request",
        400,
        "Send the parameters in the form body, not in the URL query: client_id client_secret.",
    )
    assert failure_reasons() == ["query_parameters"]


@pytest.mark.parametrize("url", [TOKEN_URL, INTROSPECT_URL, REVOKE_URL])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param("abc", "multipart/form-data", id="multipart without a boundary"),
        pytest.param(
            "grant_type=client_credentials",
            "application/x-www-form-urlencoded; charset=utf-16",
            id="a form not in UTF-8",
        ),
        pytest.param("&".join(f"f{n}=1" for n in range(1001)), None, id="too many fields"),
        pytest.param("x=" + "a" * 2_700_000, None, id="too large"),
    ],
)
def test_a_form_django_cannot_read_is_our_refusal_never_cached(db, client, url, body, content_type):
    # when
    response = client.generic(
        "POST",
        url,
        body.encode("ascii"),  # as sent: the test client would re-encode a str
        content_type=content_type or "application/x-www-form-urlencoded",
    )

    # then: the endpoint's own answer, not the generic 400 page
    assert_refused(
        response,
        "invalid_request",
        400,
        "The form body could not be read: send application/x-www-form-urlencoded parameters "
        "in UTF-8.",
    )
    assert failure_reasons() == ["unreadable_form"]


def test_a_repeated_parameter_is_refused_before_the_client_is_read(
    client, app, django_assert_num_queries
):
    # given a client nobody has asked for yet (no copy in this process)
    oauth_client, _secret = app
    raw = f"grant_type=client_credentials&client_id={oauth_client.client_id}&scope=a&scope=b"

    # then the one query is the refusal's audit event: the client was not looked up
    with django_assert_num_queries(1) as queries:
        response = client.post(TOKEN_URL, raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert queries.captured_queries[0]["sql"].startswith('INSERT INTO "tenants_auditevent"')


def test_each_issued_token_is_in_its_requests_log_line_without_the_token(client, app, caplog):
    # given
    oauth_client, secret = app

    # when
    with caplog.at_level("INFO", logger="identity_server.requests"):
        token = client.post(TOKEN_URL, form(oauth_client, secret)).json()["access_token"]

    # then one line for the request, holding the token's facts
    (record,) = [r for r in caplog.records if r.name == "identity_server.requests"]
    line = json.loads(record.getMessage())
    assert line["client_id"] == oauth_client.client_id
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert line["token"] == {
        "jti": claims["jti"],
        "exp": claims["exp"],
        "scope": ["OR.Machines", "PM.OAuthApp.Read"],
        "prt_id": str(oauth_client.organization.global_id),
        "secret_id": oauth_client.secrets.get().pk,
    }
    assert token not in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type", "headers"),
    [
        pytest.param(b"\xff\xfe\x00garbage", None, {}, id="not utf-8"),
        pytest.param(b'{"grant_type": "client_credentials"}', "application/json", {}, id="json"),
        pytest.param(b"grant_type=client_credentials&grant_type=password", None, {}, id="dup"),
        pytest.param(b"grant_type=client_credentials&scope=" + b"A" * 100_000, None, {}, id="huge"),
        pytest.param(b"grant_type=client_credentials&client_id=%00%ff", None, {}, id="nul id"),
        pytest.param(b"grant_type=client_credentials&scope=%E2%9C%93", None, {}, id="unicode"),
        pytest.param(
            b"grant_type=client_credentials",
            None,
            {"HTTP_AUTHORIZATION": "Basic " + "A" * 50_000},
            id="huge basic",
        ),
        pytest.param(
            b"grant_type=client_credentials",
            None,
            {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()},
            id="basic not utf-8",
        ),
    ],
)  # fmt: skip
def test_malformed_requests_get_an_oauth_error_never_a_server_error(
    client, app, body, content_type, headers
):
    response = client.post(
        TOKEN_URL,
        body,
        content_type=content_type or "application/x-www-form-urlencoded",
        **headers,
    )

    assert 400 <= response.status_code < 500
    assert "access_token" not in response.content.decode(errors="replace")


# --- public applications (RFC 6749 §4.4: client credentials for confidential clients) ---


def test_a_public_app_holding_a_federated_credential_is_an_unauthorized_client(
    client, admin_membership, identity_provider
):
    # given a public application with a credential stored before public apps were refused one
    app, _no_secret = external_app(organization=admin_membership.organization, confidential=False)
    subject, audience = identity_provider.subject_and_audience("github")
    stored_credential(
        app=app, issuer=identity_provider.issuer("github"), subject=subject, audience=audience
    )

    # when it presents a token its credential accepts
    response = client.post(
        TOKEN_URL, assertion_form(app.client.client_id, identity_provider.mint("github"))
    )

    # then it is refused after authenticating, and the reason is audited
    assert_refused(
        response,
        "unauthorized_client",
        400,
        "This application is public: the client credentials grant is for confidential "
        "clients only.",
    )
    assert failure_reasons() == ["public_client"]
    event = AuditEvent.objects.get(action="token.request")
    assert event.organization == admin_membership.organization
