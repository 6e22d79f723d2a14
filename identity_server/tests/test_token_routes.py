"""The token routes' short middleware chain (identity_server.token_routes): what a token
request goes through, and what it no longer does."""

import pytest
from django.core.signals import request_finished
from django.http import HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import resolve, reverse

from identity_server.oauth import OAuthLibCore
from identity_server.serve import body_in_one_piece, without_process_environment
from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import TOKEN_URL, token_request
from identity_server.token_routes import TOKEN_PATH
from identity_server.validators import DJANGO_REQUEST
from identity_server.views import TokenView


@pytest.fixture
def app(admin_membership):
    return client_with_secret(organization=admin_membership.organization)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        pytest.param("token", {}, id="platform"),
        pytest.param("token-org", {"org": "acme"}, id="organization"),
        pytest.param("token-tenant", {"org": "acme", "tenant": "Default"}, id="tenant"),
    ],
)
def test_every_token_route_takes_the_short_chain(name, kwargs):
    # given the route's path as the URL configuration builds it
    path = reverse(name, kwargs=kwargs)

    # then the short chain's pattern takes it
    assert TOKEN_PATH.fullmatch(path)


@pytest.mark.parametrize(
    "path",
    [
        "/identity_/connect/token/",
        "/identity_/connect/tokens",
        "/a/b/c/identity_/connect/token",
        "/identity_/connect/authorize",
        "/acme/identity_/connect/introspect",
        "/healthz",
    ],
)
def test_no_other_path_takes_the_short_chain(path):
    assert not TOKEN_PATH.fullmatch(path)


@pytest.mark.parametrize(
    "path",
    ["/identity_/connect/token", "/x/identity_/connect/token", "/x/y/identity_/connect/token"],
)
def test_what_the_short_chain_takes_is_the_token_view(path):
    assert resolve(path).func.view_class is TokenView


@pytest.mark.django_db
def test_a_token_answer_carries_what_it_needs_and_no_page_headers(app):
    # given a client that enforces CSRF as a browser's would
    oauth_client, secret = app
    browser_like = Client(enforce_csrf_checks=True)

    # when
    response = token_request(browser_like, oauth_client.client_id, secret)

    # then: no CSRF token was needed, no cookie is set
    assert response.status_code == 200
    assert not response.cookies
    # the request id, nosniff, the length (keep-alive), the view's no-store
    assert response["X-Request-Id"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert int(response["Content-Length"]) == len(response.content)
    assert response["Cache-Control"] == "no-store"
    # and none of a page's headers
    assert "Content-Security-Policy" not in response
    assert "X-Frame-Options" not in response


@pytest.mark.django_db
def test_a_token_request_from_a_signed_in_browser_reads_and_writes_no_session(
    app, admin_membership, django_assert_num_queries
):
    # given a browser signed in to the admin site, whose client is already cached
    oauth_client, secret = app
    browser = Client()
    browser.force_login(admin_membership.user)
    assert token_request(browser, oauth_client.client_id, secret).status_code == 200

    # when it asks for a token again
    with django_assert_num_queries(0):
        response = token_request(browser, oauth_client.client_id, secret)

    # then: neither the session nor its user is read, and no cookie comes back
    assert response.status_code == 200
    assert not response.cookies


@pytest.mark.django_db
def test_a_disallowed_host_is_still_refused(app, settings):
    # given
    oauth_client, secret = app
    settings.ALLOWED_HOSTS = ["id.example"]

    form = {
        "grant_type": "client_credentials",
        "client_id": oauth_client.client_id,
        "client_secret": secret,
    }

    # when a right request names another host
    response = Client().post(TOKEN_URL, form, HTTP_HOST="evil.example")

    # then it is refused (ALLOWED_HOSTS, through CommonMiddleware)
    assert response.status_code == 400
    assert "access_token" not in response.content.decode()


def test_oauthlib_gets_the_parsed_form_and_only_the_headers_it_reads(rf):
    # given a token request with headers oauthlib has no use for
    request = rf.post(
        TOKEN_URL,
        "grant_type=client_credentials&client_id=app&scope=",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic YTpi",
        HTTP_ORIGIN="http://127.0.0.1:8104",
        HTTP_COOKIE="sessionid=abc",
        HTTP_USER_AGENT="robot/1.0",
    )

    # when DOT's backend turns it into oauthlib's arguments
    _uri, method, body, headers = OAuthLibCore()._extract_params(request)

    # then the form is Django's, as pairs (the empty scope dropped), not re-encoded
    assert method == "POST"
    assert body == [("grant_type", "client_credentials"), ("client_id", "app")]
    # and the headers are the few that are read, with the Django request itself
    assert set(headers) == {
        "Authorization",
        "HTTP_AUTHORIZATION",
        "Content-Type",
        "Origin",
        DJANGO_REQUEST,
    }
    assert headers["Authorization"] == "Basic YTpi"
    assert headers[DJANGO_REQUEST].request is request


def test_the_process_environment_is_not_part_of_a_request():
    # given an environ built, as granian builds it, on the process's environment
    process = {"DATABASE_URL": "postgres://u:p@db/x", "HTTP_PROXY": "http://proxy:3128"}
    environ = {
        **process,
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/identity_/connect/token",
        "HTTP_HOST": "id.example",
    }

    # when
    cleaned = without_process_environment(environ, process)

    # then the request's own keys are left, and only they
    assert cleaned == {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/identity_/connect/token",
        "HTTP_HOST": "id.example",
    }


def test_a_header_the_client_sent_is_kept_when_the_environment_has_its_name():
    # given a client's Proxy header and a process whose environment has HTTP_PROXY
    process = {"HTTP_PROXY": "http://proxy:3128"}
    environ = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "client-value"}

    # then the client's value stays
    assert without_process_environment(environ, process)["HTTP_PROXY"] == "client-value"


def test_a_body_in_memory_goes_to_the_server_in_one_piece_and_the_response_is_closed(db):
    # given a response whose body is in memory, and a listener for the end of the request
    finished = []

    def listener(**kwargs):
        finished.append(kwargs)

    request_finished.connect(listener)
    response = HttpResponse(b'{"access_token": "x"}', content_type="application/json")

    # when
    try:
        body = body_in_one_piece(response)
    finally:
        request_finished.disconnect(listener)

    # then the server gets one bytes item, and the request has finished (close() ran)
    assert body == [b'{"access_token": "x"}']
    assert len(finished) == 1


def test_a_streaming_response_is_left_to_the_server():
    # given a streaming response (a file, say)
    response = StreamingHttpResponse(iter([b"a", b"b"]))

    # then it is handed over as it is, for the server to iterate and close
    assert body_in_one_piece(response) is response
