"""The admin site's foundation: page access by role, confirmation, secrets shown once,
paging, relative times, service errors on forms."""

import time
from datetime import timedelta

import pytest
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.template import Context, RequestContext, Template
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers

from tenants.access import site_page
from tenants.site import (
    SECRET_ONCE_SECONDS,
    SECRET_ONCE_SESSION_KEY,
    InputForm,
    SecretOnce,
    add_service_errors,
    confirmation_page,
    paginate,
    redirect_with_secret_once,
    render_secret_once,
    secret_once_take,
)
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory


@site_page
def _page(request, access):
    return HttpResponse(f"{access.organization.slug}|{access.tenant}|{access.role}")


@site_page(admin_only=True)
def _admin_page(request, access):
    return HttpResponse("admin")


def _call(view, user, method="get", **kwargs):
    request = getattr(RequestFactory(), method)("/somewhere/")
    request.user = user
    return view(request, **kwargs)


@pytest.fixture
def member(admin_membership):
    return MembershipFactory(organization=admin_membership.organization, role="member").user


def test_an_admin_reads_and_writes_organization_and_tenant_pages(admin_membership):
    user, organization = admin_membership.user, admin_membership.organization

    on_org = _call(_page, user, org=organization.slug.upper())
    on_tenant = _call(_page, user, "post", org=organization.slug, tenant="defaulttenant")

    assert on_org.content.decode() == f"{organization.slug}|None|admin"
    assert on_tenant.content.decode() == f"{organization.slug}|DefaultTenant|admin"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_member_reads_but_every_write_is_refused(admin_membership, member, method):
    organization = admin_membership.organization

    read = _call(_page, member, org=organization.slug, tenant="DefaultTenant")

    assert read.content.decode().endswith("|member")
    with pytest.raises(PermissionDenied):
        _call(_page, member, method, org=organization.slug, tenant="DefaultTenant")


def test_a_member_cannot_even_read_an_admin_only_page(admin_membership, member):
    with pytest.raises(PermissionDenied):
        _call(_admin_page, member, org=admin_membership.organization.slug)
    assert _call(_admin_page, admin_membership.user, org=admin_membership.organization.slug)


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(lambda own, other: {"org": other.slug}, id="other-organization"),
        pytest.param(
            lambda own, other: {"org": other.slug, "tenant": "OtherTenant"}, id="other-tenant"
        ),
        pytest.param(
            lambda own, other: {"org": own.slug, "tenant": "OtherTenant"},
            id="other-organizations-tenant-under-own-organization",
        ),
        pytest.param(lambda own, other: {"org": "missing"}, id="missing-organization"),
        pytest.param(lambda own, other: {"org": own.slug, "tenant": "Nope"}, id="missing-tenant"),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_anything_outside_the_users_organizations_is_not_found(
    admin_membership, other_admin_membership, names, method
):
    kwargs = names(admin_membership.organization, other_admin_membership.organization)

    with pytest.raises(Http404):
        _call(_page, admin_membership.user, method, **kwargs)


def test_anonymous_visitors_are_sent_to_sign_in_whether_or_not_the_organization_exists(
    admin_membership,
):
    existing = _call(_page, AnonymousUser(), org=admin_membership.organization.slug)
    missing = _call(_page, AnonymousUser(), org="missing")

    assert existing.status_code == missing.status_code == 302
    assert existing.url == missing.url == "/accounts/login/?next=/somewhere/"


@pytest.mark.django_db
def test_a_user_of_another_organization_with_the_same_tenant_name_stays_out():
    # given: two organizations, each with a tenant named Shared
    mine = MembershipFactory(role="admin")
    theirs = MembershipFactory(role="admin")
    TenantFactory(organization=mine.organization, name="Shared")
    TenantFactory(organization=theirs.organization, name="Shared")

    # then
    assert _call(_page, mine.user, org=mine.organization.slug, tenant="Shared").status_code == 200
    with pytest.raises(Http404):
        _call(_page, mine.user, org=theirs.organization.slug, tenant="Shared")


# --- confirmation, secrets, paging --------------------------------------------------------


def _post(data):
    request = RequestFactory().post("/acme/portal_/things/3/delete/?x=1", data)
    request.user = AnonymousUser()
    return request


