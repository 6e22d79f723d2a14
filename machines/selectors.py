"""Reads of the machines app, each scoped to a tenant the caller was given access to
(tenants.access), or to one machine's client: an id from a request never reaches a row of
another tenant, and a foreign id is the same 404 as a missing one.

`session_unresponsive` is the one statement of when a session is unresponsive; the
Sessions API, the deletion of inactive sessions and the clean-up command all use it.
"""

from datetime import datetime, timedelta

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone

from identity_server.models import OAuthClient
from identity_server.scopes import ROBOT_SCOPE
from machines.models import CredentialStore, Machine, Robot, Session
from tenants.models import Tenant
from tenants.search import SearchResult, name_contains
from tenants.selectors import setting_values

HEARTBEAT_PERIOD = "Scalability.Heartbeat.PeriodSeconds"
HEARTBEAT_THRESHOLD = "Scalability.Heartbeat.FailureThreshold"
# A session's state as read: what the robot said last, or unresponsive (computed).
UNRESPONSIVE = "Unresponsive"
SESSION_STATES = (Session.State.CONNECTED, Session.State.DISCONNECTED, UNRESPONSIVE)


def _named(queryset: QuerySet, text: str) -> QuerySet:
    # The admin site's lists: the rows whose name contains `text` in any case, by name.
    return queryset.filter(name__icontains=text).order_by(Lower("name"), "pk")


def machine_list(*, tenant: Tenant) -> QuerySet[Machine]:
    return Machine.objects.filter(tenant=tenant).select_related("client")


def machine_list_named(*, tenant: Tenant, text: str = "") -> QuerySet[Machine]:
    """The tenant's machines whose name contains `text` (any case; all when empty), in
    name order."""
    return _named(machine_list(tenant=tenant), text)


def _one(queryset: QuerySet, pk: int):
    found = queryset.select_related("tenant").filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def machine_get(*, tenant: Tenant, machine_id: int) -> Machine:
    return _one(machine_list(tenant=tenant), machine_id)


def machine_for_robot_token(*, principal, org_slug: str, tenant_name: str) -> Machine | None:
    """The machine whose client holds the token `principal` (identity_server.authentication.
    TokenPrincipal), if that is a machine client of the tenant `{org}/{tenant}`; else None.
    A token of another tenant's machine, or of an external application, finds nothing."""
    if principal.tenant_global_id is None or ROBOT_SCOPE not in principal.scopes:
        return None
    machines = (
        Machine.objects.select_related("tenant__organization", "client")
        .alias(tenant_ci=Lower("tenant__name"))
        .filter(
            client__client_id=principal.client_id,
            client__kind=OAuthClient.Kind.MACHINE,
            tenant__global_id=principal.tenant_global_id,
            tenant__organization__global_id=principal.organization_global_id,
            tenant_ci=tenant_name.lower(),
            tenant__organization__slug=org_slug.lower(),
        )
    )
    return machines.first()


def robot_list(*, tenant: Tenant) -> QuerySet[Robot]:
    return Robot.objects.filter(tenant=tenant).select_related("machine", "credential_store")


def robot_list_named(*, tenant: Tenant, text: str = "") -> QuerySet[Robot]:
    """The tenant's robots whose name contains `text` (any case; all when empty), in name
    order."""
    return _named(robot_list(tenant=tenant), text)


def robot_get(*, tenant: Tenant, robot_id: int) -> Robot:
    return _one(robot_list(tenant=tenant), robot_id)


# --- credential stores --------------------------------------------------------------------


def credential_store_list(*, tenant: Tenant) -> QuerySet[CredentialStore]:
    return CredentialStore.objects.filter(tenant=tenant)


def credential_store_get(*, tenant: Tenant, store_id: int) -> CredentialStore:
    return _one(credential_store_list(tenant=tenant), store_id)


def credential_store_default(*, tenant: Tenant) -> CredentialStore | None:
    """The store set as default for robots' credentials, if one is (else the database
    store is: machines.credential_stores.credential_store_default)."""
    return credential_store_list(tenant=tenant).filter(is_default=True).first()


# --- sessions ---------------------------------------------------------------------------


def unresponsive_after(*, tenant: Tenant) -> timedelta:
    """How long a connected session of the tenant may go without a heartbeat:
    `FailureThreshold * PeriodSeconds` of the tenant's settings (SPEC §6)."""
    values = setting_values(tenant=tenant)
    return timedelta(seconds=values[HEARTBEAT_PERIOD] * values[HEARTBEAT_THRESHOLD])


def session_unresponsive(*, tenant: Tenant, now: datetime | None = None) -> Q:
    """Matches the tenant's unresponsive sessions at `now`: connected, and silent for
    longer than unresponsive_after. Computed whenever sessions are read; no job marks
    them."""
    cutoff = (now or timezone.now()) - unresponsive_after(tenant=tenant)
    return Q(state=Session.State.CONNECTED, reporting_time__lt=cutoff)


def _inactive(unresponsive: Q) -> Q:
    """Matches the sessions that may be deleted: unattended, and disconnected or
    unresponsive (`unresponsive`, from session_unresponsive)."""
    return Q(is_unattended=True) & (Q(state=Session.State.DISCONNECTED) | unresponsive)


def session_list(
    *, tenant: Tenant, now: datetime | None = None, state: str | None = None
) -> QuerySet[Session]:
    """The tenant's sessions, each annotated at `now` with `is_unresponsive` and
    `is_inactive` (may be deleted); only those in `state` (one of
    SESSION_STATES) when given."""
    unresponsive = session_unresponsive(tenant=tenant, now=now)
    sessions = (
        Session.objects.filter(tenant=tenant)
        .select_related("machine", "robot")
        .annotate(
            is_unresponsive=ExpressionWrapper(unresponsive, output_field=BooleanField()),
            is_inactive=ExpressionWrapper(_inactive(unresponsive), output_field=BooleanField()),
        )
    )
    if state == UNRESPONSIVE:
        return sessions.filter(unresponsive)
    if state == Session.State.CONNECTED:
        return sessions.filter(Q(state=state) & ~unresponsive)
    if state == Session.State.DISCONNECTED:
        return sessions.filter(state=state)
    return sessions


def session_state(session: Session) -> str:
    """Connected, Disconnected or Unresponsive, for a session from session_list."""
    return UNRESPONSIVE if session.is_unresponsive else session.state


def session_list_inactive(
    *, tenant: Tenant, older_than: datetime | None = None, now: datetime | None = None
) -> QuerySet[Session]:
    """The tenant's deletable sessions, those last heard of before `older_than` if given."""
    sessions = session_list(tenant=tenant, now=now).filter(is_inactive=True)
    if older_than is not None:
        sessions = sessions.filter(reporting_time__lt=older_than)
    return sessions


# --- search sources (tenants.search) ------------------------------------------------------


def machine_search(*, tenant: Tenant, text: str, limit: int) -> list[SearchResult]:
    return [
        SearchResult("machine", str(m.pk), m.name, m.description, "OR.Machines.Read")
        for m in name_contains(Machine.objects.filter(tenant=tenant), text, limit)
    ]


def robot_search(*, tenant: Tenant, text: str, limit: int) -> list[SearchResult]:
    return [
        SearchResult("robot", str(r.pk), r.name, r.description, "OR.Robots.Read")
        for r in name_contains(Robot.objects.filter(tenant=tenant), text, limit)
    ]
