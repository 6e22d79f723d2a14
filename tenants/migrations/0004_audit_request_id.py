"""Audit events record the X-Request-Id of the request that caused them (SPEC §10).

Adding a column with a default rewrites no row through UPDATE (PostgreSQL stores the default
in the catalogue), so the append-only trigger of 0002 is not fired; existing events keep an
empty request id.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_organization_name_display_safe"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="request_id",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
