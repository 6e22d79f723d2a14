"""Platform operators create organizations without Django's admin (SPEC §9): the service
services.organization_create, `manage.py create_organization` and the superusers' page
/portal_/organizations/new/."""

import io
import json
import re
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from tenants import services
from tenants.management.commands.create_organization import Command
from tenants.models import AuditEvent, Membership, Organization
from tenants.tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

ACTOR = services.Actor.system("test")
PAGE = "/portal_/organizations/new/"
# A password Django's validators accept (settings.AUTH_PASSWORD_VALIDATORS).
CHOSEN = "plum-orbit-lantern-42"


def _events() -> list[tuple]:
    return [
        (e.action, e.organization.slug if e.organization else None, e.target_kind, e.target_name)
        for e in AuditEvent.objects.order_by("id")
    ]


def _signs_in(username: str, password: str) -> bool:
    return get_user_model().objects.get(username=username).check_password(password)


# --- the service -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_service_creates_the_organization_its_tenant_and_a_new_admin_all_audited():
    # when
    organization, password = services.organization_create(
        slug=" Acme ",
        name=" Acme Corp ",
        admin_username="alice",
        email="a@example.com",
        actor=ACTOR,
    )

    # then: the slug in lowercase, as URLs match it
    assert (organization.slug, organization.name) == ("acme", "Acme Corp")
    assert [t.name for t in organization.tenants.all()] == ["DefaultTenant"]
    membership = Membership.objects.get(organization=organization)
    assert (membership.user.username, membership.user.email, membership.role) == (
        "alice",
        "a@example.com",
        "admin",
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", password)
    assert _signs_in("alice", password)
    assert _events() == [
        ("organization.create", "acme", "organization", "Acme Corp"),
        ("tenant.create", "acme", "tenant", "DefaultTenant"),
        # settings.TENANT_CREATED_HOOKS: the tenant's built-in credential store.
        ("credential_store.create", "acme", "credentialstore", "Orchestrator Database"),
        ("user.create", "acme", "user", "alice"),
        ("membership.set", "acme", "user", "alice"),
    ]
    created = AuditEvent.objects.get(action="organization.create")
    assert created.details == {"name": "Acme Corp", "slug": "acme"}
    assert (created.actor_kind, created.actor_name) == ("system", "test")
    assert password not in json.dumps([e.details for e in AuditEvent.objects.all()])


@pytest.mark.django_db
def test_a_given_password_is_the_new_admins_and_nothing_is_generated():
    _organization, generated = services.organization_create(
        slug="acme", name="Acme", admin_username="alice", password=CHOSEN, actor=ACTOR
    )

    assert generated is None
    assert _signs_in("alice", CHOSEN)


@pytest.mark.django_db
def test_an_existing_account_becomes_the_admin_as_it_is():
    # given: an account with its own password and email
    user = UserFactory(username="alice", email="alice@example.com")

    # when: named with no email, or with its own
    first, generated = services.organization_create(
        slug="acme", name="Acme", admin_username="alice", actor=ACTOR
    )
    second, _ = services.organization_create(
        slug="beta", name="Beta", admin_username="alice", email="alice@example.com", actor=ACTOR
    )

    # then: it administers both, its password unchanged, and no account was created
    assert generated is None
    assert _signs_in("alice", PASSWORD)
    assert {m.organization for m in user.memberships.filter(role="admin")} == {first, second}
    assert not AuditEvent.objects.filter(action="user.create").exists()


@pytest.mark.parametrize(
    ("extra", "errors"),
    [
        pytest.param(
            {"password": CHOSEN},
            {"password": ["“alice” already has an account; its password is not changed here."]},
            id="password",
        ),
        pytest.param(
            {"email": "other@example.com"},
            {
                "email": [
                    "“alice” already has an account with another email address; leave the "
                    "email empty to make that account the administrator."
                ]
            },
            id="another-email",
        ),
    ],
)
@pytest.mark.django_db
def test_an_existing_accounts_password_or_email_is_refused_not_changed(extra, errors):
    UserFactory(username="alice", email="alice@example.com")

    with pytest.raises(ValidationError) as refused:
        services.organization_create(
            slug="acme", name="Acme", admin_username="alice", actor=ACTOR, **extra
        )

    assert refused.value.message_dict == errors
    assert _signs_in("alice", PASSWORD)
    assert not Organization.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_taken_slug_in_any_case_is_refused_and_nothing_is_written():
    OrganizationFactory(slug="acme")

    with pytest.raises(ValidationError) as refused:
        services.organization_create(slug="ACME", name="Other", admin_username="bob", actor=ACTOR)

    assert refused.value.message_dict == {
        "slug": ["An organization with the slug “acme” already exists."]
    }
    assert Organization.objects.count() == 1
    assert not get_user_model().objects.filter(username="bob").exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_operators_taking_one_slug_at_once_get_one_organization_and_one_refusal():
    barrier, outcomes = threading.Barrier(2), []

    def create(username):
        barrier.wait()
        try:
            services.organization_create(
                slug="acme", name="Acme", admin_username=username, actor=ACTOR
            )
            outcomes.append("created")
        except ValidationError as error:
            outcomes.append(error.message_dict)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str) == [
        "created",
        {"slug": ["An organization with the slug “acme” already exists."]},
    ]
    assert Organization.objects.count() == 1
    assert get_user_model().objects.count() == 1  # the refused one's account was rolled back


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        pytest.param("-acme", "Use 1 to 64 lowercase letters, digits and inner hyphens.", id="hy"),
        pytest.param("ac_me", "Use 1 to 64 lowercase letters, digits and inner hyphens.", id="_"),
        pytest.param("a" * 65, "Ensure this value has at most 64 characters (it has 65).", id="65"),
        pytest.param("admin", "“admin” is reserved.", id="reserved"),
        pytest.param("", "This field cannot be blank.", id="blank"),
    ],
)
@pytest.mark.django_db
def test_a_bad_slug_is_refused(slug, message):
    with pytest.raises(ValidationError) as refused:
        services.organization_create(slug=slug, name="Acme", admin_username="bob", actor=ACTOR)

    assert message in refused.value.message_dict["slug"]
    assert not Organization.objects.exists()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_every_problem_is_reported_at_once_keyed_by_its_argument():
    with pytest.raises(ValidationError) as refused:
        services.organization_create(
            slug="acme",
            name="  ",
            admin_username="no spaces",
            email="not-an-address",
            actor=ACTOR,
        )

    assert refused.value.message_dict == {
        "name": ["This field cannot be blank."],
        "admin_username": [
            "Enter a valid username. This value may contain only letters, numbers, and "
            "@/./+/-/_ characters."
        ],
        "email": ["Enter a valid email address."],
    }


