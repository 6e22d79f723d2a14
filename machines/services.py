"""Every write of the machines app, each in one transaction with its audit event.

A machine owns a `machine` OAuth client (identity_server.services): created with it,
renamed with it, deleted with it, which revokes every token the client holds. Its secrets
are managed with identity_server.services.client_secret_create / client_secret_delete.

Sessions are written by the robot service (machines.robotsservice), one row per machine
and host. BeginSession, EndSession, startservice and stopservice are audited; heartbeats
are the hot path (every robot, every PeriodSeconds), so a heartbeat writes its session's
row but is audited only when it changes the session's state: the first heartbeat of a new
session, or of one that was disconnected or unresponsive (`session.connect`).
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Model, Q
from django.db.models.functions import Lower
from django.utils import timezone

from identity_server.models import OAuthClient
from identity_server.scopes import ROBOT_SCOPE
from identity_server.services import QUOTA_FIELDS, client_create, client_delete, client_update
from machines import credential_stores, selectors
from machines.models import Machine, Robot, Session
from tenants.models import Tenant
from tenants.services import (
    Actor,
    apply_changes,
    audit_record,
    duplicate_name,
    save_unique_name,
)

EDITABLE_FIELDS = ("name", "description", "type")
ROBOT_EDITABLE_FIELDS = ("name", "machine", "username", "description", "credential_type")
# What robot_credential_set (machines.credential_stores) handles: the store, the password
# (write-only) and the name of a read-only store's secret.
ROBOT_CREDENTIAL_FIELDS = ("credential_store", "password", "external_name")
# Sessions one DeleteInactiveUnattendedSessions call may name.
MAX_SESSIONS_DELETED = 1000


def _name_taken(obj: Model) -> str:
    return f"A {obj._meta.model_name} with this name already exists."


def _validate(obj: Machine | Robot, *, exclude: list[str]) -> None:
    """Field checks, then the name's uniqueness in the tenant (any case). The database
    constraint has the last word when two requests race (_save)."""
    obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    others = type(obj).objects.filter(tenant=obj.tenant).exclude(pk=obj.pk)
    if others.alias(name_ci=Lower("name")).filter(name_ci=obj.name.lower()).exists():
        raise duplicate_name(_name_taken(obj))


def _save(obj: Machine | Robot, **options) -> None:
    constraint = f"{obj._meta.model_name}_name_unique_in_tenant"
    save_unique_name(obj, constraint=constraint, message=_name_taken(obj), **options)


def _quota(quota: dict) -> dict:
    unknown = set(quota) - set(QUOTA_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields {sorted(unknown)}")
    return quota


@transaction.atomic
def machine_create(
    *,
    tenant: Tenant,
    name: str,
    actor: Actor,
    type: str = Machine.Type.STANDARD,
    description: str = "",
    **quota,
) -> Machine:
    """A machine and its client; `quota` sets the client's token quotas (QUOTA_FIELDS)."""
    machine = Machine(tenant=tenant, name=name, type=type, description=description or "")
    _validate(machine, exclude=["tenant", "client"])
    machine.client = client_create(
        organization=tenant.organization,
        tenant=tenant,
        name=name,
        kind=OAuthClient.Kind.MACHINE,
        scopes=[ROBOT_SCOPE],
        actor=actor,
    )
    if quota:
        client_update(client=machine.client, actor=actor, **_quota(quota))
    _save(machine)
    audit_record(
        action="machine.create",
        actor=actor,
        tenant=tenant,
        target=machine,
        details={
            "name": machine.name,
            "type": machine.type,
            "description": machine.description,
            "client_id": machine.client.client_id,
        },
    )
    return machine


@transaction.atomic
def machine_update(*, machine: Machine, actor: Actor, **changes) -> Machine:
    """Changes `name`, `description` or `type`; a new name is also the client's name. The
    client's token quotas (QUOTA_FIELDS) are changed and audited as the client's. Saving
    the values the machine already has changes and audits nothing."""
    quota = {field: changes.pop(field) for field in QUOTA_FIELDS if field in changes}
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"machine_update: unknown fields {sorted(unknown)}")
    machine = (
        Machine.objects.select_for_update().select_related("tenant", "client").get(pk=machine.pk)
    )
    if quota:
        client_update(client=machine.client, actor=actor, **quota)
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    diff = apply_changes(machine, changes)
    if not diff:
        return machine
    _validate(machine, exclude=["tenant", "client"])
    _save(machine, update_fields=[*diff, "updated_at"])
    if "name" in diff:
        client_update(client=machine.client, actor=actor, name=machine.name)
    audit_record(
        action="machine.update", actor=actor, tenant=machine.tenant, target=machine, details=diff
    )
    return machine


@transaction.atomic
def machine_delete(*, machine: Machine, actor: Actor) -> None:
    """Deletes the machine and its client, which revokes every token the client holds."""
    client = machine.client
    audit_record(
        action="machine.delete",
        actor=actor,
        tenant=machine.tenant,
        target=machine,
        details={"client_id": client.client_id},
    )
    machine.delete()
    client_delete(client=client, actor=actor)


