from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the admin role the permissions of the connector models (connections, tags)."""

    dependencies = [
        ("connectors", "0001_connections_and_tag_mappings"),
        ("production", "0002_roles"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