@pytest.mark.django_db
def test_a_weak_given_password_is_refused_by_djangos_validators():
    with pytest.raises(ValidationError) as refused:
        services.organization_create(
            slug="acme", name="Acme", admin_username="alice", password="12345678", actor=ACTOR
        )

    assert refused.value.message_dict == {
        "password": ["This password is too common.", "This password is entirely numeric."]
    }


# --- manage.py create_organization -----------------------------------------------------------


def _command(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    options = {"stdout": out} if stdin is None else {"stdout": out, "stdin": io.StringIO(stdin)}
    call_command("create_organization", *args, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_prints_the_organization_and_the_generated_password_once():
    # when
    output = _command("--slug", "acme", "--name", "Acme", "--admin", "alice", "--email", "a@x.io")

    # then
    organization = Organization.objects.get(slug="acme")
    password = re.search(r"password '([^']+)'", output).group(1)
    assert output == (
        f"Organization 'acme' (Acme) created: partitionGlobalId {organization.global_id}, "
        "tenant 'DefaultTenant'.\n"
        f"Administrator 'alice': new account, password '{password}'\n"
        "The password is shown only now; keep it.\n"
    )
    assert _signs_in("alice", password)
    assert get_user_model().objects.get(username="alice").email == "a@x.io"
    assert AuditEvent.objects.get(action="organization.create").actor_name == "create_organization"


@pytest.mark.django_db
def test_the_command_reads_the_password_from_stdin_and_never_prints_it():
    output = _command(
        "--slug", "acme", "--name", "Acme", "--admin", "alice", "--password-stdin",
        stdin=f"{CHOSEN}\nignored second line\n",
    )  # fmt: skip

    assert CHOSEN not in output
    assert "Administrator 'alice': new account, password from stdin.\n" in output
    assert _signs_in("alice", CHOSEN)


@pytest.mark.django_db
def test_the_command_refuses_an_empty_stdin_password():
    with pytest.raises(CommandError) as refused:
        _command("--slug", "acme", "--name", "A", "--admin", "al", "--password-stdin", stdin="\n")

    assert str(refused.value) == "--password-stdin: no password on the first line of stdin."
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_the_command_makes_an_existing_account_admin_and_says_its_password_stays():
    UserFactory(username="alice")

    output = _command("--slug", "acme", "--name", "Acme", "--admin", "alice", "--json")

    organization = Organization.objects.get()
    assert json.loads(output) == {
        "slug": "acme",
        "name": "Acme",
        "partitionGlobalId": str(organization.global_id),
        "defaultTenant": "DefaultTenant",
        "admin": "alice",
        "password": None,
    }
    assert _signs_in("alice", PASSWORD)


@pytest.mark.django_db
def test_the_command_fails_on_a_taken_slug_with_the_services_words():
    OrganizationFactory(slug="acme")

    with pytest.raises(CommandError) as refused:
        _command("--slug", "acme", "--name", "Acme", "--admin", "alice")

    assert str(refused.value) == "--slug: An organization with the slug “acme” already exists."
    assert not get_user_model().objects.filter(username="alice").exists()


@pytest.mark.django_db
def test_the_command_run_from_the_shell_exits_with_an_error_on_a_taken_slug(capsys):
    # run_from_argv is what `manage.py create_organization` runs: a CommandError is
    # printed to stderr and the process exits with status 1. (--skip-checks: the
    # production checks refuse the test settings' development defaults.)
    argv = ["manage.py", "create_organization", "--skip-checks"]
    OrganizationFactory(slug="acme")

    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv([*argv, "--slug", "acme", "--name", "A", "--admin", "al"])

    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "CommandError: --slug: An organization with the slug “acme” already exists.\n"
    )


# --- the operator's page ---------------------------------------------------------------------


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _secret_shown(page: str) -> str:
    return page.split('id="secret-once-value" class="secret-value" type="text" value="')[1].split(
        '"'
    )[0]


@pytest.mark.django_db
def test_an_operator_creates_an_organization_and_sees_the_password_once(operator, client):
    # when
    response = operator.post(
        PAGE, {"slug": "acme", "name": "Acme", "admin_username": "alice", "email": "a@x.io"}
    )

    # then: Post/Redirect/Get, the password in neither the answer nor the address
    assert response.status_code == 303
    assert response["Location"] == PAGE
    organization = Organization.objects.get(slug="acme")
    shown = operator.get(PAGE)
    page = shown.content.decode()
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    assert (
        f"Organization “Acme” created: URL name acme, partitionGlobalId "
        f"{organization.global_id}, tenant DefaultTenant; “alice” is its administrator."
    ) in page
    assert "Account “alice” created as the administrator." in page
    password = _secret_shown(page)
    assert _signs_in("alice", password)
    # a reload shows the empty form, without the password, and creates nothing
    again = operator.get(PAGE).content.decode()
    assert "secret-once" not in again and password not in again
    assert Organization.objects.count() == 1
    events = AuditEvent.objects.filter(organization=organization).order_by("id")
    assert [(e.action, e.actor_kind) for e in events] == [
        ("organization.create", "user"),
        ("tenant.create", "user"),
        ("credential_store.create", "user"),
        ("user.create", "user"),
        ("membership.set", "user"),
    ]
    # and the new administrator reaches the organization's pages
    client.logout()
    assert client.login(username="alice", password=password)
    assert client.get(reverse("organization", args=["acme"])).status_code == 200


@pytest.mark.django_db
def test_naming_an_existing_account_redirects_without_a_password(operator):
    UserFactory(username="alice")

    response = operator.post(PAGE, {"slug": "acme", "name": "Acme", "admin_username": "alice"})

    assert response.status_code == 303
    page = operator.get(PAGE).content.decode()
    assert "“alice” is its administrator." in page
    assert "secret-once" not in page
    assert _signs_in("alice", PASSWORD)


@pytest.mark.django_db
def test_the_page_refuses_what_the_service_refuses_in_its_words_beside_the_fields(operator):
    OrganizationFactory(slug="acme")

    response = operator.post(
        PAGE, {"slug": "acme", "name": "", "admin_username": "no spaces", "email": "x"}
    )

    page = response.content.decode()
    assert response.status_code == 200

    def beside(field: str) -> str:
        return page.split(f'id="id_{field}_error"')[1].split("</div>")[0]

    assert "An organization with the slug “acme” already exists." in beside("slug")
    assert "This field cannot be blank." in beside("name")
    assert "Enter a valid username." in beside("admin_username")
    assert "Enter a valid email address." in beside("email")
    assert 'value="no spaces"' in page  # the input is kept
    assert Organization.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["slug", "name", "admin_username", "email"])
