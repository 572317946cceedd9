from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("production", "0001_initial"),
        ("quality", "0002_initial"),
        ("maintenance", "0001_initial"),
        ("inventory", "0003_initial"),
        ("traceability", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
