from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the admin role the permissions of the webhook models (subscriptions, deliveries)."""

    dependencies = [
        ("integration", "0001_webhooks_outbox"),
        ("production", "0002_roles"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