def test_a_null_character_in_any_field_is_refused_beside_it_without_a_500(operator, field):
    form = {"slug": "acme", "name": "Acme", "admin_username": "alice", "email": "a@x.io"}
    form[field] = form[field][:2] + "\x00" + form[field][2:]

    response = operator.post(PAGE, form)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Null characters are not allowed." in page.split(f'id="id_{field}_error"')[1]
    assert not Organization.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Acme\u202egnp.exe", "Acme\r\nForged: line", "A\u200bcme"])
def test_an_organization_name_is_display_safe_at_creation_and_rename(name):
    with pytest.raises(ValidationError) as refused:
        services.organization_create(slug="acme", name=name, admin_username="a", actor=ACTOR)
    assert "name" in refused.value.message_dict
    organization, _ = services.organization_create(
        slug="acme", name="Acme", admin_username="a", actor=ACTOR
    )
    with pytest.raises(ValidationError):
        services.organization_rename(organization=organization, name=name, actor=ACTOR)


FULLWIDTH_BOB = "\uff42\uff4f\uff42"


@pytest.mark.django_db
def test_the_page_names_the_administrator_as_the_account_is_stored(operator):
    # fullwidth letters: Django stores the username NFKC-normalised, and signs in with that
    operator.post(PAGE, {"slug": "acme", "name": "Acme", "admin_username": FULLWIDTH_BOB})

    page = operator.get(PAGE).content.decode()
    assert get_user_model().objects.filter(username="bob").exists()
    assert "“bob” is its administrator." in page
    assert FULLWIDTH_BOB not in page


