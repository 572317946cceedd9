from django.db import migrations

from mes_site.roles import roles_sync_migration


class Migration(migrations.Migration):
    """Re-sync the role groups once the planning and autonomy models carry their new labels.

    The roles name their permissions by app label (``autonomy.approve_proposedaction``,
    ``planning.run_schedule``); those labels exist only after the models moved.
    """

    dependencies = [
        ("planning", "0001_models_from_production"),
        ("autonomy", "0001_models_from_production"),
        ("production", "0007_planning_autonomy_models_moved_out"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
