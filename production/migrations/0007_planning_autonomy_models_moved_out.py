from django.db import migrations


class Migration(migrations.Migration):
    """The scheduling models now belong to planning, the guardrails' to autonomy: state only,
    their tables stay where they are (``db_table``), so no row moves."""

    dependencies = [
        ("production", '0006_roles_sync'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='ActionPolicy',
                ),
                migrations.RemoveField(
                    model_name='customerorderline',
                    name='order',
                ),
                migrations.RemoveField(
                    model_name='customerorderline',
                    name='product',
                ),
                migrations.RemoveField(
                    model_name='dispatchpolicy',
                    name='area',
                ),
                migrations.RemoveField(
                    model_name='linepartparameters',
                    name='line',
                ),
                migrations.RemoveField(
                    model_name='linepartparameters',
                    name='product',
                ),
                migrations.RemoveField(
                    model_name='proposedaction',
                    name='decided_by',
                ),
                migrations.RemoveField(
                    model_name='proposedaction',
                    name='reverted_by',
                ),
                migrations.RemoveField(
                    model_name='proposedaction',
                    name='site',
                ),
                migrations.RemoveField(
                    model_name='scheduledoperation',
                    name='equipment',
                ),
                migrations.RemoveField(
                    model_name='scheduledoperation',
                    name='operation',
                ),
                migrations.RemoveField(
                    model_name='scheduledoperation',
                    name='run',
                ),
                migrations.RemoveField(
                    model_name='schedulerun',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='schedulerun',
                    name='site',
                ),
                migrations.DeleteModel(
                    name='CustomerOrder',
                ),
                migrations.DeleteModel(
                    name='CustomerOrderLine',
                ),
                migrations.DeleteModel(
                    name='DispatchPolicy',
                ),
                migrations.DeleteModel(
                    name='LinePartParameters',
                ),
                migrations.DeleteModel(
                    name='ProposedAction',
                ),
                migrations.DeleteModel(
                    name='ScheduledOperation',
                ),
                migrations.DeleteModel(
                    name='ScheduleRun',
                ),
            ],
            database_operations=[],
        ),
    ]
