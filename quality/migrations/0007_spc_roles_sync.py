from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Give the roles the permissions of the SPC models (view for every role, all for quality)."""

    dependencies = [("quality", "0006_spc_control_charts")]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