# --- robots -------------------------------------------------------------------------------


def _check_machine(tenant: Tenant, machine: Machine | None) -> None:
    if machine is not None and machine.tenant_id != tenant.pk:
        raise ValidationError({"machine": "Unknown machine."}, code="invalid")


@transaction.atomic
def robot_create(
    *,
    tenant: Tenant,
    name: str,
    username: str,
    actor: Actor,
    machine: Machine | None = None,
    description: str = "",
    credential_type: str = Robot.CredentialType.DEFAULT,
    **credential,
) -> Robot:
    """A robot; `credential` (ROBOT_CREDENTIAL_FIELDS) as robot_credential_set takes it,
    its store the tenant's default when none is named."""
    unknown = set(credential) - set(ROBOT_CREDENTIAL_FIELDS)
    if unknown:
        raise TypeError(f"robot_create: unknown fields {sorted(unknown)}")
    _check_machine(tenant, machine)
    robot = Robot(
        tenant=tenant,
        name=name,
        username=username,
        machine=machine,
        description=description or "",
        credential_type=credential_type,
    )
    _validate(robot, exclude=["tenant", "machine", "credential_store"])
    _save(robot)
    if "credential_store" not in credential:
        credential["credential_store"] = credential_stores.credential_store_default(tenant=tenant)
    credential["store"] = credential.pop("credential_store")
    credential_details = credential_stores.robot_credential_set(
        robot=robot, actor=actor, **credential
    )
    audit_record(
        action="robot.create",
        actor=actor,
        tenant=tenant,
        target=robot,
        details={
            "name": robot.name,
            "username": robot.username,
            "machine_id": robot.machine_id,
            "description": robot.description,
            "credential_type": robot.credential_type,
            **credential_details,
        },
    )
    return robot


@transaction.atomic
def robot_update(*, robot: Robot, actor: Actor, **changes) -> Robot:
    """Changes `name`, `machine` (of the robot's tenant, or None), `username` or
    `description`. Saving the values the robot already has changes and audits nothing."""
    unknown = set(changes) - set(ROBOT_EDITABLE_FIELDS) - set(ROBOT_CREDENTIAL_FIELDS)
    if unknown:
        raise TypeError(f"robot_update: unknown fields {sorted(unknown)}")
    credential = {k: changes.pop(k) for k in ROBOT_CREDENTIAL_FIELDS if k in changes}
    if "credential_store" in credential:
        credential["store"] = credential.pop("credential_store")
    robot = (
        # Only the robot's row is locked: its store is a nullable (outer) join.
        Robot.objects.select_for_update(of=("self",))
        .select_related("tenant", "credential_store")
        .get(pk=robot.pk)
    )
    if "machine" in changes:
        machine = changes.pop("machine")
        _check_machine(robot.tenant, machine)
        changes["machine_id"] = machine.pk if machine else None  # ids in the audit diff
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    diff = apply_changes(robot, changes)
    if diff:
        _validate(robot, exclude=["tenant", "machine", "credential_store"])
        _save(robot, update_fields=[*diff, "updated_at"])
    if credential:
        diff.update(credential_stores.robot_credential_set(robot=robot, actor=actor, **credential))
    if not diff:
        return robot
    audit_record(
        action="robot.update", actor=actor, tenant=robot.tenant, target=robot, details=diff
    )
    return robot


@transaction.atomic
def robot_delete(*, robot: Robot, actor: Actor) -> None:
    """Deletes the robot and the password written for it (best effort: a vault that fails
    keeps it, audited); its sessions stay, without a robot, until deleted as inactive."""
    credential_stores.robot_credential_delete(robot=robot, actor=actor)
    audit_record(
        action="robot.delete",
        actor=actor,
        tenant=robot.tenant,
        target=robot,
        details={"name": robot.name, "username": robot.username},
    )
    robot.delete()


# --- sessions -----------------------------------------------------------------------------


def _robots_of(machine: Machine) -> "Q":
    # A robot runs on its machine; one without a machine may run on any of its tenant's.
    return Q(tenant=machine.tenant_id) & (Q(machine=machine) | Q(machine__isnull=True))


def _robot_named(machine: Machine, *, user_name: str | None = None, keys=()) -> Robot | None:
    """The robot of this machine that runs as `user_name` (any case), or has one of `keys`;
    a robot given this very machine before one without a machine."""
    if user_name:
        condition = Q(username__iexact=user_name)
    elif keys:
        condition = Q(key__in=list(keys))
    else:
        return None
    robots = Robot.objects.filter(_robots_of(machine) & condition)
    return robots.order_by(F("machine_id").desc(nulls_last=True), "pk").first()


