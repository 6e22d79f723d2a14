"""Platform operators' view of the tenants app in Django's admin (superusers only)."""

from django.contrib import admin

from tenants.models import AuditEvent, Membership, Organization, Setting, Tenant


class TenantInline(admin.TabularInline):
    model = Tenant
    extra = 0
    fields = ["name", "global_id"]
    readonly_fields = ["global_id"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "global_id", "created_at"]
    search_fields = ["name", "slug", "global_id"]
    readonly_fields = ["global_id", "created_at"]
    inlines = [TenantInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role"]
    raw_id_fields = ["user"]


@admin.register(Setting)
class SettingAdmin(admin.ModelAdmin):
    list_display = ["tenant", "key", "value", "updated_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["occurred_at", "organization", "actor_name", "action", "target_name", "outcome"]
    list_filter = ["outcome", "actor_kind", "action"]
    search_fields = ["actor_name", "target_name", "action", "reason_code"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
