"""Deletes the inactive unattended sessions (SPEC §6) last heard of more than N days ago,
in every tenant: those disconnected or unresponsive by their tenant's heartbeat settings,
as machines.services.session_delete_inactive decides for the API. Each is printed, and
audited as deleted by the system actor `delete_inactive_sessions`.

A session that reconnects while the command runs is left alone: its tenant's batch is
refused whole, reported, and the command goes on with the other tenants.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from machines import selectors, services
from machines.models import Session
from tenants.models import Tenant
from tenants.services import Actor


class Command(BaseCommand):
    help = "Deletes disconnected and unresponsive unattended sessions older than N days."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days",
            type=int,
            required=True,
            help="Only sessions whose last report is older than this many days (0: all).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be deleted; delete nothing."
        )

    def handle(self, *args, older_than_days: int, dry_run: bool = False, **options):
        if older_than_days < 0:
            raise CommandError("--older-than-days must be 0 or more.")
        now = timezone.now()
        older_than = now - timedelta(days=older_than_days)
        verb = "Would delete" if dry_run else "Deleted"
        total = 0
        tenants = Tenant.objects.filter(
            pk__in=Session.objects.values("tenant").distinct()
        ).select_related("organization")
        for tenant in tenants:
            sessions = list(
                selectors.session_list_inactive(tenant=tenant, older_than=older_than, now=now)
            )
            if not sessions:
                continue
            if not dry_run:
                try:
                    services.session_delete_inactive(
                        tenant=tenant,
                        session_ids=[s.pk for s in sessions],
                        actor=Actor.system("delete_inactive_sessions"),
                        now=now,
                    )
                except ValidationError as error:
                    self.stderr.write(
                        f"{tenant.organization.slug}/{tenant.name}: {error.messages[0]}"
                    )
                    continue
            for session in sessions:
                self.stdout.write(
                    f"{verb} session {session.pk} of {tenant.organization.slug}/{tenant.name}: "
                    f"{session.machine.name} on {session.host_name} "
                    f"({selectors.session_state(session)}, last report "
                    f"{session.reporting_time:%Y-%m-%d %H:%M:%S}Z)"
                )
            total += len(sessions)
        self.stdout.write(f"{verb} {total} inactive session{'s' * (total != 1)}.")