def _session_locked(*, machine: Machine, host_name: str, now: datetime) -> tuple[Session, str]:
    """This machine's session on `host_name`, locked for the call, and its state before the
    call (Connected, Disconnected, Unresponsive, or New for a session made now)."""
    sessions = selectors.session_list(tenant=machine.tenant, now=now).select_for_update(
        of=("self",)
    )
    session = sessions.filter(machine=machine, host_name=host_name).first()
    if session is not None:
        return session, selectors.session_state(session)
    try:
        with transaction.atomic():
            Session.objects.create(
                tenant=machine.tenant, machine=machine, host_name=host_name, reporting_time=now
            )
    except IntegrityError:  # the same host's other call made it a moment ago
        session = sessions.get(machine=machine, host_name=host_name)
        return session, selectors.session_state(session)
    return sessions.get(machine=machine, host_name=host_name), "New"


@transaction.atomic
def session_report(
    *,
    machine: Machine,
    host_name: str,
    actor: Actor,
    state: str,
    action: str | None,
    version: str = "",
    robot: Robot | None = None,
    details: dict | None = None,
) -> Session:
    """Records one robot service call of `machine` from `host_name`: the session (made if
    new) gets `state`, the call's time as its reporting time, and `version` and `robot`
    when given. Audited as `action`, or when None (a heartbeat) as `session.connect` only
    if a session that was not connected becomes connected."""
    now = timezone.now()
    session, before = _session_locked(machine=machine, host_name=host_name, now=now)
    session.state = state
    session.reporting_time = now
    session.version = version or session.version
    session.robot = robot or session.robot
    session.save(update_fields=["state", "reporting_time", "version", "robot", "updated_at"])
    if action is None and before != Session.State.CONNECTED and state == Session.State.CONNECTED:
        action = "session.connect"
    if action is not None:
        audit_record(
            action=action,
            actor=actor,
            tenant=machine.tenant,
            target=session,
            details={
                "machine_id": machine.pk,
                "host_name": host_name,
                "robot_id": session.robot_id,
                "state": {"before": before, "after": state},
                "version": session.version,
                **(details or {}),
            },
        )
    return session


def session_begin(*, machine: Machine, host_name: str, user_name: str, actor: Actor, **call):
    """BeginSession: the session of the robot that runs as `user_name` is connected."""
    robot = _robot_named(machine, user_name=user_name)
    return session_report(
        machine=machine,
        host_name=host_name,
        actor=actor,
        state=Session.State.CONNECTED,
        action="session.begin",
        robot=robot,
        details={"user_name": user_name},
        **call,
    )


def session_heartbeat(*, machine: Machine, host_name: str, robot_keys, actor: Actor, **call):
    """heartbeatv2: the session stays (or becomes) connected; audited on a change only."""
    return session_report(
        machine=machine,
        host_name=host_name,
        actor=actor,
        state=Session.State.CONNECTED,
        action=None,
        robot=_robot_named(machine, keys=robot_keys),
        **call,
    )


def session_end(*, machine: Machine, host_name: str, actor: Actor, robot_key=None, **call):
    """EndSession: the robot ended its session gracefully; it is disconnected."""
    return session_report(
        machine=machine,
        host_name=host_name,
        actor=actor,
        state=Session.State.DISCONNECTED,
        action="session.end",
        robot=_robot_named(machine, keys=[robot_key] if robot_key else ()),
        **call,
    )


@transaction.atomic
def session_delete_inactive(
    *, tenant: Tenant, session_ids, actor: Actor, now: datetime | None = None
) -> list[Session]:
    """Deletes the tenant's sessions `session_ids`, all or none: each must be an unattended
    session of this tenant that is disconnected or unresponsive at `now` (`is_inactive` of
    selectors.session_list). Otherwise raises ValidationError keyed `sessionIds` naming
    the refused ids, and deletes nothing. One `session.delete` event per session."""
    ids = list(dict.fromkeys(session_ids))
    if not 1 <= len(ids) <= MAX_SESSIONS_DELETED:
        raise ValidationError(
            {"sessionIds": f"Name 1 to {MAX_SESSIONS_DELETED} sessions."}, code="invalid"
        )
    inactive = selectors.session_list_inactive(tenant=tenant, now=now)
    sessions = list(inactive.select_for_update(of=("self",)).filter(pk__in=ids))
    refused = sorted(set(ids) - {s.pk for s in sessions})
    if refused:
        raise ValidationError(
            {
                "sessionIds": (
                    f"Sessions {', '.join(map(str, refused))} are connected, attended or not "
                    "sessions of this tenant; nothing was deleted."
                )
            },
            code="session_not_inactive",
        )
    for session in sessions:
        audit_record(
            action="session.delete",
            actor=actor,
            tenant=tenant,
            target=session,
            details={
                "machine_id": session.machine_id,
                "host_name": session.host_name,
                "state": selectors.session_state(session),
                "reporting_time": session.reporting_time.isoformat(),
            },
        )
    Session.objects.filter(pk__in=[s.pk for s in sessions]).delete()
    return sessions
