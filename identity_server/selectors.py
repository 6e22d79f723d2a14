"""Reads of the identity core, each scoped to one client: a secret id from a request never
reaches another client's secret, and a foreign id is the same 404 as a missing one."""

from django.db.models import QuerySet
from django.http import Http404

from identity_server.models import ClientSecret, OAuthClient


def client_secret_list(*, client: OAuthClient) -> QuerySet[ClientSecret]:
    """The client's secrets, oldest first: their metadata only (plaintexts are never kept)."""
    return ClientSecret.objects.filter(client=client).order_by("created_at", "id")


def client_secret_get(*, client: OAuthClient, secret_id: int) -> ClientSecret:
    secret = client_secret_list(client=client).filter(pk=secret_id).first()
    if secret is None:
        raise Http404
    secret.client = client  # already loaded, with what the audit event needs
    return secret
