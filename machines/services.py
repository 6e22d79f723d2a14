"""Every write of the machines app, each in one transaction with its audit event.

A machine owns a `machine` OAuth client (identity_server.services): created with it,
renamed with it, deleted with it, which revokes every token the client holds. Its secrets
are managed with identity_server.services.client_secret_create / client_secret_delete.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from identity_server.models import OAuthClient
from identity_server.scopes import ROBOT_SCOPE
from identity_server.services import client_create, client_delete, client_update
from machines.models import Machine
from tenants.models import Tenant
from tenants.services import Actor, apply_changes, audit_record

EDITABLE_FIELDS = ("name", "description", "type")
_NAME_CONSTRAINT = "machine_name_unique_in_tenant"


def _duplicate_name() -> ValidationError:
    return ValidationError(
        {"name": ValidationError("A machine with this name already exists.", code="duplicate_name")}
    )


def _validate(machine: Machine) -> None:
    """Field checks, then the name's uniqueness in the tenant (any case). The database
    constraint has the last word when two requests race (_save)."""
    machine.full_clean(
        exclude=["tenant", "client"], validate_unique=False, validate_constraints=False
    )
    others = Machine.objects.filter(tenant=machine.tenant).exclude(pk=machine.pk)
    if others.alias(name_ci=Lower("name")).filter(name_ci=machine.name.lower()).exists():
        raise _duplicate_name()


def _save(machine: Machine, **options) -> None:
    try:
        with transaction.atomic():  # a savepoint, so the caller's transaction stays usable
            machine.save(**options)
    except IntegrityError as error:
        if _NAME_CONSTRAINT in str(error):
            raise _duplicate_name() from None
        raise


@transaction.atomic
def machine_create(
    *,
    tenant: Tenant,
    name: str,
    actor: Actor,
    type: str = Machine.Type.STANDARD,
    description: str = "",
) -> Machine:
    machine = Machine(tenant=tenant, name=name, type=type, description=description or "")
    _validate(machine)
    machine.client = client_create(
        organization=tenant.organization,
        tenant=tenant,
        name=name,
        kind=OAuthClient.Kind.MACHINE,
        scopes=[ROBOT_SCOPE],
        actor=actor,
    )
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
    """Changes `name`, `description` or `type`; a new name is also the client's name.
    Saving the values the machine already has changes and audits nothing."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"machine_update: unknown fields {sorted(unknown)}")
    machine = (
        Machine.objects.select_for_update().select_related("tenant", "client").get(pk=machine.pk)
    )
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    diff = apply_changes(machine, changes)
    if not diff:
        return machine
    _validate(machine)
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
