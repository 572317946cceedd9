from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        # It also depended on DRF's authtoken app, gone since tokens are hashed
        # (traceability 0004 converts and drops its table).
        ("production", "0001_initial"),
        ("quality", "0002_initial"),
        ("maintenance", "0001_initial"),
        ("inventory", "0003_initial"),
        ("traceability", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
