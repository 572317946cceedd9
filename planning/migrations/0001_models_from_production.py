import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MOVED_MODELS = ['customerorder', 'customerorderline', 'dispatchpolicy', 'linepartparameters', 'schedulerun', 'scheduledoperation']


def content_types_move(apps, schema_editor, *, old: str = "production", new: str = "planning"):
    """Move the models' content types (and so their permissions and role grants) to planning."""
    content_type = apps.get_model("contenttypes", "ContentType")
    # A content type already made under the new label (none on a migrated database) has no
    # grants yet; the old one, with the roles' permissions on it, takes its place.
    moved = content_type.objects.filter(app_label=old, model__in=MOVED_MODELS)
    content_type.objects.filter(
        app_label=new, model__in=moved.values_list("model", flat=True)
    ).delete()
    moved.update(app_label=new)


def content_types_move_back(apps, schema_editor):
    content_types_move(apps, schema_editor, old="planning", new="production")


class Migration(migrations.Migration):
    """Schedule runs, customer orders and dispatch settings, moved from production with their
    tables (state only)."""

    initial = True

    dependencies = [
        ("production", '0007_planning_autonomy_models_moved_out'),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CustomerOrder',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.CharField(max_length=64, unique=True)),
                        ('state', models.CharField(choices=[('pending', 'Pending dispatch'), ('backlog', 'Backlog (no capacity)'), ('dispatched', 'Dispatched to a line'), ('in_progress', 'In progress'), ('completed', 'Completed'), ('cancelled', 'Cancelled')], default='pending', max_length=16)),
                        ('line_step', models.CharField(blank=True, choices=[('order_start', 'Order start'), ('warehouse_locate', 'Warehouse locates parts'), ('classification', 'Parts classification'), ('distribute_pallet', 'Distribute pallet'), ('machining', 'Machining'), ('quality_control', 'Quality control'), ('storage', 'Storage'), ('update_stock', 'Update stock'), ('complete', 'Complete')], max_length=32)),
                        ('priority', models.PositiveSmallIntegerField(default=5)),
                        ('received_at', models.DateTimeField(auto_now_add=True)),
                        ('dispatched_at', models.DateTimeField(blank=True, null=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('dispatch_explanation', models.JSONField(blank=True, default=dict)),
                        ('rework_count', models.PositiveIntegerField(default=0)),
                        ('line_stage', models.CharField(blank=True, choices=[('new', 'New'), ('locating_parts', 'Locating parts'), ('classifying_parts', 'Classifying parts'), ('distributing_pallet', 'Distributing pallet'), ('machining', 'Machining'), ('quality_control', 'Quality control'), ('storage', 'Storage'), ('updating_stock', 'Updating stock'), ('complete', 'Complete'), ('cancelled', 'Cancelled')], max_length=24)),
                        ('line_updated_at', models.DateTimeField(blank=True, null=True)),
                        ('line_last_event', models.CharField(blank=True, help_text='station[:result] of the last event applied.', max_length=64)),
                        ('area', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='customer_orders', to='production.area')),
                        ('line', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='customer_orders', to='production.line')),
                        ('site', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='customer_orders', to='production.site')),
                    ],
                    options={
                        'db_table': 'production_customerorder',
                        'ordering': ['received_at'],
                        'permissions': [('dispatch_customerorder', 'Can dispatch customer orders')],
                    },
                ),
                migrations.CreateModel(
                    name='CustomerOrderLine',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('quantity', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                        ('order', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='planning.customerorder')),
                        ('product', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='production.product')),
                    ],
                    options={
                        'db_table': 'production_customerorderline',
                    },
                ),
                migrations.CreateModel(
                    name='DispatchPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('time_weight', models.FloatField(default=1.0, help_text='α', validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('energy_weight', models.FloatField(default=1.0, help_text='β', validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('imbalance_threshold', models.FloatField(default=1.3, help_text='h: above this max/min cost ratio the cheapest line wins; else the least loaded.', validators=[django.core.validators.MinValueValidator(1.0)])),
                        ('energy_price_per_kwh', models.FloatField(default=0.25, validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('area', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='dispatch_policy', to='production.area')),
                    ],
                    options={
                        'verbose_name_plural': 'dispatch policies',
                        'db_table': 'production_dispatchpolicy',
                    },
                ),
                migrations.CreateModel(
                    name='LinePartParameters',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('time_per_part_s', models.FloatField(validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('power_w', models.FloatField(validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('line', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='part_parameters', to='production.line')),
                        ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='production.product')),
                    ],
                    options={
                        'verbose_name_plural': 'line part parameters',
                        'db_table': 'production_linepartparameters',
                        'ordering': ['line', 'product'],
                    },
                ),
                migrations.CreateModel(
                    name='ScheduleRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trigger', models.CharField(choices=[('on_demand', 'On demand'), ('health_change', 'Machine health changed'), ('work_order_change', 'Work order new or changed'), ('equipment_state', 'Machine went down or came back'), ('periodic', 'Periodic')], max_length=32)),
                        ('trigger_detail', models.CharField(blank=True, max_length=300)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='queued', max_length=16)),
                        ('progress_percent', models.PositiveSmallIntegerField(default=0)),
                        ('requested_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_ms', models.FloatField(blank=True, null=True)),
                        ('operation_count', models.PositiveIntegerField(default=0)),
                        ('makespan_s', models.FloatField(blank=True, null=True)),
                        ('changes', models.JSONField(blank=True, default=list)),
                        ('unschedulable', models.JSONField(blank=True, default=list)),
                        ('error', models.TextField(blank=True)),
                        ('is_current', models.BooleanField(default=False)),
                        ('triggers', models.JSONField(blank=True, default=list)),
                        ('timings', models.JSONField(blank=True, default=dict)),
                        ('warnings', models.JSONField(blank=True, default=list)),
                        ('inputs', models.JSONField(blank=True, default=dict)),
                        ('input_fingerprints', models.JSONField(blank=True, default=dict)),
                        ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='schedule_runs', to='production.site')),
                    ],
                    options={
                        'db_table': 'production_schedulerun',
                        'ordering': ['-requested_at'],
                        'permissions': [('run_schedule', 'Can start schedule runs')],
                    },
                ),
                migrations.CreateModel(
                    name='ScheduledOperation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveIntegerField(help_text='Order on the machine, from 0.')),
                        ('planned_start_at', models.DateTimeField()),
                        ('planned_end_at', models.DateTimeField()),
                        ('priority', models.FloatField(blank=True, null=True)),
                        ('explanation', models.JSONField(blank=True, default=dict)),
                        ('equipment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='production.equipment')),
                        ('operation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='production.operation')),
                        ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='planning.schedulerun')),
                    ],
                    options={
                        'db_table': 'production_scheduledoperation',
                        'ordering': ['run', 'equipment', 'position'],
                    },
                ),
                migrations.AddIndex(
                    model_name='customerorder',
                    index=models.Index(fields=['state', 'received_at'], name='production__state_ccd056_idx'),
                ),
                migrations.AddConstraint(
                    model_name='customerorderline',
                    constraint=models.UniqueConstraint(fields=('order', 'product'), name='order_line_unique'),
                ),
                migrations.AddConstraint(
                    model_name='linepartparameters',
                    constraint=models.UniqueConstraint(fields=('line', 'product'), name='line_part_unique'),
                ),
                migrations.AddIndex(
                    model_name='schedulerun',
                    index=models.Index(fields=['site', 'status'], name='production__site_id_83b241_idx'),
                ),
                migrations.AddConstraint(
                    model_name='schedulerun',
                    constraint=models.UniqueConstraint(condition=models.Q(('is_current', True)), fields=('site',), name='one_current_plan'),
                ),
                migrations.AddConstraint(
                    model_name='schedulerun',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'queued')), fields=('site',), name='one_queued_run'),
                ),
                migrations.AddConstraint(
                    model_name='scheduledoperation',
                    constraint=models.UniqueConstraint(fields=('run', 'operation'), name='scheduled_operation_unique'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_move_back),
    ]
