"""Reads of the machines app, each scoped to a tenant the caller was given access to
(tenants.access), or to one machine's client: an id from a request never reaches a row of
another tenant, and a foreign id is the same 404 as a missing one."""

from django.db.models import QuerySet
from django.http import Http404

from identity_server.models import ClientSecret, OAuthClient
from machines.models import Machine
from tenants.models import Tenant


def machine_list(*, tenant: Tenant) -> QuerySet[Machine]:
    return Machine.objects.filter(tenant=tenant).select_related("client")


def machine_get(*, tenant: Tenant, machine_id: int) -> Machine:
    machine = machine_list(tenant=tenant).select_related("tenant").filter(pk=machine_id).first()
    if machine is None:
        raise Http404
    return machine


def client_secret_list(*, client: OAuthClient) -> QuerySet[ClientSecret]:
    """The client's secrets, oldest first: their metadata only (plaintexts are never kept)."""
    return ClientSecret.objects.filter(client=client).order_by("created_at", "id")


def client_secret_get(*, client: OAuthClient, secret_id: int) -> ClientSecret:
    secret = client_secret_list(client=client).filter(pk=secret_id).first()
    if secret is None:
        raise Http404
    secret.client = client  # already loaded, with what the audit event needs
    return secret
