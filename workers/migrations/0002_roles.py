from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the roles the view (and, for admins, all) permissions of the workers models."""

    dependencies = [
        ("production", "0002_roles"),
        ("workers", "0001_telemetry_store"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
