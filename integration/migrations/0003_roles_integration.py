from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the integration role the webhook models (it manages its subscriptions by API)."""

    dependencies = [("integration", "0002_roles_sync")]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
