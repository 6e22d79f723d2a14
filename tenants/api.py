"""REST endpoints of the tenants app (thin: resolve through tenants.access, render)."""

from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.access import access_organization
from tenants.selectors import tenant_list


class TenantsAndOrganizationInfo(APIView):
    """GET /{partitionGlobalId}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo

    For the admin site's signed-in members, and for a bearer token of that organization
    (SPEC §2): the official `uipath auth` calls it with the token it has just got, whatever
    its scopes, to learn its tenant's id. A token of another organization gets the same 404
    as an organization that does not exist (tenants.access); a revoked or expired one a 401.
    A machine's token is bound to its tenant, so it is shown only that one.

    tenants sits below identity_server, so the routes (identity_server/urls.py) hand this
    view its authentication classes: the bearer token's first, then the session's.
    """

    def get(self, request, partition_global_id):
        organization = access_organization(user=request.user, global_id=partition_global_id)
        tenants = tenant_list(organization=organization)
        token_tenant = getattr(request.user, "tenant_global_id", None)
        if token_tenant is not None:
            tenants = tenants.filter(global_id=token_tenant)
        return Response(
            {
                # UiPath's `name` is the URL segment (the `uipath` CLI builds
                # `{server}/{name}/{tenant}` from it); `displayName` is what people read.
                "organization": {
                    "id": str(organization.global_id),
                    "name": organization.slug,
                    "displayName": organization.name,
                },
                "tenants": [{"id": str(t.global_id), "name": t.name} for t in tenants],
            }
        )
