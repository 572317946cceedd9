import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MOVED_MODELS = ['actionpolicy', 'proposedaction']


def content_types_move(apps, schema_editor, *, old: str = "production", new: str = "autonomy"):
    """Move the models' content types (and so their permissions and role grants) to autonomy."""
    content_type = apps.get_model("contenttypes", "ContentType")
    # A content type already made under the new label (none on a migrated database) has no
    # grants yet; the old one, with the roles' permissions on it, takes its place.
    moved = content_type.objects.filter(app_label=old, model__in=MOVED_MODELS)
    content_type.objects.filter(
        app_label=new, model__in=moved.values_list("model", flat=True)
    ).delete()
    moved.update(app_label=new)


def content_types_move_back(apps, schema_editor):
    content_types_move(apps, schema_editor, old="autonomy", new="production")


class Migration(migrations.Migration):
    """Proposed actions and the action policy, moved from production with their tables (state only)."""

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
                    name='ActionPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('reroute', 'Reroute operation'), ('resequence', 'Resequence'), ('maintenance_order', 'Maintenance work order'), ('part_reservation', 'Spare part reservation'), ('procurement_request', 'Procurement request'), ('reprioritise', 'Order re-prioritisation'), ('dispatch_override', 'Dispatch override')], max_length=32, unique=True)),
                        ('risk', models.CharField(choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High')], max_length=8)),
                    ],
                    options={
                        'verbose_name_plural': 'action policies',
                        'db_table': 'production_actionpolicy',
                        'ordering': ['kind'],
                    },
                ),
                migrations.CreateModel(
                    name='ProposedAction',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('reroute', 'Reroute operation'), ('resequence', 'Resequence'), ('maintenance_order', 'Maintenance work order'), ('part_reservation', 'Spare part reservation'), ('procurement_request', 'Procurement request'), ('reprioritise', 'Order re-prioritisation'), ('dispatch_override', 'Dispatch override')], max_length=32)),
                        ('risk', models.CharField(choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High')], max_length=8)),
                        ('status', models.CharField(choices=[('proposed', 'Proposed (autonomy off)'), ('awaiting_approval', 'Awaiting approval'), ('applied', 'Applied'), ('rejected', 'Rejected'), ('reverted', 'Reverted'), ('failed', 'Failed')], max_length=20)),
                        ('target', models.CharField(help_text='What the action changes, for people.', max_length=300)),
                        ('payload', models.JSONField(default=dict)),
                        ('inverse', models.JSONField(default=dict, help_text='How to undo it once applied.')),
                        ('explanation', models.TextField()),
                        ('explanation_data', models.JSONField(blank=True, default=dict)),
                        ('dedupe_key', models.CharField(blank=True, help_text='The same episode proposes nothing twice.', max_length=200, null=True, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('signature_name', models.CharField(blank=True, max_length=200)),
                        ('signature_meaning', models.CharField(blank=True, max_length=200)),
                        ('applied_at', models.DateTimeField(blank=True, null=True)),
                        ('reverted_at', models.DateTimeField(blank=True, null=True)),
                        ('result', models.JSONField(blank=True, default=dict)),
                        ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('reverted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='proposed_actions', to='production.site')),
                    ],
                    options={
                        'db_table': 'production_proposedaction',
                        'ordering': ['-created_at'],
                        'permissions': [('approve_proposedaction', 'Can approve, reject and revert proposed actions'), ('set_autonomy_mode', 'Can change the autonomy mode and use the kill switch')],
                        'indexes': [models.Index(fields=['site', 'status'], name='production__site_id_08005a_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_move_back),
    ]
