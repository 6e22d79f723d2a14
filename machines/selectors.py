"""Reads of the machines app, each scoped to a tenant the caller was given access to
(tenants.access), or to one machine's client: an id from a request never reaches a row of
another tenant, and a foreign id is the same 404 as a missing one."""

from django.db.models import QuerySet
from django.http import Http404

from machines.models import Machine
from tenants.models import Tenant


def machine_list(*, tenant: Tenant) -> QuerySet[Machine]:
    return Machine.objects.filter(tenant=tenant).select_related("client")


def machine_get(*, tenant: Tenant, machine_id: int) -> Machine:
    machine = machine_list(tenant=tenant).select_related("tenant").filter(pk=machine_id).first()
    if machine is None:
        raise Http404
    return machine
