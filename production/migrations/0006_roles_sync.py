from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Re-sync the role groups after every app's models exist (planners see telemetry)."""

    dependencies = [
        ("production", "0005_schedule_run_job_row_line_order_state"),
        ("maintenance", "0003_roles"),
        ("inventory", "0004_reservations_procurement"),
        ("traceability", "0001_initial"),
        ("quality", "0002_initial"),
        ("workers", "0002_roles"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
