"""REST endpoints of the tenants app (thin: resolve through tenants.access, render)."""

from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.access import access_organization
from tenants.selectors import tenant_list


class TenantsAndOrganizationInfo(APIView):
    """GET /{partitionGlobalId}/portal_/api/filtering/leftnav/tenantsAndOrganizationInfo"""

    def get(self, request, partition_global_id):
        organization = access_organization(user=request.user, global_id=partition_global_id)
        return Response(
            {
                "organization": {"id": str(organization.global_id), "name": organization.name},
                "tenants": [
                    {"id": str(t.global_id), "name": t.name}
                    for t in tenant_list(organization=organization)
                ],
            }
        )
