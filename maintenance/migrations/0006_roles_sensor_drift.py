from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the role groups the permissions of the redundant pair and sensor suspicion models
    (mes_site.roles.ROLE_PERMISSIONS: maintenance.*, and view_* for the readers)."""

    dependencies = [("maintenance", "0005_sensor_drift_corrective_orders_from_stops")]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
