"""The tenants app's pages of the admin site: tenants, members, organization and tenant
settings, the audit log and its CSV export (Django's test client; the journeys in a real
browser are in tests/browser/)."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from identity_server.tests.factories import client_with_secret
from identity_server.tests.http import Api, token_request
from tenants import services
from tenants.models import AuditEvent, Membership, Setting, Tenant
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

PERIOD = "Scalability.Heartbeat.PeriodSeconds"
THRESHOLD = "Scalability.Heartbeat.FailureThreshold"
FORCE = "Auth.UnattendedRobot.ForceClientCredentials"


@pytest.fixture
def org(admin_membership):
    return admin_membership.organization


@pytest.fixture
def tenant(org):
    return org.tenants.get()


@pytest.fixture
def member_client(client, org):
    client.force_login(MembershipFactory(organization=org, role="member").user)
    return client


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- tenants ---------------------------------------------------------------------------------


def test_an_admin_creates_a_tenant_audited_as_themselves(admin, org, admin_membership):
    response = admin.post(reverse("org-tenants", args=[org.slug]), {"name": "Finance"}, follow=True)

    page = _page(response)
    assert "Tenant “Finance” created." in page
    assert Tenant.objects.filter(organization=org, name="Finance").exists()
    event = AuditEvent.objects.get(action="tenant.create")
    assert (event.actor_kind, event.actor_name) == ("user", admin_membership.user.username)
    assert event.client_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("defaulttenant", "A tenant with this name already exists.", id="taken"),
        pytest.param("9lives", "Start with a letter", id="malformed"),
    ],
)
def test_a_refused_tenant_name_is_explained_beside_the_field_and_kept(admin, org, name, message):
    response = admin.post(reverse("org-tenants", args=[org.slug]), {"name": name})

    page = _page(response)
    assert 'id="id_name_error"' in page
    assert message in page.split('id="id_name_error"')[1]
    assert f'value="{name}"' in page
    assert 'aria-invalid="true"' in page
    assert org.tenants.count() == 1


def test_an_admin_renames_a_tenant(admin, org, tenant):
    url = reverse("org-tenants-rename", args=[org.slug, tenant.pk])

    response = admin.post(url, {"name": "Production"}, follow=True)

    assert "Tenant “DefaultTenant” renamed to “Production”." in _page(response)
    tenant.refresh_from_db()
    assert tenant.name == "Production"
    event = AuditEvent.objects.get(action="tenant.rename")
    assert event.details == {"name": {"before": "DefaultTenant", "after": "Production"}}


def test_renaming_to_a_taken_name_is_refused(admin, org, tenant):
    TenantFactory(organization=org, name="Staging")

    response = admin.post(
        reverse("org-tenants-rename", args=[org.slug, tenant.pk]), {"name": "STAGING"}
    )

    assert "A tenant with this name already exists." in _page(response)
    tenant.refresh_from_db()
    assert tenant.name == "DefaultTenant"


def test_another_organizations_tenant_cannot_be_renamed_through_this_one(
    admin, org, other_admin_membership
):
    foreign = other_admin_membership.organization.tenants.get()

    response = admin.post(
        reverse("org-tenants-rename", args=[org.slug, foreign.pk]), {"name": "Mine"}
    )

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "OtherTenant"


def test_a_member_is_not_shown_the_rename_form(member_client, org, tenant):
    # given: a member, who could not submit it

    # when
    response = member_client.get(reverse("org-tenants-rename", args=[org.slug, tenant.pk]))

    # then: refused, as every other form page of the site
    assert response.status_code == 403
    assert 'name="name"' not in response.content.decode()


# --- members -----------------------------------------------------------------------------------


def test_adding_an_existing_user_as_a_member(admin, org):
    user = UserFactory(username="ana")

    response = admin.post(
        reverse("org-members", args=[org.slug]), {"username": "ana", "role": "member"}, follow=True
    )

    assert "“ana” added." in _page(response)
    assert Membership.objects.get(organization=org, user=user).role == "member"


def test_adding_a_new_username_creates_the_account_and_shows_its_password_once(admin, client, org):
    members_url = reverse("org-members", args=[org.slug])
    # when
    response = admin.post(members_url, {"username": "bruno", "role": "admin"})

    # then: a redirect (Post/Redirect/Get) that carries no password
    assert response.status_code == 303
    assert response["Location"] == members_url
    assert "secret-once" not in response.content.decode()
    # the page it leads to shows it, once, never cached
    shown = admin.get(members_url)
    page = _page(shown)
    assert "no-store" in shown["Cache-Control"]
    assert "will not be shown again" in page
    assert "Account “bruno” created and added." in page
    password = page.split('id="secret-once-value" class="secret-value" type="text" value="')[1]
    password = password.split('"')[0]
    assert "site.secret_once" not in admin.session  # taken out of the session as shown
    assert "will not be shown again" not in _page(admin.get(members_url))
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "user.create",
        "membership.set",
    ]
    # and it signs in
    client.logout()
    assert client.login(username="bruno", password=password)


@pytest.mark.parametrize(
    ("username", "message"),
    [
        pytest.param("", "This field is required.", id="empty"),
        pytest.param("no spaces", "Enter a valid username.", id="malformed"),
    ],
)
def test_a_refused_username_is_explained_beside_the_field(admin, org, username, message):
    response = admin.post(
        reverse("org-members", args=[org.slug]), {"username": username, "role": "member"}
    )

    assert message in _page(response).split('id="id_username_error"')[1]


def test_adding_someone_already_a_member_is_refused(admin, org, admin_membership):
    response = admin.post(
        reverse("org-members", args=[org.slug]),
        {"username": admin_membership.user.username, "role": "member"},
    )

    assert "is already a member." in _page(response)
    assert Membership.objects.get(user=admin_membership.user).role == "admin"


def test_changing_a_role(admin, org):
    member = MembershipFactory(organization=org, role="member")

    response = admin.post(
        reverse("org-members-role", args=[org.slug, member.user_id]), {"role": "admin"}, follow=True
    )

    assert f"“{member.user.username}” is now administrator." in _page(response)
    member.refresh_from_db()
    assert member.role == "admin"


def test_an_admin_who_demotes_themselves_reads_the_members_page_as_a_member(
    admin, org, admin_membership
):
    MembershipFactory(organization=org, role="admin")
    me = admin_membership.user

    response = admin.post(
        reverse("org-members-role", args=[org.slug, me.pk]), {"role": "member"}, follow=True
    )

    assert response.redirect_chain == [(reverse("org-members", args=[org.slug]), 302)]
    page = _page(response)
    assert f"“{me.username}” is now member." in page
    assert "Member (read only)" in page
    assert "Add member" not in page
    assert Membership.objects.get(organization=org, user=me).role == "member"


def test_the_last_admin_can_be_neither_demoted_nor_removed(admin, org, admin_membership):
    me = admin_membership.user
    role_url = reverse("org-members-role", args=[org.slug, me.pk])
    remove_url = reverse("org-members-remove", args=[org.slug, me.pk])

    demoted = admin.post(role_url, {"role": "member"}, follow=True)
    removed = admin.post(remove_url, {"confirmed": "yes"}, follow=True)

    message = "The organization&#x27;s last administrator cannot be removed or demoted."
    assert message in _page(demoted)
    assert message in _page(removed)
    assert Membership.objects.get(user=me).role == "admin"


def test_removing_a_member_asks_first_then_removes(admin, org):
    member = MembershipFactory(organization=org, role="member")
    url = reverse("org-members-remove", args=[org.slug, member.user_id])

    asked = admin.post(url)
    assert f"Remove “{member.user.username}” from {org.name}?" in _page(asked)
    assert Membership.objects.filter(pk=member.pk).exists()

    done = admin.post(url, {"confirmed": "yes"}, follow=True)

    assert f"“{member.user.username}” removed" in _page(done)
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action="membership.remove").exists()


def test_an_admin_who_leaves_returns_to_their_organizations(admin, org, admin_membership):
    MembershipFactory(organization=org, role="admin")

    response = admin.post(
        reverse("org-members-remove", args=[org.slug, admin_membership.user_id]),
        {"confirmed": "yes"},
    )

    assert response.url == reverse("home")
    assert admin.get(reverse("org-members", args=[org.slug])).status_code == 404


# --- read only for members ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "tenant_page", "write_control"),
    [
        ("org-tenants", False, "Create tenant"),
        ("org-members", False, "Add member"),
        ("org-settings", False, "Save"),
        ("tenant-settings", True, "Save settings"),
    ],
)
def test_members_read_pages_without_write_controls_and_cannot_write(
    member_client, org, tenant, url_name, tenant_page, write_control
):
    url = reverse(url_name, args=[org.slug, tenant.name] if tenant_page else [org.slug])

    page = _page(member_client.get(url))
    refused = member_client.post(
        url, {"name": "Sneaky", "username": "sneaky", "role": "member", PERIOD: "5"}
    )

    assert write_control not in page
    assert "Member (read only)" in page
    assert refused.status_code == 403
    assert "Only the organization" in refused.content.decode()
    assert not Setting.objects.exists()
    assert org.tenants.count() == 1
    assert org.memberships.count() == 2
    org.refresh_from_db()
    assert org.name != "Sneaky"
    assert not AuditEvent.objects.exists()


# --- organization settings -------------------------------------------------------------------


def test_renaming_the_organization(admin, org):
    before = org.name

    response = admin.post(
        reverse("org-settings", args=[org.slug]), {"name": "Acme Corp"}, follow=True
    )

    assert "Organization settings saved." in _page(response)
    org.refresh_from_db()
    assert (org.name, org.slug) == ("Acme Corp", org.slug)
    assert AuditEvent.objects.get(action="organization.rename").details == {
        "name": {"before": before, "after": "Acme Corp"}
    }


# --- tenant settings -------------------------------------------------------------------------


def _settings_url(org, tenant):
    return reverse("tenant-settings", args=[org.slug, tenant.name])


def test_the_settings_page_shows_each_setting_typed_with_its_value(admin, org, tenant):
    Setting.objects.create(tenant=tenant, key=PERIOD, value=45)

    page = _page(admin.get(_settings_url(org, tenant)))

    assert f'type="number" name="{PERIOD}" value="45" min="1" max="3600" step="1"' in page
    assert f'type="checkbox" name="{FORCE}"' in page and "checked" in page
    assert "Seconds between two heartbeats of a robot." in page


def test_saving_settings_stores_and_audits_each_change(admin, org, tenant, admin_membership):
    response = admin.post(_settings_url(org, tenant), {PERIOD: "60", THRESHOLD: "4"}, follow=True)

    assert "Settings saved." in _page(response)
    stored = dict(Setting.objects.values_list("key", "value"))
    assert stored == {PERIOD: 60, FORCE: False}
    events = AuditEvent.objects.filter(action="setting.update")
    assert {(e.target_id, e.actor_name) for e in events} == {
        (PERIOD, admin_membership.user.username),
        (FORCE, admin_membership.user.username),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Must be at least 1."),
        ("3601", "Must be at most 3600."),
        ("soon", "Must be a whole number."),
        ("", "Must be a whole number."),
    ],
)
def test_an_invalid_value_is_explained_beside_its_field_as_the_api_does_and_nothing_is_saved(
    admin, client, org, tenant, issue_token, value, message
):
    # when: one valid and one invalid value
    response = admin.post(_settings_url(org, tenant), {PERIOD: value, THRESHOLD: "9", FORCE: "on"})

    # then
    page = _page(response)
    assert message in page.split(f'id="id_{PERIOD}_error"')[1]
    assert f'value="{value}"' in page
    assert not Setting.objects.exists()
    # the OData PUT says the same
    app, secret = client_with_secret(organization=org, scopes=["OR.Settings"])
    api = Api(client, issue_token(app, secret))
    answer = api.put(
        f"/{org.slug}/{tenant.name}/orchestrator_/odata/Settings('{PERIOD}')", {"Value": value}
    )
    assert answer.json()["errors"]["Value"] == [message]


# --- audit log -------------------------------------------------------------------------------


@pytest.fixture
def events(org, tenant, admin_membership):
    """Events an hour apart, the newest first. (Written directly: audit_record stamps the
    present, and these need a past.)"""
    staging = TenantFactory(organization=org, name="Staging")
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=10)
    made = []
    for hours, (action, where, outcome, reason, actor) in enumerate(
        [
            ("tenant.create", staging, "success", "", "alice"),
            ("setting.update", tenant, "success", "", "alice"),
            ("token.request", None, "failure", "wrong_secret", "cid"),
            ("membership.set", None, "success", "", "alice"),
        ]
    ):
        made.append(
            AuditEvent.objects.create(
                occurred_at=start + timedelta(hours=hours, seconds=30),
                organization=org,
                tenant=where,
                actor_kind="user" if actor == "alice" else "app",
                actor_id=str(admin_membership.user.pk) if actor == "alice" else actor,
                actor_name=actor,
                action=action,
                target_kind="thing",
                target_id="7",
                target_name=f"{action} target",
                outcome=outcome,
                reason_code=reason,
                client_address="192.0.2.1",
                details={"n": hours},
            )
        )
    return made[::-1]


def _audit(client, org, in_tenant=None, **filters):
    if in_tenant is None:
        return client.get(reverse("org-audit", args=[org.slug]), filters)
    return client.get(reverse("tenant-audit", args=[org.slug, in_tenant.name]), filters)


def _listed(response) -> list[str]:
    return re.findall(r'aria-label="Event \d+: ([a-z_.]+)"', _page(response))


def test_the_organizations_log_lists_every_event_newest_first(admin, org, events):
    assert _listed(_audit(admin, org)) == [e.action for e in events]


def test_a_tenants_log_lists_only_its_events(admin, org, tenant, events):
    assert _listed(_audit(admin, org, tenant)) == ["setting.update"]


def test_the_action_filter_suggests_the_actions_of_the_log_once_each(admin, org, tenant, events):
    services.audit_record(action="setting.update", actor=services.Actor.system("t"), tenant=tenant)

    organization_log, tenant_log = _page(_audit(admin, org)), _page(_audit(admin, org, tenant))

    assert _suggested(organization_log) == sorted(e.action for e in events)
    assert _suggested(tenant_log) == ["setting.update"]


def _suggested(page) -> list[str]:
    datalist = page.split('<datalist id="audit-actions">')[1].split("</datalist>")[0]
    return re.findall(r'<option value="([^"]+)">', datalist)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param(
            {"actor": "ALI"}, ["membership.set", "setting.update", "tenant.create"], id="actor"
        ),
        pytest.param({"action": "token."}, ["token.request"], id="action-prefix"),
        pytest.param({"target": "setting.update target"}, ["setting.update"], id="target"),
        pytest.param({"outcome": "failure"}, ["token.request"], id="outcome"),
        pytest.param({"reason": "WRONG_SECRET"}, ["token.request"], id="reason"),
        pytest.param({"tenant": "-"}, ["membership.set", "token.request"], id="no-tenant"),
    ],
)
def test_filters_narrow_the_log(admin, org, events, filters, expected):
    assert _listed(_audit(admin, org, **filters)) == expected


def test_the_time_range_includes_its_last_minute(admin, org, events):
    second, third = events[1].occurred_at, events[2].occurred_at
    fmt = "%Y-%m-%dT%H:%M"

    listed = _listed(_audit(admin, org, since=third.strftime(fmt), until=second.strftime(fmt)))

    assert listed == ["token.request", "setting.update"]


def test_a_failed_token_request_shows_its_reason_code(admin, org, tenant):
    app, _ = client_with_secret(organization=org)
    assert token_request(admin, app.client_id, "idsec_wrong").status_code == 401

    page = _page(_audit(admin, org, action="token.request", outcome="failure"))

    assert "wrong_secret" in page
    assert "badge-danger" in page


def test_an_inverted_time_range_is_explained(admin, org, events):
    page = _page(_audit(admin, org, since="2026-01-02T00:00", until="2026-01-01T00:00"))

    assert "Must be after “From”." in page
    assert "Fix the filters" in page


def test_one_event_in_detail(admin, org, events):
    event = events[0]

    page = _page(admin.get(reverse("org-audit-detail", args=[org.slug, event.pk])))

    assert "membership.set target" in page
    assert "192.0.2.1" in page
    assert "&quot;n&quot;: 3" in page


def test_another_organizations_or_tenants_event_is_not_found(
    admin, org, tenant, events, other_admin_membership
):
    foreign = services.audit_record(
        action="x.y",
        actor=services.Actor.system("t"),
        organization=other_admin_membership.organization,
    )
    staging_event = events[-1]  # tenant.create in Staging

    assert admin.get(reverse("org-audit-detail", args=[org.slug, foreign.pk])).status_code == 404
    tenant_detail = reverse("tenant-audit-detail", args=[org.slug, tenant.name, staging_event.pk])
    assert admin.get(tenant_detail).status_code == 404


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_holds_the_filtered_events(admin, org, events):
    response = admin.get(reverse("org-audit-export", args=[org.slug]), {"outcome": "failure"})

    rows = _csv(response)
    assert response["Content-Disposition"] == f'attachment; filename="audit-{org.slug}.csv"'
    assert rows[0][:6] == ["Time (UTC)", "Tenant", "Actor kind", "Actor id", "Actor", "Action"]
    assert [(r[5], r[9], r[10]) for r in rows[1:]] == [("token.request", "failure", "wrong_secret")]


def test_the_csv_export_neutralizes_formulas(admin, org):
    for name in ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "plain"]:
        services.audit_record(
            action="x.y",
            actor=services.Actor("user", "1", name),
            organization=org,
        )

    rows = _csv(admin.get(reverse("org-audit-export", args=[org.slug])))

    assert sorted(r[4] for r in rows[1:]) == sorted(
        ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "plain"]
    )


def test_the_tenants_csv_export_holds_only_its_events(admin, org, tenant, events):
    rows = _csv(admin.get(reverse("tenant-audit-export", args=[org.slug, tenant.name])))

    assert [r[5] for r in rows[1:]] == ["setting.update"]