@pytest.mark.django_db
def test_an_account_made_by_a_concurrent_request_is_a_refusal_not_a_change(monkeypatch):
    # given: another request creates "alice" between the service's check and its save
    original = services._new_account

    def racing(**fields):
        user = original(**fields)
        UserFactory(username=fields["username"])
        return user

    monkeypatch.setattr(services, "_new_account", racing)

    # when / then
    with pytest.raises(ValidationError) as refused:
        services.organization_create(slug="acme", name="Acme", admin_username="alice", actor=ACTOR)
    assert refused.value.message_dict == {
        "admin_username": ["An account named “alice” was just created; try again."]
    }
    # nothing of this request stays (here the "other request" shared its transaction)
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_the_home_page_links_the_page_for_operators_only(operator, client, admin_membership):
    assert f'href="{PAGE}"' in operator.get("/").content.decode()
    client.force_login(admin_membership.user)
    assert f'href="{PAGE}"' not in client.get("/").content.decode()


@pytest.mark.parametrize(
    "who",
    [
        pytest.param("staff", id="staff-without-superuser"),
        pytest.param("admin", id="organization-admin"),
        pytest.param("member", id="organization-member"),
        pytest.param("other", id="no-organization"),
    ],
)
@pytest.mark.django_db
def test_everyone_but_operators_gets_the_404_of_a_missing_page(client, who):
    # given
    user = {
        "staff": lambda: UserFactory(is_staff=True),
        "admin": lambda: MembershipFactory(role="admin").user,
        "member": lambda: MembershipFactory(role="member").user,
        "other": lambda: UserFactory(),
    }[who]()
    client.force_login(user)
    missing = client.get("/portal_/organizations/old/")

    for method in ("get", "post"):
        # when
        response = getattr(client, method)(
            PAGE, {"slug": "acme", "name": "Acme", "admin_username": "mallory"}
        )

        # then
        assert response.status_code == missing.status_code == 404, method
        assert response.content == missing.content, method
    assert not Organization.objects.filter(slug="acme").exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(client):
    for method in ("get", "post"):
        response = getattr(client, method)(PAGE)

        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={PAGE}"
    assert not Organization.objects.exists()


# --- seed_demo, which creates its organization through the same service ----------------------


@pytest.mark.django_db
def test_seed_demo_makes_an_existing_account_the_demo_admin_and_resets_it_when_asked(
    monkeypatch,
):
    # given: the account exists before the demo organization
    UserFactory(username="admin")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", CHOSEN)

    # when
    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    # then: created as an operator's organization, the account kept and its password reset
    assert "Demo admin 'admin': password set from DEMO_ADMIN_PASSWORD." in out.getvalue()
    assert _signs_in("admin", CHOSEN)
    assert Membership.objects.get(organization__slug="demo").user.username == "admin"
    assert [event[:2] for event in _events()[:4]] == [
        ("organization.create", "demo"),
        ("tenant.create", "demo"),
        ("credential_store.create", "demo"),
        ("membership.set", "demo"),
    ]