def test_an_unconfirmed_destructive_post_answers_a_page_that_asks_and_reposts():
    request = _post({"sessionIds": ["4", "5"], "csrfmiddlewaretoken": "t"})

    page = confirmation_page(request, question="Remove 2 sessions?", cancel_url="/back/")

    page.render()
    html = page.content.decode()
    assert "Remove 2 sessions?" in html
    assert 'action="/acme/portal_/things/3/delete/?x=1"' in html
    assert html.count('name="sessionIds"') == 2
    assert 'name="confirmed" value="yes"' in html
    assert 'href="/back/"' in html


def test_a_confirmed_post_goes_ahead():
    request = _post({"confirmed": "yes"})

    assert confirmation_page(request, question="Delete?", cancel_url="/") is None


@pytest.mark.django_db
def test_a_secret_is_rendered_once_and_marked_never_to_be_stored():
    request = RequestFactory().get("/x/")
    request.user = UserFactory()

    response = render_secret_once(
        request, "includes/secret_once.html", {"secret": "idsec_abc", "label": "Client secret"}
    )

    html = response.content.decode()
    assert 'value="idsec_abc"' in html
    assert "will not be shown again" in html
    assert 'data-copy="#secret-once-value"' in html
    assert "no-store" in response["Cache-Control"]


def _with_session(request):
    SessionMiddleware(lambda request: None).process_request(request)
    return request


def test_a_kept_secret_reaches_the_page_it_was_kept_for_once():
    # given: a POST that made a secret
    post = _with_session(RequestFactory().post("/org/portal_/apps/x/secrets/"))
    response = redirect_with_secret_once(post, "/org/portal_/apps/x/", "idsec_abc", about="x")
    assert (response.status_code, response["Location"]) == (303, "/org/portal_/apps/x/")
    assert "idsec_abc" not in response["Location"]
    assert not response.cookies  # nothing of it in a cookie

    # when: the page it redirects to is opened, then reloaded
    get = RequestFactory().get("/org/portal_/apps/x/")
    get.session = post.session
    first, second = secret_once_take(get), secret_once_take(get)

    # then
    assert first == SecretOnce("idsec_abc", "x")
    assert second is None


def test_a_kept_secret_is_not_shown_on_another_page_but_waits_for_its_own():
    post = _with_session(RequestFactory().post("/org/portal_/apps/x/secrets/"))
    redirect_with_secret_once(post, "/org/portal_/apps/x/", "idsec_abc")
    elsewhere = RequestFactory().get("/org/portal_/apps/other/")
    elsewhere.session = post.session
    own = RequestFactory().get("/org/portal_/apps/x/")
    own.session = post.session

    assert secret_once_take(elsewhere) is None
    assert secret_once_take(own) == SecretOnce("idsec_abc", "")
    assert SECRET_ONCE_SESSION_KEY not in own.session  # nothing left behind


def test_secrets_made_in_two_tabs_each_reach_their_page():
    # given: two secrets generated before either page is shown
    session = _with_session(RequestFactory().post("/")).session
    for path, secret in (("/o/portal_/apps/a/", "idsec_a"), ("/o/portal_/apps/b/", "idsec_b")):
        post = RequestFactory().post(f"{path}secrets/")
        post.session = session
        redirect_with_secret_once(post, path, secret)

    # when: the second tab's page, then the first's
    shown = []
    for path in ("/o/portal_/apps/b/", "/o/portal_/apps/a/"):
        get = RequestFactory().get(path)
        get.session = session
        shown.append(secret_once_take(get))

    # then
    assert shown == [SecretOnce("idsec_b", ""), SecretOnce("idsec_a", "")]


def test_a_kept_secret_is_not_shown_too_late_and_is_dropped(monkeypatch):
    post = _with_session(RequestFactory().post("/org/portal_/apps/x/secrets/"))
    redirect_with_secret_once(post, "/org/portal_/apps/x/", "idsec_abc")
    redirect_with_secret_once(post, "/org/portal_/apps/y/", "idsec_def")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + SECRET_ONCE_SECONDS + 1)
    get = RequestFactory().get("/org/portal_/apps/x/")
    get.session = post.session

    assert secret_once_take(get) is None
    assert SECRET_ONCE_SESSION_KEY not in get.session  # the other page's, too old, too


@pytest.mark.parametrize(("asked", "shown"), [("2", 2), (None, 1), ("0", 3), ("99", 3), ("abc", 1)])
def test_paging_shows_the_page_asked_or_the_nearest(asked, shown):
    request = RequestFactory().get("/", {"page": asked} if asked else {})

    page = paginate(request, list(range(55)), per_page=25)

    assert page.number == shown


