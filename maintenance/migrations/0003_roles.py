from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the role groups the permissions of the health, plan, failure, reservation and
    procurement models (mes_site.roles.ROLE_PERMISSIONS)."""

    dependencies = [
        ("maintenance", "0002_health_plans_failures"),
        ("inventory", "0004_reservations_procurement"),
        ("production", "0002_roles"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