def test_the_pager_keeps_the_filters():
    request = RequestFactory().get("/", {"action": "tenant.create", "page": "2"})
    page = paginate(request, list(range(60)), per_page=25)

    html = Template('{% include "includes/pager.html" %}').render(
        RequestContext(request, {"page": page})
    )

    assert 'href="?action=tenant.create&amp;page=1"' in html
    assert 'href="?action=tenant.create&amp;page=3"' in html
    assert "Page 2 of 3 (60 in all)" in html


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-20), "just now"),
        (timedelta(minutes=-3, seconds=-5), "3\xa0minutes ago"),
        (timedelta(days=-2, hours=-5), "2\xa0days ago"),
        (timedelta(hours=2, minutes=1), "in 2\xa0hours"),
    ],
)
def test_relative_time_says_how_long_ago_with_the_exact_time_beside(clock, delta, text):
    moment = clock.now + delta

    html = Template("{% load site %}{{ moment|relative_time }}").render(Context({"moment": moment}))

    assert html == (
        f'<time datetime="{moment.isoformat()}" '
        f'title="{moment:%Y-%m-%d %H:%M:%S} UTC">{text}</time>'
    )
    assert timezone.now() == clock.now


class _NameForm(forms.Form):
    name = forms.CharField()


def test_a_services_errors_go_beside_the_field_they_name_or_on_top():
    form = _NameForm({"name": "x"})
    form.is_valid()

    add_service_errors(form, ValidationError({"name": "Already taken.", "key": "Unknown setting."}))

    assert form.errors["name"] == ["Already taken."]
    assert form.non_field_errors() == ["Unknown setting."]


class _Input(InputForm):
    name = forms.CharField()
    note = forms.CharField(required=False)
    public = forms.BooleanField(required=False)
    scopes = forms.MultipleChoiceField(
        required=False, choices=[("a", "a"), ("b", "b")], widget=forms.CheckboxSelectMultiple
    )


def test_an_api_serializers_errors_go_beside_the_field_in_its_words():
    class Body(serializers.Serializer):
        name = serializers.CharField()

    form = _Input({"name": ""})
    body = Body(data={"name": ""})
    assert not body.is_valid()

    add_service_errors(form, serializers.ValidationError(body.errors))

    assert form.errors["name"] == ["This field may not be blank."]


def test_a_services_keys_may_be_renamed_to_the_forms_fields():
    form = _NameForm({"name": "x"})

    add_service_errors(
        form, ValidationError({"display_name": "Too long."}), renames={"display_name": "name"}
    )

    assert form.errors["name"] == ["Too long."]


@pytest.mark.parametrize(
    ("submitted", "body"),
    [
        pytest.param(
            {"name": "x", "note": "n", "public": "on", "scopes": ["a", "b"]},
            {"name": "x", "note": "n", "public": True, "scopes": ["a", "b"]},
            id="everything",
        ),
        pytest.param(
            {"name": "", "note": ""},
            {"name": "", "public": False, "scopes": []},
            id="empty: a required field stays, an optional one is left out",
        ),
        pytest.param({}, {"public": False, "scopes": []}, id="nothing submitted"),
    ],
)
def test_an_input_form_hands_on_what_an_api_client_would_send(submitted, body):
    posted = QueryDict(mutable=True)
    for name, value in submitted.items():
        posted.setlist(name, value if isinstance(value, list) else [value])

    form = _Input(posted)

    assert form.api_data() == body


class _Clearing(InputForm):
    note = forms.CharField(required=False, empty_value=None)


@pytest.mark.parametrize("submitted", [{"note": ""}, {}], ids=["emptied", "not sent"])
def test_an_input_form_sends_null_for_an_emptied_field_whose_empty_value_is_none(submitted):
    form = _Clearing(submitted)

    assert form.api_data() == {"note": None}  # as a client clears a value
    assert form.is_valid() and form.cleaned_data == {"note": None}


def test_an_input_form_judges_nothing_itself_and_keeps_the_input():
    form = _Input({"name": "", "note": "kept"})

    assert form.is_valid()  # nothing of its own: the serializer and the service judge
    add_service_errors(form, ValidationError({"name": "This field may not be blank."}))

    assert not form.is_valid()
    assert form.errors["name"] == ["This field may not be blank."]
    assert 'value="kept"' in str(form["note"])
    assert "required" not in str(form["name"])  # the browser does not judge either
